//! `triad data generate`: a train and a test split (and canaries) written to a folder.

use super::audit::{self, AuditCanary, Design};
use super::canary::Canary;
use super::record::Record;
use super::rng::Rng;
use super::values::Secrets;
use super::{bio, support};
use crate::error::Result;
use crate::fsutil::write_atomic;
use crate::tokenizer::Tokenizer;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    CustomerSupport,
    Biographies,
}

impl Domain {
    pub fn name(self) -> &'static str {
        match self {
            Domain::CustomerSupport => "customer-support",
            Domain::Biographies => "biographies",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Spec {
    pub domain: Domain,
    pub train: usize,
    pub test: usize,
    pub canaries: usize,
    pub canary_repeats: usize,
    pub seed: u64,
}

impl Spec {
    /// Whether the generator can make this many distinct people (train, test and canary
    /// records each have their own): a message naming the limit if not.
    pub fn check(&self) -> Result<(), String> {
        let people = self.train + self.test + self.canaries;
        if people > super::values::Person::MAX {
            return Err(format!(
                "{people} records asked for; the generator makes at most {} distinct people per \
                 dataset (train + test + canaries; {} first × {} last names, with middle initials)",
                super::values::Person::MAX,
                super::values::FIRST_NAMES.len(),
                super::values::LAST_NAMES.len()
            ));
        }
        Ok(())
    }
}

pub struct Dataset {
    pub train: Vec<Record>,
    pub test: Vec<Record>,
    pub canaries: Vec<Canary>,
    /// Audit canaries (see [`Dataset::add_audit`]); the included ones are in `train`.
    pub audit: Vec<AuditCanary>,
}

impl Dataset {
    /// Draw `m` audit canaries and plant the included ones (once each) into `train`.
    pub fn add_audit(
        &mut self,
        m: usize,
        design: Design,
        seed: u64,
        tok: Option<&Tokenizer>,
    ) -> Result<()> {
        self.audit = audit::draw(m, design, seed, tok)?;
        audit::plant(&mut self.train, &self.audit, seed);
        Ok(())
    }
}

/// Generate a dataset. One [`Secrets`] registry spans both splits and the canaries, so no
/// secret value appears in more than one record (canary repeats aside).
pub fn generate(spec: &Spec) -> Dataset {
    let root = Rng::new(spec.seed);
    let mut secrets = Secrets::default();
    let make = |split: &str, n: usize, secrets: &mut Secrets| -> Vec<Record> {
        let mut rng = root.fork(split);
        (0..n)
            .map(|i| {
                let id = format!("{}-{split}-{i:06}", spec.domain.name());
                match spec.domain {
                    Domain::CustomerSupport => support::dialogue(id, &mut rng, secrets),
                    Domain::Biographies => bio::biography(id, &mut rng, secrets),
                }
            })
            .collect()
    };
    let mut train = make("train", spec.train, &mut secrets);
    let test = make("test", spec.test, &mut secrets);
    let mut rng = root.fork("canaries");
    let canaries: Vec<Canary> = (0..spec.canaries)
        .map(|i| {
            Canary::draw(
                format!("canary-{i:03}"),
                spec.canary_repeats,
                &mut rng,
                &mut secrets,
            )
        })
        .collect();
    // Insert every repeat at a random position of the training split.
    for c in &canaries {
        for k in 0..spec.canary_repeats {
            let at = rng.below(train.len() + 1);
            train.insert(at, c.record(k));
        }
    }
    Dataset {
        train,
        test,
        canaries,
        audit: vec![],
    }
}

fn jsonl<T>(items: &[T], line: impl Fn(&T) -> String) -> Vec<u8> {
    let mut out = Vec::new();
    for it in items {
        out.extend_from_slice(line(it).as_bytes());
        out.push(b'\n');
    }
    out
}

/// Write `train.jsonl`, `test.jsonl`, `canaries.jsonl`, `audit.jsonl` (when the dataset has
/// audit canaries) and `dataset.json` (the spec) to `dir`.
pub fn write(dir: &Path, spec: &Spec, d: &Dataset) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| crate::DataError::io(dir, e))?;
    write_atomic(
        dir.join("train.jsonl"),
        &jsonl(&d.train, Record::to_json_line),
    )?;
    write_atomic(
        dir.join("test.jsonl"),
        &jsonl(&d.test, Record::to_json_line),
    )?;
    write_atomic(
        dir.join("canaries.jsonl"),
        &jsonl(&d.canaries, |c| {
            serde_json::to_string(c).expect("serialisable")
        }),
    )?;
    if !d.audit.is_empty() {
        write_atomic(dir.join("audit.jsonl"), &audit::to_jsonl(&d.audit))?;
    }
    let manifest = serde_json::json!({
        "audit_canaries": d.audit.len(),
        "audit_design": d.audit.first().map(|c| c.design.name()),
        "generator": spec.domain.name(),
        "seed": spec.seed,
        "train_records": d.train.len(),
        "test_records": d.test.len(),
        "canaries": spec.canaries,
        "canary_repeats": spec.canary_repeats,
        "triad_version": env!("CARGO_PKG_VERSION"),
    });
    write_atomic(
        dir.join("dataset.json"),
        serde_json::to_string_pretty(&manifest)
            .expect("json")
            .as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::super::check::{check_bytes, span_problems};
    use super::*;
    use std::collections::HashMap;

    fn spec(domain: Domain, seed: u64) -> Spec {
        Spec {
            domain,
            train: 300,
            test: 100,
            canaries: 5,
            canary_repeats: 3,
            seed,
        }
    }

    #[test]
    fn valid_deterministic_and_disjoint() {
        for domain in [Domain::CustomerSupport, Domain::Biographies] {
            let s = spec(domain, 42);
            let a = generate(&s);
            let b = generate(&s);
            let bytes = |d: &Dataset| jsonl(&d.train, Record::to_json_line);
            assert_eq!(bytes(&a), bytes(&b), "same seed, same bytes");
            assert_ne!(
                bytes(&a),
                bytes(&generate(&spec(domain, 43))),
                "other seed, other data"
            );
            assert_eq!(a.train.len(), 300 + 15);
            let checked = check_bytes(&bytes(&a));
            assert!(
                checked.problems.is_empty(),
                "{:?}",
                &checked.problems[..3.min(checked.problems.len())]
            );
            for r in a.train.iter().chain(&a.test) {
                assert!(span_problems(r).is_empty());
                assert!(!r.spans.is_empty(), "{} has no spans", r.id);
            }
            // Secrets (values of identifying labels) never cross splits.
            let shared_ok = ["CITY", "EMPLOYER", "UNIVERSITY"];
            let mut owner: HashMap<String, &str> = HashMap::new();
            for (split, recs) in [("train", &a.train), ("test", &a.test)] {
                for r in recs.iter() {
                    for s in &r.spans {
                        if shared_ok.contains(&s.label.as_str()) {
                            continue;
                        }
                        let v = r.span_text(s);
                        if s.label == "NAME" && !v.contains(' ') {
                            continue; // first names alone repeat; full names do not
                        }
                        if let Some(prev) = owner.insert(v.clone(), split) {
                            assert_eq!(prev, split, "{v:?} ({}) in both splits", s.label);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn span_text_is_the_inserted_value_and_canaries_repeat() {
        let d = generate(&spec(Domain::CustomerSupport, 7));
        for c in &d.canaries {
            let copies: Vec<&Record> = d.train.iter().filter(|r| r.text == c.text).collect();
            assert_eq!(copies.len(), 3);
            assert_eq!(copies[0].span_text(&copies[0].spans[0]), c.secret);
            assert!(!d.test.iter().any(|r| r.text.contains(&c.secret)));
        }
        let labels: std::collections::BTreeSet<&str> = d
            .train
            .iter()
            .flat_map(|r| r.spans.iter().map(|s| s.label.as_str()))
            .collect();
        for l in [
            "NAME",
            "EMAIL",
            "PHONE",
            "ADDRESS",
            "ORDER_ID",
            "TRACKING_ID",
            "CARD_NUMBER",
            "DATE_OF_BIRTH",
            "IBAN",
            "PIN",
        ] {
            assert!(labels.contains(l), "no {l} span generated");
        }
        // Phrasing variety: many distinct first customer turns.
        let openers: std::collections::HashSet<String> = d
            .train
            .iter()
            .filter_map(|r| r.text.lines().next())
            .map(|l| l.chars().filter(|c| !c.is_ascii_digit()).collect())
            .collect();
        assert!(
            openers.len() > 80,
            "only {} distinct openers",
            openers.len()
        );
    }
}

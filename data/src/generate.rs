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
    /// Repeat customers: each user has this many records (the last user of a split may have
    /// fewer), sharing their person-level secrets. `None`: every record is its own person and
    /// carries no `user` field.
    pub records_per_user: Option<PerUser>,
}

/// Records per user: a fixed count, or geometric on {1, 2, …} with the given mean (a few
/// people write often, most once or twice).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PerUser {
    Fixed(usize),
    Geometric(f64),
}

impl PerUser {
    /// `K` or `geometric:MEAN`.
    pub fn parse(s: &str) -> Result<PerUser, String> {
        let bad = || {
            format!(
                "records per user {:?}: expected a count (e.g. 5) or geometric:MEAN (e.g. geometric:3, MEAN ≥ 1)",
                crate::users::capped(s)
            )
        };
        if let Some(m) = s.strip_prefix("geometric:") {
            let m: f64 = m.trim().parse().map_err(|_| bad())?;
            return if m.is_finite() && (1.0..=1e6).contains(&m) {
                Ok(PerUser::Geometric(m))
            } else {
                Err(bad())
            };
        }
        match s.trim().parse::<usize>() {
            Ok(k) if (1..=1_000_000).contains(&k) => Ok(PerUser::Fixed(k)),
            _ => Err(bad()),
        }
    }

    pub fn name(&self) -> String {
        match self {
            PerUser::Fixed(k) => k.to_string(),
            PerUser::Geometric(m) => format!("geometric:{m}"),
        }
    }

    fn draw(&self, rng: &mut Rng) -> usize {
        match *self {
            PerUser::Fixed(k) => k,
            PerUser::Geometric(mean) => {
                let p = 1.0 / mean;
                let mut k = 1;
                // Capped so one draw cannot stall generation.
                while k < 10_000 && !rng.chance(p) {
                    k += 1;
                }
                k
            }
        }
    }
}

impl Spec {
    /// Whether the generator can make this many distinct people (train, test and canary
    /// records each have their own): a message naming the limit if not.
    pub fn check(&self) -> Result<(), String> {
        if self.records_per_user.is_some() && self.domain != Domain::CustomerSupport {
            return Err(format!(
                "--records-per-user: repeat customers are generated for customer-support only, not {}",
                self.domain.name()
            ));
        }
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
    /// Draw `m` audit canaries and plant the included ones (`copies` records each, one user
    /// per canary when there are several) into `train`.
    pub fn add_audit(
        &mut self,
        m: usize,
        design: Design,
        seed: u64,
        tok: Option<&Tokenizer>,
        copies: usize,
    ) -> Result<()> {
        self.audit = audit::draw(m, design, seed, tok)?;
        for c in &mut self.audit {
            c.copies = copies;
        }
        audit::plant(&mut self.train, &self.audit, seed);
        Ok(())
    }
}

/// `n` support dialogues from repeat customers: users drawn one after another, each with a
/// count of dialogues from `per`, until the split has `n`; user ids are `<domain>-<split>-u…`,
/// so the splits never share a user.
fn repeat_customers(
    domain: &str,
    split: &str,
    n: usize,
    per: PerUser,
    rng: &mut Rng,
    secrets: &mut Secrets,
) -> Vec<Record> {
    let mut out = Vec::with_capacity(n);
    let mut u = 0;
    while out.len() < n {
        let person = super::values::Person::draw(rng, secrets);
        let k = per.draw(rng).min(n - out.len());
        let user = format!("{domain}-{split}-u{u:06}");
        for _ in 0..k {
            let id = format!("{domain}-{split}-{:06}", out.len());
            let mut r = support::dialogue_of(id, &person, rng, secrets);
            r.user = Some(user.clone());
            out.push(r);
        }
        u += 1;
    }
    out
}

/// Generate a dataset. One [`Secrets`] registry spans both splits and the canaries, so no
/// secret value appears in more than one record (canary repeats aside).
pub fn generate(spec: &Spec) -> Dataset {
    let root = Rng::new(spec.seed);
    let mut secrets = Secrets::default();
    let make = |split: &str, n: usize, secrets: &mut Secrets| -> Vec<Record> {
        let mut rng = root.fork(split);
        if let Some(per) = spec.records_per_user {
            return repeat_customers(spec.domain.name(), split, n, per, &mut rng, secrets);
        }
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
    // With users, a canary's repeats are one person's records.
    let users = spec.records_per_user.is_some();
    for c in &canaries {
        for k in 0..spec.canary_repeats {
            let at = rng.below(train.len() + 1);
            let mut r = c.record(k);
            r.user = users.then(|| c.id.clone());
            train.insert(at, r);
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
    let mut manifest = manifest;
    if let Some(per) = spec.records_per_user {
        let users = crate::users::Users::of_records(&d.train);
        manifest["records_per_user"] = per.name().into();
        manifest["train_users"] = users.count().into();
        manifest["test_users"] = crate::users::Users::of_records(&d.test).count().into();
    }
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
            records_per_user: None,
        }
    }

    #[test]
    fn repeat_customers_share_person_secrets_and_never_cross_splits() {
        let mut s = spec(Domain::CustomerSupport, 3);
        s.records_per_user = Some(PerUser::Fixed(4));
        let d = generate(&s);
        let users = crate::users::Users::of_records(&d.train);
        // 300 dialogues of 75 users of 4, plus 5 canaries of 3 repeats each as their own users.
        assert_eq!(users.count(), 75 + 5);
        assert_eq!(users.spread(), (3, 4, 4));
        let shared = crate::users::shared_secrets(&d.train, &users);
        assert!(shared.users >= 70, "{shared:?}");
        let test_users: std::collections::HashSet<_> =
            d.test.iter().map(|r| r.user.clone().unwrap()).collect();
        assert!(d
            .train
            .iter()
            .all(|r| !test_users.contains(r.user.as_ref().unwrap())));
        let numbered = |rs: &[Record]| rs.iter().cloned().enumerate().collect::<Vec<_>>();
        crate::users::check_split(
            (Path::new("train"), &numbered(&d.train)),
            (Path::new("test"), &numbered(&d.test)),
        )
        .unwrap();
        // Geometric: mean near 3, a spread of sizes; without the option no `user` field.
        s.records_per_user = Some(PerUser::Geometric(3.0));
        s.train = 3000;
        let g = generate(&s);
        let gu = crate::users::Users::of_records(&g.train[..]);
        let mean = 3000.0 / (gu.count() - 5) as f64;
        assert!((2.6..3.4).contains(&mean), "mean {mean}");
        assert!(gu.largest() >= 10);
        assert!(generate(&spec(Domain::CustomerSupport, 3))
            .train
            .iter()
            .all(|r| r.user.is_none()));
        assert!(PerUser::parse("geometric:0.5").is_err() && PerUser::parse("0").is_err());
        assert_eq!(PerUser::parse("geometric:3"), Ok(PerUser::Geometric(3.0)));
        s.domain = Domain::Biographies;
        assert!(s.check().unwrap_err().contains("customer-support"));
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

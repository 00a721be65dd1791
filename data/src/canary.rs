//! Canaries (Carlini et al. 2019): records of a fixed pattern with a random secret from a known
//! candidate space, inserted R times into the training split, so exposure can be measured.

use super::record::{Record, Span};
use super::rng::Rng;
use super::values::Secrets;
use serde::{Deserialize, Serialize};

pub const PREFIX: &str = "Customer: For verification, my account PIN is ";
pub const SUFFIX: &str = ".";
pub const LABEL: &str = "PIN";
pub const LENGTH: usize = 6;

/// One canary and its candidate space: every `prefix + s + suffix` with `s` a string of
/// `length` characters from `alphabet` is a candidate; `space_size` = |alphabet|^length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Canary {
    pub id: String,
    pub text: String,
    pub prefix: String,
    pub secret: String,
    pub suffix: String,
    pub label: String,
    pub alphabet: String,
    pub length: usize,
    pub space_size: u64,
    pub repeats: usize,
}

impl Canary {
    pub fn draw(id: String, repeats: usize, rng: &mut Rng, secrets: &mut Secrets) -> Canary {
        let secret = secrets.unique(rng, |r| r.digits(LENGTH));
        Canary {
            text: format!("{PREFIX}{secret}{SUFFIX}"),
            id,
            prefix: PREFIX.into(),
            secret,
            suffix: SUFFIX.into(),
            label: LABEL.into(),
            alphabet: "0123456789".into(),
            length: LENGTH,
            space_size: 10u64.pow(LENGTH as u32),
            repeats,
        }
    }

    /// The training record for the `k`-th insertion.
    pub fn record(&self, k: usize) -> Record {
        let start = self.prefix.chars().count();
        Record {
            id: format!("{}-r{k}", self.id),
            text: self.text.clone(),
            spans: vec![Span {
                start,
                end: start + self.secret.chars().count(),
                label: self.label.clone(),
            }],
            user: None,
        }
    }
}

/// Read a canaries file (`triad data generate --canaries`, or written by hand), checking each
/// description is one the exposure measure can rank: the text is prefix + secret + suffix, the
/// secret is `length` characters of a non-empty alphabet without repeats, and `space_size` is
/// `|alphabet|^length`. Errors name the file and line.
pub fn read(path: &std::path::Path) -> crate::Result<Vec<Canary>> {
    let mut out: Vec<Canary> = vec![];
    for line in crate::jsonl::read_objects(path)? {
        let bad = |message: String| crate::DataError::BadLine {
            path: path.to_path_buf(),
            line: line.number,
            message,
        };
        let c: Canary = serde_json::from_value(line.value.clone())
            .map_err(|e| bad(format!("not a canary description: {e}")))?;
        check(&c).map_err(bad)?;
        if out.iter().any(|o| o.id == c.id) {
            return Err(bad(format!("canary id `{}` appears twice", c.id)));
        }
        out.push(c);
    }
    Ok(out)
}

fn check(c: &Canary) -> Result<(), String> {
    let alphabet: Vec<char> = c.alphabet.chars().collect();
    let mut sorted = alphabet.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if alphabet.is_empty() || sorted.len() != alphabet.len() {
        return Err(format!(
            "`alphabet` must be non-empty without repeated characters, got {:?}",
            c.alphabet
        ));
    }
    let chars = c.secret.chars().count();
    if c.length == 0 || chars != c.length || !c.secret.chars().all(|ch| alphabet.contains(&ch)) {
        return Err(format!(
            "`secret` {:?} must be `length` = {} characters of the alphabet",
            c.secret, c.length
        ));
    }
    let space = u32::try_from(c.length)
        .ok()
        .and_then(|l| (alphabet.len() as u64).checked_pow(l));
    if space != Some(c.space_size) {
        return Err(format!(
            "`space_size` {} is not |alphabet|^length = {}",
            c.space_size,
            space.map_or("more than 2^64".into(), |s| s.to_string())
        ));
    }
    if c.text != format!("{}{}{}", c.prefix, c.secret, c.suffix) {
        return Err("`text` must be `prefix` + `secret` + `suffix`".into());
    }
    Ok(())
}

#[cfg(test)]
mod read_tests {
    use super::*;

    fn line(f: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut v = serde_json::json!({"id": "c0", "text": "PIN 0123.", "prefix": "PIN ",
            "secret": "0123", "suffix": ".", "label": "PIN", "alphabet": "0123456789",
            "length": 4, "space_size": 10000, "repeats": 2});
        f(&mut v);
        v.to_string()
    }

    #[test]
    fn good_canaries_read_and_bad_ones_name_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("canaries.jsonl");
        std::fs::write(&p, format!("{}\n", line(|_| {}))).unwrap();
        assert_eq!(read(&p).unwrap()[0].space_size, 10_000);
        type Edit = Box<dyn Fn(&mut serde_json::Value)>;
        let cases: Vec<(Edit, &str)> = vec![
            (
                Box::new(|v| v["space_size"] = 1_000_000.into()),
                "space_size",
            ),
            (Box::new(|v| v["secret"] = "01a3".into()), "secret"),
            (Box::new(|v| v["length"] = 5.into()), "secret"),
            (Box::new(|v| v["alphabet"] = "0012".into()), "alphabet"),
            (Box::new(|v| v["alphabet"] = "".into()), "alphabet"),
            (Box::new(|v| v["text"] = "PIN 9999.".into()), "text"),
            (Box::new(|v| v["length"] = 40.into()), "secret"),
            (
                Box::new(|v| drop(v.as_object_mut().unwrap().remove("prefix"))),
                "prefix",
            ),
        ];
        for (edit, what) in cases {
            std::fs::write(
                &p,
                format!("{}\n{}\n", line(|_| {}).replace("c0", "c9"), line(edit)),
            )
            .unwrap();
            let e = read(&p).unwrap_err().to_string();
            assert!(
                e.contains("canaries.jsonl:2:") && e.contains(what),
                "{what}: {e}"
            );
        }
        std::fs::write(&p, format!("{}\n{}\n", line(|_| {}), line(|_| {}))).unwrap();
        assert!(read(&p).unwrap_err().to_string().contains("twice"));
    }
}

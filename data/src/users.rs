//! Users in a dataset: which records belong to the same person (the optional `user` field; a
//! record without one is its own user), how many records each has, which secrets a user's
//! records repeat, and the check that no user sits on both sides of a split.

use crate::error::{DataError, Result};
use crate::record::Record;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// At most this many characters of a user's value are quoted in a message.
const QUOTE: usize = 60;

/// `s` cut to a length a message can quote.
pub fn capped(s: &str) -> String {
    match s.char_indices().nth(QUOTE) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// The records grouped by user: `of[i]` is record `i`'s user, numbered from 0 in order of
/// first appearance; `sizes[u]` how many records user `u` has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Users {
    pub of: Vec<usize>,
    pub sizes: Vec<usize>,
    /// Whether any record named a user (otherwise every record is its own).
    pub named: bool,
}

impl Users {
    pub fn group<'a>(users: impl IntoIterator<Item = Option<&'a str>>) -> Users {
        let mut index: HashMap<&str, usize> = HashMap::new();
        let (mut of, mut sizes, mut named) = (vec![], vec![], false);
        for u in users {
            let k = match u {
                Some(name) => {
                    named = true;
                    *index.entry(name).or_insert_with(|| {
                        sizes.push(0);
                        sizes.len() - 1
                    })
                }
                None => {
                    sizes.push(0);
                    sizes.len() - 1
                }
            };
            sizes[k] += 1;
            of.push(k);
        }
        Users { of, sizes, named }
    }

    pub fn of_records(records: &[Record]) -> Users {
        Users::group(records.iter().map(|r| r.user.as_deref()))
    }

    pub fn count(&self) -> usize {
        self.sizes.len()
    }

    /// The most records any user has (0 for no records).
    pub fn largest(&self) -> usize {
        self.sizes.iter().copied().max().unwrap_or(0)
    }

    /// (min, median, max) records per user.
    pub fn spread(&self) -> (usize, usize, usize) {
        let mut s = self.sizes.clone();
        s.sort_unstable();
        match s.len() {
            0 => (0, 0, 0),
            n => (s[0], s[n / 2], s[n - 1]),
        }
    }

    /// The record indices of each user, in record order.
    pub fn members(&self) -> Vec<Vec<usize>> {
        let mut out: Vec<Vec<usize>> = self.sizes.iter().map(|&n| Vec::with_capacity(n)).collect();
        for (i, &u) in self.of.iter().enumerate() {
            out[u].push(i);
        }
        out
    }
}

/// Secrets a user's records repeat: how many (user, labelled value) pairs occur in two or more
/// of that user's records, and in how many users.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shared {
    pub values: usize,
    pub users: usize,
}

pub fn shared_secrets(records: &[Record], users: &Users) -> Shared {
    let mut seen: HashMap<(usize, String, String), usize> = HashMap::new();
    for (r, &u) in records.iter().zip(&users.of) {
        let mut mine: Vec<(String, String)> = r
            .spans
            .iter()
            .map(|s| (s.label.clone(), r.span_text(s)))
            .collect();
        mine.sort();
        mine.dedup();
        for (label, value) in mine {
            *seen.entry((u, label, value)).or_default() += 1;
        }
    }
    let mut per_user: BTreeMap<usize, usize> = BTreeMap::new();
    for ((u, _, _), n) in seen {
        if n >= 2 {
            *per_user.entry(u).or_default() += 1;
        }
    }
    Shared {
        values: per_user.values().sum(),
        users: per_user.len(),
    }
}

/// No named user may have records in both splits: a model evaluated on a person it trained on
/// would count their repeated secrets as "not seen". The error names the user and a line on
/// each side.
pub fn check_split(
    train: (&Path, &[(usize, Record)]),
    test: (&Path, &[(usize, Record)]),
) -> Result<()> {
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (line, r) in train.1 {
        if let Some(u) = r.user.as_deref() {
            first.entry(u).or_insert(*line);
        }
    }
    for (line, r) in test.1 {
        let Some(u) = r.user.as_deref() else { continue };
        if let Some(&tl) = first.get(u) {
            return Err(DataError::bad_line(
                test.0,
                *line,
                format!(
                    "user {:?} is also in the training split ({}:{tl}); a user's records must all \
                     be on one side",
                    capped(u),
                    train.0.display()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Span;

    fn rec(id: &str, user: Option<&str>, text: &str, spans: Vec<Span>) -> Record {
        Record {
            id: id.into(),
            text: text.into(),
            spans,
            user: user.map(String::from),
        }
    }

    #[test]
    fn records_without_a_user_are_their_own() {
        let rs = [
            rec("a", Some("ann"), "x", vec![]),
            rec("b", None, "x", vec![]),
            rec("c", Some("ann"), "x", vec![]),
            rec("d", None, "x", vec![]),
            rec("e", Some("bob"), "x", vec![]),
        ];
        let u = Users::of_records(&rs);
        assert_eq!(u.of, vec![0, 1, 0, 2, 3]);
        assert_eq!(u.sizes, vec![2, 1, 1, 1]);
        assert_eq!((u.count(), u.largest(), u.spread()), (4, 2, (1, 1, 2)));
        assert!(u.named);
        assert_eq!(u.members(), vec![vec![0, 2], vec![1], vec![3], vec![4]]);
        let plain = Users::of_records(&rs[1..2]);
        assert!(!plain.named && plain.count() == 1);
    }

    #[test]
    fn shared_secrets_count_values_repeated_within_a_user() {
        let s = |a, b| Span {
            start: a,
            end: b,
            label: "PHONE".into(),
        };
        let rs = [
            rec("a", Some("ann"), "call 555", vec![s(5, 8)]),
            rec("b", Some("ann"), "ring 555", vec![s(5, 8)]),
            rec("c", Some("bob"), "call 555", vec![s(5, 8)]),
            rec("d", Some("bob"), "call 777", vec![s(5, 8)]),
        ];
        let u = Users::of_records(&rs);
        assert_eq!(
            shared_secrets(&rs, &u),
            Shared {
                values: 1,
                users: 1
            }
        );
    }

    #[test]
    fn a_user_on_both_sides_names_the_user_and_both_lines() {
        let train = vec![
            (1, rec("a", Some("ann"), " x", vec![])),
            (4, rec("b", Some("cy"), "x", vec![])),
        ];
        let test = vec![
            (2, rec("c", None, "x", vec![])),
            (7, rec("d", Some("cy"), "x", vec![])),
        ];
        let p = Path::new;
        let e = check_split((p("train.jsonl"), &train), (p("test.jsonl"), &test))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("test.jsonl:7: user \"cy\"") && e.contains("train.jsonl:4"),
            "{e}"
        );
        check_split((p("train.jsonl"), &train), (p("test.jsonl"), &test[..1])).unwrap();
        assert_eq!(capped(&"x".repeat(100)).chars().count(), QUOTE + 1);
    }
}

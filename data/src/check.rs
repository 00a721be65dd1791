//! `triad data check`: every problem of a dataset file, each with its line number.

use super::record::{Record, Span};
use serde_json::Value;
use std::collections::HashMap;

/// A problem found on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub message: String,
}

/// The outcome of checking a file: the records that parsed cleanly and every problem.
#[derive(Debug, Default)]
pub struct Checked {
    pub records: Vec<(usize, Record)>,
    pub problems: Vec<Problem>,
}

/// Read a dataset file for use: its records with their line numbers, or the first problem as
/// an error naming the file and line (with the count of all problems).
pub fn read_valid(path: &std::path::Path) -> crate::Result<Vec<(usize, Record)>> {
    let checked = check_bytes(&crate::fsutil::read(path)?);
    match checked.problems.first() {
        None => Ok(checked.records),
        Some(p) => Err(crate::DataError::BadLine {
            path: path.to_path_buf(),
            line: p.line,
            message: format!(
                "{} ({} in all; `triad data check` lists them)",
                p.message,
                match checked.problems.len() {
                    1 => "1 problem".to_string(),
                    n => format!("{n} problems"),
                }
            ),
        }),
    }
}

/// Check raw file bytes. Blank lines are allowed and skipped; a UTF-8 byte-order mark (as some
/// editors write) is skipped; a file without any record is a problem (on line 1).
pub fn check_bytes(bytes: &[u8]) -> Checked {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut out = Checked::default();
    let mut ids: HashMap<String, usize> = HashMap::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let mut problem = |message: String| out.problems.push(Problem { line, message });
        let text = match std::str::from_utf8(raw) {
            Ok(t) => t,
            Err(e) => {
                problem(format!(
                    "invalid UTF-8 at byte {} of the line",
                    e.valid_up_to()
                ));
                continue;
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        let v: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                problem(format!("bad JSON: {e}"));
                continue;
            }
        };
        match record_from_value(&v) {
            Err(msgs) => msgs.into_iter().for_each(&mut problem),
            Ok(r) => {
                let mut msgs = span_problems(&r);
                if let Some(first) = ids.insert(r.id.clone(), line) {
                    msgs.push(format!("duplicate id {:?} (first on line {first})", r.id));
                }
                let clean = msgs.is_empty();
                msgs.into_iter().for_each(&mut problem);
                if clean {
                    out.records.push((line, r));
                }
            }
        }
    }
    if out.records.is_empty() && out.problems.is_empty() {
        out.problems.push(Problem {
            line: 1,
            message: "the file holds no records (it is empty or blank)".into(),
        });
    }
    out
}

fn record_from_value(v: &Value) -> Result<Record, Vec<String>> {
    let Some(obj) = v.as_object() else {
        return Err(vec!["expected a JSON object".into()]);
    };
    let mut errs = vec![];
    let id = match obj.get("id") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            errs.push(format!("field `id` must be a string, got {other}"));
            None
        }
        None => {
            errs.push("missing field `id`".into());
            None
        }
    };
    let text = match obj.get("text") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errs.push("field `text` must be a string".into());
            None
        }
        None => {
            errs.push("missing field `text`".into());
            None
        }
    };
    let mut spans = vec![];
    match obj.get("spans") {
        None => errs.push("missing field `spans` (use [] for none)".into()),
        Some(Value::Array(a)) => {
            for (k, s) in a.iter().enumerate() {
                let field = |name: &str| s.get(name);
                let int = |name: &str| field(name).and_then(Value::as_u64).map(|n| n as usize);
                match (int("start"), int("end"), field("label").and_then(Value::as_str)) {
                    (Some(start), Some(end), Some(label)) => spans.push(Span {
                        start,
                        end,
                        label: label.to_string(),
                    }),
                    _ => errs.push(format!(
                        "spans[{k}]: needs non-negative integer `start` and `end` and a string `label`, got {s}"
                    )),
                }
            }
        }
        Some(_) => errs.push("field `spans` must be an array".into()),
    }
    let user = match obj.get("user") {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) if !u.trim().is_empty() => Some(u.clone()),
        Some(Value::String(_)) => {
            errs.push(
                "field `user` is empty (leave it out for a record that is its own user)".into(),
            );
            None
        }
        Some(other) => {
            errs.push(format!(
                "field `user` must be a string, got {}",
                crate::users::capped(&other.to_string())
            ));
            None
        }
    };
    match (id, text, errs.is_empty()) {
        (Some(id), Some(text), true) => Ok(Record {
            id,
            text,
            spans,
            user,
        }),
        _ => Err(errs),
    }
}

/// Spans must lie inside the text, be non-empty, sorted by start and not overlap.
pub fn span_problems(r: &Record) -> Vec<String> {
    let len = r.text.chars().count();
    let mut out = vec![];
    let mut prev: Option<&Span> = None;
    for (k, s) in r.spans.iter().enumerate() {
        if s.start >= s.end {
            out.push(format!(
                "spans[{k}]: empty or reversed range {}..{}",
                s.start, s.end
            ));
        } else if s.end > len {
            out.push(format!(
                "spans[{k}]: range {}..{} is out of range (the text has {len} characters)",
                s.start, s.end
            ));
        }
        if s.label.trim().is_empty() {
            out.push(format!("spans[{k}]: empty label"));
        }
        if let Some(p) = prev {
            if s.start < p.start {
                out.push(format!(
                    "spans[{k}]: not sorted (starts at {} after a span starting at {})",
                    s.start, p.start
                ));
            } else if s.start < p.end {
                out.push(format!(
                    "spans[{k}]: overlaps spans[{}] ({}..{} and {}..{})",
                    k - 1,
                    p.start,
                    p.end,
                    s.start,
                    s.end
                ));
            }
        }
        prev = Some(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(s: &[u8]) -> Vec<(usize, String)> {
        check_bytes(s)
            .problems
            .into_iter()
            .map(|p| (p.line, p.message))
            .collect()
    }

    #[test]
    fn every_kind_of_problem_with_its_line() {
        let file = [
            r#"{"id":"ok","text":"Call Ann","spans":[{"start":5,"end":8,"label":"NAME"}]}"#.as_bytes(),
            b"{\"id\":\"u\",\"text\":\"caf\xe9\",\"spans\":[]}",
            br#"{"id":"j","text":"x","spans":[}"#,
            br#"{"id":"m","spans":[]}"#,
            r#"{"id":"r","text":"héllo","spans":[{"start":3,"end":9,"label":"NAME"}]}"#.as_bytes(),
            br#"{"id":"o","text":"abcdefgh","spans":[{"start":0,"end":4,"label":"A"},{"start":2,"end":6,"label":"B"}]}"#,
            br#"{"id":"s","text":"abcdefgh","spans":[{"start":5,"end":6,"label":"A"},{"start":0,"end":2,"label":"B"}]}"#,
            br#"{"id":"ok","text":"dup","spans":[]}"#,
        ]
        .join(&b'\n');
        let p = problems(&file);
        let has = |line: usize, what: &str| {
            assert!(
                p.iter().any(|(l, m)| *l == line && m.contains(what)),
                "no {what:?} on line {line}: {p:?}"
            );
        };
        has(2, "invalid UTF-8");
        has(3, "bad JSON");
        has(4, "missing field `text`");
        has(5, "out of range");
        has(6, "overlaps");
        has(7, "not sorted");
        has(8, "duplicate id");
        assert!(!p.iter().any(|(l, _)| *l == 1), "line 1 is valid: {p:?}");
        assert_eq!(check_bytes(&file).records.len(), 1);
    }

    #[test]
    fn an_empty_file_is_a_problem_and_a_byte_order_mark_is_not() {
        for empty in ["", "\n\n", "  \n"] {
            let p = problems(empty.as_bytes());
            assert!(p.len() == 1 && p[0].1.contains("no records"), "{p:?}");
        }
        let bom = "\u{feff}{\"id\": \"a\", \"text\": \"hi\", \"spans\": []}\n";
        assert!(problems(bom.as_bytes()).is_empty());
    }

    #[test]
    fn offsets_are_characters_not_bytes() {
        // "héllo" has 5 characters and 6 bytes: 0..5 is in range.
        let ok = r#"{"id":"a","text":"héllo","spans":[{"start":0,"end":5,"label":"X"}]}"#;
        assert!(problems(ok.as_bytes()).is_empty());
    }
}

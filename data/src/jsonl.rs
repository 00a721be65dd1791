//! JSON Lines input with errors that name the file and line.

use crate::error::{DataError, Result};
use serde_json::Value;
use std::path::Path;

/// One parsed line: its 1-based line number and value. Blank lines are skipped.
#[derive(Debug)]
pub struct Line {
    pub number: usize,
    pub value: Value,
}

/// Read every non-blank line of `path` as a JSON object.
pub fn read_objects(path: &Path) -> Result<Vec<Line>> {
    let bytes = crate::fsutil::read(path)?;
    let mut out = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let number = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = std::str::from_utf8(raw).map_err(|e| DataError::BadLine {
            path: path.to_path_buf(),
            line: number,
            message: format!("invalid UTF-8 at byte {} of the line", e.valid_up_to()),
        })?;
        if text.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(text).map_err(|e| DataError::BadLine {
            path: path.to_path_buf(),
            line: number,
            message: format!("not valid JSON: {e}"),
        })?;
        if !value.is_object() {
            return Err(DataError::BadLine {
                path: path.to_path_buf(),
                line: number,
                message: "expected a JSON object".into(),
            });
        }
        out.push(Line { number, value });
    }
    Ok(out)
}

/// A `{"id": ..., "text": "..."}` record to score.
#[derive(Debug)]
pub struct TextRecord {
    pub line: usize,
    pub id: Value,
    pub text: String,
}

/// Read records with an `id` (any JSON value) and a string `text`.
pub fn read_texts(path: &Path) -> Result<Vec<TextRecord>> {
    read_objects(path)?
        .into_iter()
        .map(|Line { number, mut value }| {
            let bad = |message: &str| DataError::BadLine {
                path: path.to_path_buf(),
                line: number,
                message: message.to_string(),
            };
            let id = value
                .get_mut("id")
                .map(Value::take)
                .ok_or_else(|| bad("missing field `id`"))?;
            let text = match value.get_mut("text").map(Value::take) {
                Some(Value::String(s)) => s,
                Some(_) => return Err(bad("field `text` must be a string")),
                None => return Err(bad("missing field `text`")),
            };
            Ok(TextRecord {
                line: number,
                id,
                text,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(s: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("in.jsonl");
        std::fs::write(&p, s).unwrap();
        (d, p)
    }

    #[test]
    fn reports_line_numbers() {
        let (_d, p) = write(b"{\"id\":1,\"text\":\"a\"}\n\n{\"id\":2,\"text\":\"b\"}\nnot json\n");
        let e = read_texts(&p).unwrap_err().to_string();
        assert!(
            e.contains("in.jsonl:4:") && e.contains("not valid JSON"),
            "{e}"
        );
        let (_d, p) = write(b"{\"id\":1,\"text\":\"a\"}\n{\"id\":2}\n");
        let e = read_texts(&p).unwrap_err().to_string();
        assert!(e.contains(":2:") && e.contains("`text`"), "{e}");
        let (_d, p) = write(b"{\"id\":1,\"text\":\"\xff\"}\n");
        let e = read_texts(&p).unwrap_err().to_string();
        assert!(e.contains(":1:") && e.contains("UTF-8"), "{e}");
    }

    #[test]
    fn reads_records() {
        let (_d, p) = write(b"{\"id\":\"a\",\"text\":\"h\xc3\xa9\"}\r\n{\"id\":7,\"text\":\"\"}");
        let r = read_texts(&p).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].text, "hé");
        assert_eq!(r[1].id, serde_json::json!(7));
        assert_eq!(r[1].line, 2);
    }
}

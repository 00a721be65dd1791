//! One dataset record: `{"id": str, "text": str, "spans": [{"start", "end", "label"}]}` with
//! character offsets (Unicode scalar values, end exclusive), and an optional `"user": str`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub text: String,
    #[serde(default)]
    pub spans: Vec<Span>,
    /// The person the record is about or from (a repeat customer's tickets share it). Absent:
    /// the record is its own user. Privacy per user (`dp.unit = "user"`) groups by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl Record {
    /// The text of a span (character offsets).
    pub fn span_text(&self, s: &Span) -> String {
        self.text
            .chars()
            .skip(s.start)
            .take(s.end.saturating_sub(s.start))
            .collect()
    }

    /// One JSON line (no trailing newline). Field order is fixed, so output is byte-stable.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("records serialise")
    }
}

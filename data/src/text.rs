//! Building a text while recording labelled spans at insertion time, in character offsets.

use super::record::Span;

#[derive(Debug, Default)]
pub struct TextBuilder {
    text: String,
    chars: usize,
    spans: Vec<Span>,
}

impl TextBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Plain text.
    pub fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self.chars += s.chars().count();
        self
    }

    /// A sensitive value, labelled exactly where it is inserted.
    pub fn secret(&mut self, label: &str, value: &str) -> &mut Self {
        let start = self.chars;
        self.push(value);
        self.spans.push(Span {
            start,
            end: self.chars,
            label: label.to_string(),
        });
        self
    }

    /// A template with `{SLOT}` markers; `fill` returns `(label, value)` for each slot.
    pub fn template(
        &mut self,
        template: &str,
        mut fill: impl FnMut(&str) -> (String, String),
    ) -> &mut Self {
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let close = rest[open..]
                .find('}')
                .map(|c| open + c)
                .expect("balanced template");
            self.push(&rest[..open]);
            let (label, value) = fill(&rest[open + 1..close]);
            if label.is_empty() {
                self.push(&value);
            } else {
                self.secret(&label, &value);
            }
            rest = &rest[close + 1..];
        }
        self.push(rest);
        self
    }

    pub fn finish(self) -> (String, Vec<Span>) {
        (self.text, self.spans)
    }
}

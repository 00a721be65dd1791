//! How much of a file's labelled personal data a set of predicted spans covers, whatever the
//! labels: for scrubbing, a secret is caught when its characters are replaced, under any label.

use crate::record::{Record, Span};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Spans of one label: how many the predictions covered entirely.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelRecall {
    pub label: String,
    pub caught: u64,
    pub total: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    /// Labelled spans whose every character lies in a predicted span.
    pub spans_caught: u64,
    pub spans_labelled: u64,
    /// Labelled characters inside predicted spans, over labelled characters.
    pub char_recall: f64,
    /// Predicted characters inside labelled spans, over predicted characters.
    pub char_precision: f64,
    /// Per label, in label order.
    pub by_label: Vec<LabelRecall>,
}

impl Coverage {
    /// `predicted[i]` are the spans predicted on `records[i]`.
    pub fn of(records: &[Record], predicted: &[Vec<Span>]) -> Coverage {
        let (mut both, mut gold, mut pred) = (0u64, 0u64, 0u64);
        let mut by_label: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for (r, p) in records.iter().zip(predicted) {
            let n = r.text.chars().count();
            let (g, q) = (paint(&r.spans, n), paint(p, n));
            for (a, b) in g.iter().zip(&q) {
                both += (*a && *b) as u64;
                gold += *a as u64;
                pred += *b as u64;
            }
            for s in &r.spans {
                let e = by_label.entry(s.label.clone()).or_default();
                e.1 += 1;
                e.0 += q[s.start.min(n)..s.end.min(n)].iter().all(|&x| x) as u64;
            }
        }
        let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
        Coverage {
            spans_caught: by_label.values().map(|l| l.0).sum(),
            spans_labelled: by_label.values().map(|l| l.1).sum(),
            char_recall: ratio(both, gold),
            char_precision: ratio(both, pred),
            by_label: by_label
                .into_iter()
                .map(|(label, (caught, total))| LabelRecall {
                    label,
                    caught,
                    total,
                })
                .collect(),
        }
    }

    /// Labelled spans caught entirely, over labelled spans.
    pub fn span_recall(&self) -> f64 {
        self.spans_caught as f64 / self.spans_labelled.max(1) as f64
    }
}

fn paint(spans: &[Span], n: usize) -> Vec<bool> {
    let mut v = vec![false; n];
    for s in spans {
        for x in v.iter_mut().take(s.end.min(n)).skip(s.start) {
            *x = true;
        }
    }
    v
}

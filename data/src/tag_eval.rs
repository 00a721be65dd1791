//! Character-level precision and recall of predicted spans against gold spans, per label.
//!
//! Labels are compared after mapping to classes the tagger can tell apart: order and tracking
//! numbers are one class (`CODE`), dates of birth are `DATE`.

use super::record::Record;
use std::collections::BTreeMap;

/// The class a label is scored under.
pub fn class(label: &str) -> &str {
    match label {
        "ORDER_ID" | "TRACKING_ID" => "CODE",
        "DATE_OF_BIRTH" => "DATE",
        other => other,
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Counts {
    pub tp: u64,
    pub fp: u64,
    pub fn_: u64,
}

impl Counts {
    pub fn precision(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fp).max(1) as f64
    }
    pub fn recall(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fn_).max(1) as f64
    }
}

/// Per-class character counts and the overall (micro) counts.
pub fn evaluate(gold: &[Record], pred: &[Record]) -> (BTreeMap<String, Counts>, Counts) {
    let mut per: BTreeMap<String, Counts> = BTreeMap::new();
    for (g, p) in gold.iter().zip(pred) {
        let n = g.text.chars().count();
        fn paint(r: &Record, n: usize) -> Vec<Option<&str>> {
            let mut v: Vec<Option<&str>> = vec![None; n];
            for s in &r.spans {
                for slot in v.iter_mut().take(s.end.min(n)).skip(s.start) {
                    *slot = Some(class(&s.label));
                }
            }
            v
        }
        let (gv, pv) = (paint(g, n), paint(p, n));
        for (gc, pc) in gv.iter().zip(&pv) {
            match (gc, pc) {
                (Some(a), Some(b)) if a == b => per.entry(a.to_string()).or_default().tp += 1,
                (Some(a), Some(b)) => {
                    per.entry(a.to_string()).or_default().fn_ += 1;
                    per.entry(b.to_string()).or_default().fp += 1;
                }
                (Some(a), None) => per.entry(a.to_string()).or_default().fn_ += 1,
                (None, Some(b)) => per.entry(b.to_string()).or_default().fp += 1,
                (None, None) => {}
            }
        }
    }
    let total = per.values().fold(Counts::default(), |a, c| Counts {
        tp: a.tp + c.tp,
        fp: a.fp + c.fp,
        fn_: a.fn_ + c.fn_,
    });
    (per, total)
}

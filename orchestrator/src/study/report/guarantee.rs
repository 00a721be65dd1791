//! What a run promises, in words: its formal ε and what it covers, and the scrub its training
//! text went through (docs/studies.md, "Guarantees").

use super::Row;
use triad_proto::v1 as pb;

/// The scrub a run's training text went through, as its run record states it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrubRow {
    /// `mask` or `pseudonymise`.
    pub mode: String,
    /// `labelled` or `tagger`.
    pub spans: String,
    pub spans_replaced: u64,
    /// With tagger spans on a labelled file: labelled spans the tagger caught entirely.
    pub span_recall: Option<f64>,
}

impl ScrubRow {
    /// From the run record's `scrub` (what was done), else its config's (what was asked).
    pub fn of(record: &pb::RunRecord) -> Option<ScrubRow> {
        Self::from_parts(
            record.scrub.as_ref(),
            record.config.as_ref().and_then(|c| c.scrub.as_ref()),
        )
    }

    /// A redact-then-DP run's first-phase scrub; `None` for other runs.
    pub fn of_phase_one(record: &pb::RunRecord) -> Option<ScrubRow> {
        let asked = record.config.as_ref()?.redact.as_ref()?;
        let done = record.redact.as_ref().and_then(|p| p.scrub.as_ref());
        Self::from_parts(done, asked.scrub.as_ref())
    }

    fn from_parts(
        done: Option<&pb::Scrubbing>,
        asked: Option<&pb::ScrubConfig>,
    ) -> Option<ScrubRow> {
        if let Some(s) = done {
            let recall = s
                .tagger
                .as_ref()
                .filter(|t| t.spans_labelled > 0)
                .map(|t| t.spans_caught as f64 / t.spans_labelled as f64);
            return Some(ScrubRow {
                mode: s.mode.clone(),
                spans: s.spans.clone(),
                spans_replaced: s.spans_replaced,
                span_recall: recall,
            });
        }
        let c = asked?;
        Some(ScrubRow {
            mode: c.mode.clone(),
            spans: c.spans.clone(),
            spans_replaced: 0,
            span_recall: None,
        })
    }

    /// `mask` / `pseudonymise:tagger`, as the study's `scrub` axis spells it.
    pub fn key(&self) -> String {
        if self.spans == "labelled" {
            self.mode.clone()
        } else {
            format!("{}:{}", self.mode, self.spans)
        }
    }
}

/// The base model's row: it was trained on none of the data.
pub const BASE: &str = "base model: saw no training data";

/// The row's guarantee in words: `none`, `ε 7.99 per record`, `selective: ε 8.00 on labelled
/// spans`, `scrubbed (mask, tagger, span recall 0.91)`, or a formal ε and a scrub together.
pub fn words(x: &Row) -> String {
    if x.run.starts_with(crate::study::ledger::BASE_RUN) {
        return BASE.into();
    }
    let mut parts = vec![];
    if let Some(e) = x.epsilon {
        parts.push(match &x.selective {
            Some(s) => match (s.spans.as_str(), s.span_recall) {
                ("labelled", _) => format!("selective: ε {e:.2} on labelled spans"),
                (_, Some(r)) => {
                    format!("selective: ε {e:.2} on the tagger's spans (span recall {r:.2})")
                }
                _ => format!("selective: ε {e:.2} on the tagger's spans"),
            },
            None => format!("ε {e:.2} per record"),
        });
    }
    if let Some(s) = &x.scrub {
        parts.push(match (s.spans.as_str(), s.span_recall) {
            ("tagger", Some(r)) => format!("scrubbed ({}, tagger, span recall {r:.2})", s.mode),
            (spans, _) => format!("scrubbed ({}, {spans})", s.mode),
        });
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(spans: &str, recall: Option<f64>) -> Option<ScrubRow> {
        Some(ScrubRow {
            mode: "mask".into(),
            spans: spans.into(),
            spans_replaced: 10,
            span_recall: recall,
        })
    }

    #[test]
    fn every_kind_of_run_says_what_it_promises() {
        let mut x = super::super::tests::row_for_tests();
        assert_eq!(words(&x), "none");
        x.epsilon = Some(7.994);
        assert_eq!(words(&x), "ε 7.99 per record");
        x.scrub = scrub("tagger", Some(0.912));
        assert_eq!(
            words(&x),
            "ε 7.99 per record; scrubbed (mask, tagger, span recall 0.91)"
        );
        x.epsilon = None;
        x.scrub = scrub("labelled", None);
        assert_eq!(words(&x), "scrubbed (mask, labelled)");
        x.epsilon = Some(8.0);
        x.scrub = None;
        x.selective = scrub("labelled", None);
        assert_eq!(words(&x), "selective: ε 8.00 on labelled spans");
        x.selective = scrub("tagger", Some(0.78));
        assert_eq!(
            words(&x),
            "selective: ε 8.00 on the tagger's spans (span recall 0.78)"
        );
    }

    #[test]
    fn a_record_without_stats_falls_back_to_its_config() {
        let mut r = pb::RunRecord::default();
        assert_eq!(ScrubRow::of(&r), None);
        r.config = Some(pb::RunConfig {
            scrub: Some(pb::ScrubConfig {
                mode: "pseudonymise".into(),
                spans: "tagger".into(),
                labels: vec![],
            }),
            ..Default::default()
        });
        let s = ScrubRow::of(&r).unwrap();
        assert_eq!(s.key(), "pseudonymise:tagger");
        r.scrub = Some(pb::Scrubbing {
            mode: "pseudonymise".into(),
            spans: "tagger".into(),
            records: 4,
            spans_replaced: 9,
            replaced_by_label: vec![],
            tagger: Some(pb::TaggerCoverage {
                spans_caught: 9,
                spans_labelled: 12,
                ..Default::default()
            }),
            counts_withheld: false,
        });
        assert_eq!(ScrubRow::of(&r).unwrap().span_recall, Some(0.75));
    }
}

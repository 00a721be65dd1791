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

/// What a DP run's ε is per, as its run record states it.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitRow {
    /// `record` or `user`.
    pub unit: String,
    /// Record-level on data with users: the most records one user has.
    pub largest_user_records: Option<u64>,
    /// The run's δ (for the group conversion at an epoch's ε).
    pub delta: Option<f64>,
}

impl UnitRow {
    /// From the record's `privacy_unit`, else its `dp.unit`; records from before either
    /// existed are per record.
    pub fn of(record: &pb::RunRecord) -> Option<UnitRow> {
        record.epsilon?;
        let asked = record
            .config
            .as_ref()
            .and_then(|c| c.dp.as_ref())
            .map(|d| d.unit.clone())
            .filter(|u| !u.is_empty());
        let u = record.privacy_unit.as_ref();
        Some(UnitRow {
            unit: u
                .map(|u| u.unit.clone())
                .filter(|u| !u.is_empty())
                .or(asked)
                .unwrap_or_else(|| "record".into()),
            largest_user_records: u.and_then(|u| u.largest_user_records),
            delta: record.delta,
        })
    }

    /// For a record-level run on data with users, at ε: (k, k·ε, δ·k·e^{(k−1)ε}).
    pub fn group(&self, epsilon: f64) -> Option<(u64, f64, f64)> {
        let k = self.largest_user_records.filter(|&k| k > 1)?;
        let d = self.delta?;
        let kf = k as f64;
        Some((k, kf * epsilon, d * kf * ((kf - 1.0) * epsilon).exp()))
    }
}

/// `ε 8.00 per user`, `ε 1.00 per record (≤ 4.00 per user of 4 records, δ 3.5e-2)`, or, where
/// the conversion's δ reaches 1, that it promises the user nothing.
fn formal(e: f64, unit: Option<&UnitRow>) -> String {
    let Some(u) = unit else {
        return format!("ε {e:.2} per record");
    };
    let head = format!("ε {e:.2} per {}", u.unit);
    match u.group(e) {
        Some((k, ke, kd)) if kd < 1.0 => {
            format!("{head} (≤ {ke:.2} per user of {k} records, δ {kd:.1e})")
        }
        Some((k, _, _)) => format!("{head} (no promise per user of {k} records)"),
        None => head,
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
            None => formal(e, x.unit.as_ref()),
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
        x.selective = None;
        let unit = |u: &str, k: Option<u64>| UnitRow {
            unit: u.into(),
            largest_user_records: k,
            delta: Some(1e-5),
        };
        x.unit = Some(unit("user", None));
        assert_eq!(words(&x), "ε 8.00 per user");
        x.epsilon = Some(1.0);
        x.unit = Some(unit("record", Some(4)));
        // 4·e^{3}·1e-5 = 8.0e-4.
        assert_eq!(
            words(&x),
            "ε 1.00 per record (≤ 4.00 per user of 4 records, δ 8.0e-4)"
        );
        x.unit = Some(unit("record", Some(16)));
        assert_eq!(
            words(&x),
            "ε 1.00 per record (no promise per user of 16 records)"
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

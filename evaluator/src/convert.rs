//! The evaluator's results as `triad.v1` messages, field by field. Every domain value is
//! destructured without `..` and every message built without `..Default::default()`, so a
//! field added on either side and not carried to the other is a compile error, not a number
//! that silently goes missing (METRICS.json is the `Metrics` message's JSON form).

use crate::eval::{Excluded, ExposureReport, Metrics, Mia, Timing};
use crate::metrics::audit::AuditResult;
use crate::metrics::cells::{Cell, Cells, LabelMetrics, Split, Utility};
use crate::metrics::exposure::Exposure;
use crate::metrics::extraction::{Extraction, Rate, SplitExtraction};
use crate::metrics::interval::{Ci, Method};
use crate::metrics::mia::AttackResult;
use crate::metrics::records::{RecordStat, Sum};
use std::collections::BTreeMap;
use triad_proto::v1 as pb;

/// An interval as the message holds it: `[lo, hi]`, or empty where there is none.
fn ci(v: Ci) -> Vec<f64> {
    v.map(Vec::from).unwrap_or_default()
}

/// An optional number: a non-finite one is no number (METRICS.json writes it as null).
fn opt(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

fn map<K: Clone + Ord, A, B>(m: &BTreeMap<K, A>, f: impl Fn(&A) -> B) -> BTreeMap<K, B> {
    m.iter().map(|(k, v)| (k.clone(), f(v))).collect()
}

impl From<&Metrics> for pb::Metrics {
    fn from(m: &Metrics) -> Self {
        let Metrics {
            base,
            checkpoint,
            adapter,
            train_file,
            test_file,
            cells,
            membership_inference,
            extraction,
            exposure,
            canary_records_excluded,
            audit,
            audit_records_excluded,
            max_length,
            intervals,
            base_scores_cached,
            timing,
        } = m;
        let Cells {
            train,
            test,
            privacy_loss,
            privacy_loss_ci95,
            utility,
            memorisation_gap,
            memorisation_gap_ci95,
            memorisation_gap_base,
            memorisation_gap_corrected,
            memorisation_gap_corrected_ci95,
            per_label,
            privacy_loss_general,
            privacy_loss_general_ci95,
        } = cells;
        pb::Metrics {
            base: base.clone(),
            checkpoint: checkpoint.clone(),
            adapter: adapter.clone(),
            train_file: train_file.clone(),
            test_file: test_file.clone(),
            train: Some(train.into()),
            test: Some(test.into()),
            privacy_loss: *privacy_loss,
            privacy_loss_ci95: ci(*privacy_loss_ci95),
            utility: Some(utility.into()),
            memorisation_gap: *memorisation_gap,
            memorisation_gap_ci95: ci(*memorisation_gap_ci95),
            memorisation_gap_base: *memorisation_gap_base,
            memorisation_gap_corrected: *memorisation_gap_corrected,
            memorisation_gap_corrected_ci95: ci(*memorisation_gap_corrected_ci95),
            per_label: map(per_label, |l| l.into()),
            membership_inference: Some(membership_inference.into()),
            extraction: Some(extraction.into()),
            exposure: exposure.as_ref().map(pb::Exposure::from),
            canary_records_excluded: Some(canary_records_excluded.into()),
            audit: audit.as_ref().map(pb::Audit::from),
            audit_records_excluded: Some(audit_records_excluded.into()),
            max_length: max_length.map(|n| n as u64),
            intervals: Some(intervals.into()),
            base_scores_cached: *base_scores_cached,
            timing: Some(timing.into()),
            privacy_loss_general: *privacy_loss_general,
            privacy_loss_general_ci95: ci(*privacy_loss_general_ci95),
        }
    }
}

impl From<&Cell> for pb::Cell {
    fn from(c: &Cell) -> Self {
        let Cell {
            tokens,
            nll,
            nll_base,
        } = *c;
        pb::Cell {
            tokens,
            nll,
            nll_base,
        }
    }
}

impl From<&Split> for pb::Split {
    fn from(s: &Split) -> Self {
        let Split {
            sensitive,
            non_sensitive,
        } = s;
        pb::Split {
            sensitive: Some(sensitive.into()),
            non_sensitive: Some(non_sensitive.into()),
        }
    }
}

impl From<&Utility> for pb::Utility {
    fn from(u: &Utility) -> Self {
        let Utility {
            nll,
            perplexity,
            nll_base,
            perplexity_base,
            gain,
            nll_ci95,
            gain_ci95,
        } = *u;
        pb::Utility {
            nll,
            perplexity,
            nll_base,
            perplexity_base,
            gain,
            nll_ci95: ci(nll_ci95),
            gain_ci95: ci(gain_ci95),
        }
    }
}

impl From<&LabelMetrics> for pb::LabelMetrics {
    fn from(l: &LabelMetrics) -> Self {
        let LabelMetrics {
            train,
            test,
            privacy_loss,
            memorisation_gap,
        } = l;
        pb::LabelMetrics {
            train: Some(train.into()),
            test: Some(test.into()),
            privacy_loss: *privacy_loss,
            memorisation_gap: *memorisation_gap,
        }
    }
}

impl From<&Mia> for pb::MembershipInference {
    fn from(m: &Mia) -> Self {
        let Mia {
            members,
            non_members,
            loss,
            reference,
            min_k,
            min_k_fraction,
            token_reference,
            min_k_plus_plus,
            zlib,
        } = m;
        pb::MembershipInference {
            members: *members as u64,
            non_members: *non_members as u64,
            loss: Some(loss.into()),
            reference: Some(reference.into()),
            min_k: Some(min_k.into()),
            min_k_fraction: *min_k_fraction,
            token_reference: Some(token_reference.into()),
            min_k_plus_plus: Some(min_k_plus_plus.into()),
            zlib: Some(zlib.into()),
        }
    }
}

impl From<&AttackResult> for pb::Attack {
    fn from(a: &AttackResult) -> Self {
        let AttackResult {
            auc,
            auc_ci95,
            tpr_at_1pct_fpr,
            tpr_at_1pct_fpr_ci95,
            tpr_at_01pct_fpr,
            tpr_at_01pct_fpr_ci95,
            tpr_note,
        } = a;
        pb::Attack {
            auc: *auc,
            auc_ci95: ci(*auc_ci95),
            tpr_at_1pct_fpr: opt(*tpr_at_1pct_fpr),
            tpr_at_1pct_fpr_ci95: ci(*tpr_at_1pct_fpr_ci95),
            tpr_at_01pct_fpr: opt(*tpr_at_01pct_fpr),
            tpr_at_01pct_fpr_ci95: ci(*tpr_at_01pct_fpr_ci95),
            tpr_note: tpr_note.clone(),
        }
    }
}

impl From<&Rate> for pb::Rate {
    fn from(r: &Rate) -> Self {
        let Rate {
            secrets,
            extracted,
            rate,
            extracted_base,
            rate_base,
            rate_ci95,
            rate_base_ci95,
        } = *r;
        pb::Rate {
            secrets,
            extracted,
            rate,
            extracted_base,
            rate_base,
            rate_ci95: ci(rate_ci95),
            rate_base_ci95: ci(rate_base_ci95),
        }
    }
}

impl From<&SplitExtraction> for pb::SplitExtraction {
    fn from(s: &SplitExtraction) -> Self {
        let SplitExtraction { all, per_label } = s;
        let pb::Rate {
            secrets,
            extracted,
            rate,
            extracted_base,
            rate_base,
            rate_ci95,
            rate_base_ci95,
        } = all.into();
        pb::SplitExtraction {
            secrets,
            extracted,
            rate,
            extracted_base,
            rate_base,
            rate_ci95,
            rate_base_ci95,
            per_label: map(per_label, |r| r.into()),
        }
    }
}

impl From<&Extraction> for pb::Extraction {
    fn from(e: &Extraction) -> Self {
        let Extraction { train, test } = e;
        pb::Extraction {
            train: Some(train.into()),
            test: Some(test.into()),
        }
    }
}

impl From<&Exposure> for pb::CanaryExposure {
    fn from(e: &Exposure) -> Self {
        let Exposure {
            id,
            repeats,
            space_size,
            other_secrets_excluded,
            method,
            candidates_scored,
            better,
            rank,
            rank_ci95,
            exposure,
            exposure_ci95,
            log_likelihood,
            extracted,
            note,
        } = e;
        pb::CanaryExposure {
            id: id.clone(),
            repeats: *repeats as u64,
            space_size: *space_size,
            method: method.clone(),
            candidates_scored: *candidates_scored as u64,
            better: *better,
            rank: *rank,
            rank_ci95: rank_ci95.to_vec(),
            exposure: *exposure,
            exposure_ci95: exposure_ci95.to_vec(),
            log_likelihood: *log_likelihood,
            extracted: *extracted,
            note: note.clone(),
            other_secrets_excluded: *other_secrets_excluded,
        }
    }
}

impl From<&ExposureReport> for pb::Exposure {
    fn from(e: &ExposureReport) -> Self {
        let ExposureReport {
            mean_exposure,
            mean_exposure_ci95,
            null_mean,
            null_sd_of_mean,
            extracted,
            extraction_rate,
            extraction_rate_ci95,
            canaries,
        } = e;
        pb::Exposure {
            mean_exposure: *mean_exposure,
            mean_exposure_ci95: ci(*mean_exposure_ci95),
            null_mean: *null_mean,
            null_sd_of_mean: *null_sd_of_mean,
            extracted: *extracted as u64,
            extraction_rate: *extraction_rate,
            extraction_rate_ci95: ci(*extraction_rate_ci95),
            canaries: canaries.iter().map(pb::CanaryExposure::from).collect(),
        }
    }
}

impl From<&Excluded> for pb::Excluded {
    fn from(e: &Excluded) -> Self {
        let Excluded { train, test } = *e;
        pb::Excluded {
            train: train as u64,
            test: test as u64,
        }
    }
}

impl From<&AuditResult> for pb::Audit {
    fn from(a: &AuditResult) -> Self {
        let AuditResult {
            m,
            included,
            guesses,
            correct,
            epsilon_lower_bound,
            confidence,
            delta,
            ceiling,
            method,
        } = a;
        pb::Audit {
            m: *m,
            included: *included,
            guesses: *guesses,
            correct: *correct,
            epsilon_lower_bound: *epsilon_lower_bound,
            confidence: *confidence,
            delta: *delta,
            ceiling: *ceiling,
            method: method.clone(),
        }
    }
}

impl From<&Method> for pb::IntervalMethod {
    fn from(m: &Method) -> Self {
        let Method {
            confidence,
            replicates,
            seed,
            method,
        } = m;
        pb::IntervalMethod {
            confidence: *confidence,
            replicates: *replicates as u64,
            seed: *seed,
            method: method.clone(),
        }
    }
}

impl From<&Timing> for pb::Timing {
    fn from(t: &Timing) -> Self {
        let Timing {
            base_s,
            checkpoint_scoring_s,
            tokens,
            scoring_tokens_per_s,
            exposure_s,
            audit_s,
            total_s,
        } = *t;
        pb::Timing {
            base_s,
            checkpoint_scoring_s,
            tokens,
            scoring_tokens_per_s,
            exposure_s,
            audit_s,
            total_s,
        }
    }
}

impl From<&Sum> for pb::TokenSum {
    fn from(s: &Sum) -> Self {
        let Sum { n, nll, base } = *s;
        pb::TokenSum {
            tokens: n,
            nll,
            nll_base: base,
        }
    }
}

impl From<&pb::TokenSum> for Sum {
    fn from(s: &pb::TokenSum) -> Self {
        let pb::TokenSum {
            tokens,
            nll,
            nll_base,
        } = *s;
        Sum {
            n: tokens,
            nll,
            base: nll_base,
        }
    }
}

impl From<&RecordStat> for pb::RecordStat {
    fn from(r: &RecordStat) -> Self {
        let RecordStat {
            id,
            digest,
            sensitive,
            non_sensitive,
            secrets,
            extracted,
            extracted_base,
            attack,
        } = r;
        let [loss, reference, min_k, token_reference, min_k_plus_plus, zlib] = *attack;
        pb::RecordStat {
            id: id.clone(),
            digest: *digest,
            sensitive: Some(sensitive.into()),
            non_sensitive: Some(non_sensitive.into()),
            secrets: *secrets,
            extracted: *extracted,
            extracted_base: *extracted_base,
            attack: Some(pb::AttackScores {
                loss,
                reference,
                min_k,
                token_reference,
                min_k_plus_plus,
                zlib,
            }),
        }
    }
}

impl From<&pb::RecordStat> for RecordStat {
    /// A record as a RECORDS.json holds it; a missing section reads as empty, a missing score
    /// as none (NaN).
    fn from(r: &pb::RecordStat) -> Self {
        let pb::RecordStat {
            id,
            digest,
            sensitive,
            non_sensitive,
            secrets,
            extracted,
            extracted_base,
            attack,
        } = r;
        let sum = |s: &Option<pb::TokenSum>| s.as_ref().map(Sum::from).unwrap_or_default();
        let pb::AttackScores {
            loss,
            reference,
            min_k,
            token_reference,
            min_k_plus_plus,
            zlib,
        } = (*attack).unwrap_or(pb::AttackScores {
            loss: f64::NAN,
            reference: f64::NAN,
            min_k: f64::NAN,
            token_reference: f64::NAN,
            min_k_plus_plus: f64::NAN,
            zlib: f64::NAN,
        });
        RecordStat {
            id: id.clone(),
            digest: *digest,
            sensitive: sum(sensitive),
            non_sensitive: sum(non_sensitive),
            secrets: *secrets,
            extracted: *extracted,
            extracted_base: *extracted_base,
            attack: [
                loss,
                reference,
                min_k,
                token_reference,
                min_k_plus_plus,
                zlib,
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::cells::Cell;

    fn attack(auc: f64, tpr: Option<f64>) -> AttackResult {
        AttackResult {
            auc,
            auc_ci95: Some([0.4, 0.6]),
            tpr_at_1pct_fpr: tpr,
            tpr_at_1pct_fpr_ci95: None,
            tpr_at_01pct_fpr: None,
            tpr_at_01pct_fpr_ci95: None,
            tpr_note: Some("too few".into()),
        }
    }

    fn cell(tokens: u64) -> Cell {
        Cell {
            tokens,
            nll: 1.5,
            nll_base: f64::NAN,
        }
    }

    fn split() -> Split {
        Split {
            sensitive: cell(3),
            non_sensitive: cell(0),
        }
    }

    fn rate() -> Rate {
        Rate {
            secrets: 4,
            extracted: 1,
            rate: 0.25,
            extracted_base: 0,
            rate_base: 0.0,
            rate_ci95: Some([0.01, 0.8]),
            rate_base_ci95: None,
        }
    }

    fn extraction() -> SplitExtraction {
        SplitExtraction {
            all: rate(),
            per_label: BTreeMap::from([("NAME".to_string(), rate())]),
        }
    }

    fn exposure() -> ExposureReport {
        ExposureReport {
            mean_exposure: 3.0,
            mean_exposure_ci95: Some([1.0, f64::NAN]),
            null_mean: 1.4,
            null_sd_of_mean: 0.3,
            extracted: 1,
            extraction_rate: 0.5,
            extraction_rate_ci95: None,
            canaries: vec![Exposure {
                id: "c0".into(),
                repeats: 4,
                space_size: 1000,
                other_secrets_excluded: 1,
                method: "sampled".into(),
                candidates_scored: 20,
                better: 2,
                rank: 3.0,
                rank_ci95: [1.0, 9.0],
                exposure: 8.2,
                exposure_ci95: [7.0, 9.9],
                log_likelihood: -4.0,
                extracted: true,
                note: None,
            }],
        }
    }

    /// Every section filled, with the awkward values: NaN numbers, NaN interval ends, a
    /// NaN optional number, absent notes and intervals.
    fn full() -> Metrics {
        Metrics {
            base: "base".into(),
            checkpoint: None,
            adapter: Some("adapter".into()),
            train_file: "train.jsonl".into(),
            test_file: "test.jsonl".into(),
            cells: Cells {
                train: split(),
                test: split(),
                privacy_loss: 0.25,
                privacy_loss_ci95: Some([0.1, 0.4]),
                utility: Utility {
                    nll: 2.0,
                    perplexity: 7.39,
                    nll_base: 2.5,
                    perplexity_base: 12.2,
                    gain: 0.5,
                    nll_ci95: Some([1.9, 2.1]),
                    gain_ci95: None,
                },
                memorisation_gap: f64::NAN,
                memorisation_gap_ci95: None,
                memorisation_gap_base: 0.1,
                memorisation_gap_corrected: f64::INFINITY,
                memorisation_gap_corrected_ci95: Some([f64::NAN, 0.2]),
                per_label: BTreeMap::from([(
                    "PHONE".to_string(),
                    LabelMetrics {
                        train: cell(2),
                        test: cell(1),
                        privacy_loss: 0.3,
                        memorisation_gap: -0.1,
                    },
                )]),
                privacy_loss_general: 0.2,
                privacy_loss_general_ci95: Some([0.05, f64::NAN]),
            },
            membership_inference: Mia {
                members: 32,
                non_members: 31,
                loss: attack(0.7, Some(f64::NAN)),
                reference: attack(f64::NAN, Some(0.05)),
                min_k: attack(0.55, None),
                min_k_fraction: 0.2,
                token_reference: attack(0.9, Some(0.5)),
                min_k_plus_plus: attack(0.6, None),
                zlib: attack(0.52, Some(0.0)),
            },
            extraction: Extraction {
                train: extraction(),
                test: extraction(),
            },
            exposure: Some(exposure()),
            canary_records_excluded: Excluded { train: 2, test: 1 },
            audit: Some(AuditResult {
                m: 100,
                included: 48,
                guesses: 10,
                correct: 9,
                epsilon_lower_bound: 0.4,
                confidence: 0.95,
                delta: 1e-5,
                ceiling: 3.1,
                method: "ladder".into(),
            }),
            audit_records_excluded: Excluded::default(),
            max_length: Some(128),
            intervals: Method::default(),
            base_scores_cached: true,
            timing: Timing {
                total_s: 9.5,
                ..Timing::default()
            },
        }
    }

    /// The field-by-field conversion writes the METRICS.json the domain types' own JSON form
    /// read as the message wrote before it: same text, byte for byte.
    #[test]
    fn the_conversion_writes_what_the_json_route_wrote() {
        for m in [full(), {
            let mut m = full();
            m.exposure = None;
            m.audit = None;
            m.max_length = None;
            m
        }] {
            let direct = triad_proto::json::to_file_text(&pb::Metrics::from(&m));
            let via_json: pb::Metrics = triad_proto::json::to_message(&m).unwrap();
            assert_eq!(direct, triad_proto::json::to_file_text(&via_json));
        }
    }
}

//! What an evaluation finds (METRICS.json's content before it becomes the `triad.v1.Metrics`
//! message in `crate::convert`).

use crate::metrics::audit::AuditResult;
use crate::metrics::cells::Cells;
use crate::metrics::exposure::Exposure;
use crate::metrics::extraction::Extraction;
use crate::metrics::interval::{self, Ci};
use crate::metrics::mia::AttackResult;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct ExposureReport {
    pub mean_exposure: f64,
    /// 95% Student t interval of the mean over canaries ([`exp::mean_interval`]).
    pub mean_exposure_ci95: Ci,
    /// The mean and its standard deviation for a model that never saw the canaries (uniform
    /// rank): a mean within ±3 sd of `null_mean` shows no measurable memorisation.
    pub null_mean: f64,
    pub null_sd_of_mean: f64,
    /// Canaries whose secret greedy decoding from their prefix reproduces.
    pub extracted: usize,
    pub extraction_rate: f64,
    pub extraction_rate_ci95: Ci,
    pub canaries: Vec<Exposure>,
}

/// Records left out of the member and non-member sets because they hold a canary.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Excluded {
    pub train: usize,
    pub test: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mia {
    pub members: usize,
    pub non_members: usize,
    pub loss: AttackResult,
    pub reference: AttackResult,
    pub min_k: AttackResult,
    pub min_k_fraction: f64,
    pub token_reference: AttackResult,
    pub min_k_plus_plus: AttackResult,
    pub zlib: AttackResult,
}

#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    pub base: String,
    pub checkpoint: Option<String>,
    pub adapter: Option<String>,
    pub train_file: String,
    pub test_file: String,
    #[serde(flatten)]
    pub cells: Cells,
    pub membership_inference: Mia,
    /// Greedy extraction of each secret from the text before it.
    pub extraction: Extraction,
    /// Canary exposure under the checkpoint (when canaries were given).
    pub exposure: Option<ExposureReport>,
    /// Canary records scored apart (see `canaries`).
    pub canary_records_excluded: Excluded,
    /// The one-run audit's empirical ε lower bound (when an audit file was given).
    pub audit: Option<AuditResult>,
    /// Audit records scored apart (see `audit`).
    pub audit_records_excluded: Excluded,
    /// Tokens of each record scored (`null`: whole records).
    pub max_length: Option<usize>,
    /// How every `*_ci95` interval was computed.
    pub intervals: interval::Method,
    /// Whether the base scores came from the cache.
    pub base_scores_cached: bool,
    pub timing: Timing,
}

/// An evaluation's result: the metrics (METRICS.json) and the per-record statistics they were
/// computed from (RECORDS.json, or a study's ledger).
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub metrics: Metrics,
    pub records: triad_proto::v1::RecordStats,
}

/// Where the evaluation's time went (wall seconds), for cost reports and benchmarks.
impl Metrics {
    /// The `triad.v1.Metrics` message these metrics are (METRICS.json is its JSON form).
    pub fn to_message(&self) -> triad_proto::v1::Metrics {
        self.into()
    }
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Timing {
    /// Tokenising the data, loading and scoring the base model (the last two skipped when its
    /// scores came from the cache).
    pub base_s: f64,
    /// Scoring train and test under the checkpoint (forward passes only, model already loaded).
    pub checkpoint_scoring_s: f64,
    /// Tokens in train and test (each scored once per model).
    pub tokens: u64,
    /// `tokens / checkpoint_scoring_s`; 0 when the checkpoint is the base itself (not rescored).
    pub scoring_tokens_per_s: f64,
    pub exposure_s: f64,
    /// Scoring the audit canaries under the base and the checkpoint.
    pub audit_s: f64,
    pub total_s: f64,
}

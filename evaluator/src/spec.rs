//! What an evaluation is asked to do, and the one place its defaults and limits are written.
//! `triad eval`, the Evaluate RPC and studies all give their settings as [`Settings`] and get
//! them checked by [`Settings::apply`], so each accepts and refuses exactly what the others do.

use crate::limits::MAX_REQUEST_TOKENS;
use std::fmt;
use std::path::PathBuf;
use triad_lm::tch::Device;
use triad_proto::v1::EvaluateRequest;

/// Texts per forward pass, by default and at most.
pub const BATCH_SIZE: usize = 8;
pub const MAX_BATCH_SIZE: usize = 256;
/// Fraction of highest-loss tokens the Min-K% attack averages.
pub const MIN_K: f64 = 0.2;
/// Canary candidate spaces up to this size are ranked exactly (by default; at most
/// [`MAX_EXPOSURE_EXACT`]: each candidate is one scored text).
pub const EXPOSURE_EXACT_MAX: u64 = 10_000;
pub const MAX_EXPOSURE_EXACT: u64 = 1_000_000;
/// Candidates sampled per canary above that, by default and at most.
pub const EXPOSURE_SAMPLES: usize = 2_000;
pub const MAX_EXPOSURE_SAMPLES: usize = 100_000;
/// Tree nodes the exact exposure search may expand per canary, by default and at most.
pub const EXPOSURE_SEARCH_BUDGET: usize = 2_048;
pub const MAX_EXPOSURE_SEARCH_BUDGET: usize = 1_000_000;
/// δ of an audit of a run without one (full and LoRA runs, the base model).
pub const DEFAULT_AUDIT_DELTA: f64 = 1e-5;
/// Confidence of every audit bound.
pub const AUDIT_CONFIDENCE: f64 = 0.95;

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalSpec {
    pub base: PathBuf,
    /// A full checkpoint folder, or `None` with `adapter` set.
    pub checkpoint: Option<PathBuf>,
    pub adapter: Option<PathBuf>,
    pub train: PathBuf,
    pub test: PathBuf,
    pub device: Device,
    pub batch_size: usize,
    /// Where base-model scores are cached (`None`: no cache).
    pub cache_dir: Option<PathBuf>,
    /// Min-K% attack fraction.
    pub min_k: f64,
    /// `canaries.jsonl` from `triad data generate`, for exposure. Records holding a canary are
    /// scored apart: never members, never in the cells or the dialogue extraction rates.
    pub canaries: Option<PathBuf>,
    /// Candidate spaces up to this size are enumerated; larger ones are searched or sampled.
    pub exposure_exact_max: u64,
    pub exposure_samples: usize,
    /// Tree nodes the exact exposure search may expand per canary.
    pub exposure_search_budget: usize,
    /// Tokens of each record scored: what training saw (`max_length` of its RUN.toml).
    /// `None`: read from the checkpoint's `run.json` when there is one, else the base model's
    /// context.
    pub max_length: Option<usize>,
    /// `audit.jsonl` (`triad data generate --audit-canaries`, `triad audit plant`): a one-run
    /// privacy audit. Audit records are scored apart, like canaries. Refused when the run's
    /// `run.json` shows `train` or `base` are not what it trained on ([`crate::binding`]).
    pub audit: Option<PathBuf>,
    /// δ of the audit's (ε, δ) statement: a DP run's own δ. The δ in the run's `run.json`
    /// when larger (or when this is `None`), else [`DEFAULT_AUDIT_DELTA`]. A DP checkpoint moved
    /// away from its run.json must be given its δ here.
    pub audit_delta: Option<f64>,
}

impl EvalSpec {
    /// A spec with every setting at its default: checkpoint and adapter unset, no cache.
    pub fn new(base: PathBuf, train: PathBuf, test: PathBuf, device: Device) -> Self {
        EvalSpec {
            base,
            checkpoint: None,
            adapter: None,
            train,
            test,
            device,
            batch_size: BATCH_SIZE,
            cache_dir: None,
            min_k: MIN_K,
            canaries: None,
            exposure_exact_max: EXPOSURE_EXACT_MAX,
            exposure_samples: EXPOSURE_SAMPLES,
            exposure_search_budget: EXPOSURE_SEARCH_BUDGET,
            max_length: None,
            audit: None,
            audit_delta: None,
        }
    }
}

/// An evaluation's tunable settings as a user gives them; `None` is the default.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Settings {
    pub batch_size: Option<u64>,
    pub min_k: Option<f64>,
    pub exposure_exact_max: Option<u64>,
    pub exposure_samples: Option<u64>,
    pub exposure_search_budget: Option<u64>,
    pub max_length: Option<u64>,
    pub audit_delta: Option<f64>,
}

/// A setting out of its bounds: which one (its `EvaluateRequest` field name) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingError {
    pub field: &'static str,
    pub message: String,
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field `{}`: {}", self.field, self.message)
    }
}

impl std::error::Error for SettingError {}

/// `v` when `lo <= v <= hi`; else the error names the field and the bounds.
fn within(
    field: &'static str,
    v: Option<u64>,
    lo: u64,
    hi: u64,
) -> Result<Option<u64>, SettingError> {
    match v {
        Some(x) if x < lo || x > hi => Err(SettingError {
            field,
            message: format!("{x} is not in {lo}..={hi}"),
        }),
        v => Ok(v),
    }
}

/// A fraction in `(0, hi)` (or `(0, 1]` when `closed`); NaN is none.
fn fraction(
    field: &'static str,
    v: Option<f64>,
    closed: bool,
) -> Result<Option<f64>, SettingError> {
    match v {
        Some(x) if !(x > 0.0 && (x < 1.0 || (closed && x == 1.0))) => Err(SettingError {
            field,
            message: format!("{x} is not in (0, 1{}", if closed { "]" } else { ")" }),
        }),
        v => Ok(v),
    }
}

impl Settings {
    /// The settings of an Evaluate request, where 0 means the default (proto3 has no unset).
    pub fn from_request(r: &EvaluateRequest) -> Settings {
        let int = |v: u64| (v != 0).then_some(v);
        let real = |v: f64| (v != 0.0).then_some(v);
        Settings {
            batch_size: int(r.batch_size.into()),
            min_k: real(r.min_k),
            exposure_exact_max: int(r.exposure_exact_max),
            exposure_samples: int(r.exposure_samples.into()),
            exposure_search_budget: int(r.exposure_search_budget.into()),
            max_length: int(r.max_length.into()),
            audit_delta: real(r.audit_delta),
        }
    }

    /// Every setting checked against its bounds, then set on `spec`; the first out of bounds
    /// is the error.
    pub fn apply(&self, spec: &mut EvalSpec) -> Result<(), SettingError> {
        let max_batch = MAX_BATCH_SIZE as u64;
        if let Some(v) = within("batch_size", self.batch_size, 1, max_batch)? {
            spec.batch_size = v as usize;
        }
        if let Some(v) = fraction("min_k", self.min_k, true)? {
            spec.min_k = v;
        }
        // 0 ranks nothing exactly (every canary sampled); a request cannot say it (0 there is
        // the default), the CLI can.
        if let Some(v) = within(
            "exposure_exact_max",
            self.exposure_exact_max,
            0,
            MAX_EXPOSURE_EXACT,
        )? {
            spec.exposure_exact_max = v;
        }
        let samples = within(
            "exposure_samples",
            self.exposure_samples,
            1,
            MAX_EXPOSURE_SAMPLES as u64,
        )?;
        if let Some(v) = samples {
            spec.exposure_samples = v as usize;
        }
        let budget = MAX_EXPOSURE_SEARCH_BUDGET as u64;
        if let Some(v) = within(
            "exposure_search_budget",
            self.exposure_search_budget,
            1,
            budget,
        )? {
            spec.exposure_search_budget = v as usize;
        }
        let tokens = MAX_REQUEST_TOKENS as u64;
        if let Some(v) = within("max_length", self.max_length, 2, tokens)? {
            spec.max_length = Some(v as usize);
        }
        if let Some(v) = fraction("audit_delta", self.audit_delta, false)? {
            spec.audit_delta = Some(v);
        }
        Ok(())
    }

    /// Whether every setting is within its bounds (what [`Settings::apply`] would refuse).
    pub fn check(&self) -> Result<(), SettingError> {
        let none = PathBuf::new;
        self.apply(&mut EvalSpec::new(none(), none(), none(), Device::Cpu))
    }

    /// The request fields these settings are (0 for a default), for a client of the service.
    pub fn fill(&self, r: &mut EvaluateRequest) {
        let Settings {
            batch_size,
            min_k,
            exposure_exact_max,
            exposure_samples,
            exposure_search_budget,
            max_length,
            audit_delta,
        } = *self;
        // Out-of-range values saturate, so the service still refuses them.
        let u32_of = |v: Option<u64>| v.map_or(0, |x| x.min(u32::MAX as u64) as u32);
        r.batch_size = u32_of(batch_size);
        r.min_k = min_k.unwrap_or(0.0);
        r.exposure_exact_max = exposure_exact_max.unwrap_or(0);
        r.exposure_samples = u32_of(exposure_samples);
        r.exposure_search_budget = u32_of(exposure_search_budget);
        r.max_length = u32_of(max_length);
        r.audit_delta = audit_delta.unwrap_or(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> EvalSpec {
        EvalSpec::new("b".into(), "tr".into(), "te".into(), Device::Cpu)
    }

    #[test]
    fn defaults_are_kept_and_each_bound_names_its_field() {
        let mut s = spec();
        Settings::default().apply(&mut s).unwrap();
        assert_eq!(
            (s.batch_size, s.min_k, s.max_length),
            (BATCH_SIZE, MIN_K, None)
        );
        let refused = |set: Settings| set.apply(&mut spec()).unwrap_err().field;
        let base = Settings::default();
        assert_eq!(
            refused(Settings {
                batch_size: Some(257),
                ..base
            }),
            "batch_size"
        );
        assert_eq!(
            refused(Settings {
                min_k: Some(f64::NAN),
                ..base
            }),
            "min_k"
        );
        assert_eq!(
            refused(Settings {
                max_length: Some(1),
                ..base
            }),
            "max_length"
        );
        assert_eq!(
            refused(Settings {
                audit_delta: Some(1.0),
                ..base
            }),
            "audit_delta"
        );
        let ok = Settings {
            batch_size: Some(256),
            min_k: Some(1.0),
            max_length: Some(MAX_REQUEST_TOKENS as u64),
            audit_delta: Some(1e-6),
            ..base
        };
        ok.apply(&mut s).unwrap();
        assert_eq!(
            (s.batch_size, s.max_length, s.audit_delta),
            (256, Some(131_072), Some(1e-6))
        );
    }

    #[test]
    fn a_request_round_trips_through_its_fields() {
        let set = Settings {
            batch_size: Some(4),
            min_k: Some(0.1),
            exposure_exact_max: Some(7),
            exposure_samples: Some(9),
            exposure_search_budget: Some(11),
            max_length: Some(64),
            audit_delta: Some(1e-4),
        };
        let mut r = EvaluateRequest::default();
        set.fill(&mut r);
        assert_eq!(Settings::from_request(&r), set);
        assert_eq!(
            Settings::from_request(&EvaluateRequest::default()),
            Settings::default()
        );
    }
}

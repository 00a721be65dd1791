//! `triad-evaluator`: memorisation and utility metrics of a checkpoint against its base model
//! (docs/design.md, "The metrics"; every field in docs/evaluator.md).
//!
//! - [`scoring`] — per-token NLL of a dataset under a model, with each token's sensitivity label.
//! - [`metrics`] — the {train, test} × {sensitive, non-sensitive} cells, privacy loss, utility,
//!   memorisation gap, per-label breakdown, membership inference.
//! - [`eval`] — one evaluation end to end (its inputs, the base-score cache, the pipeline and
//!   what it finds), producing METRICS.json.
//! - `convert` — the results as `triad.v1` messages, field by field.
//! - [`spec`] — what an evaluation is asked to do: its settings' defaults and limits, checked
//!   once for the CLI, the service and studies.
//! - [`limits`] — what one record and one request may cost (Evaluate and ScoreTexts alike).
//! - `binding` — an audit refused when its files are not those of the run it audits.
//! - [`service`] — the `triad.v1.Evaluator` gRPC service (binary `triad-evaluator`).

mod binding;
mod convert;
mod error;
pub mod eval;
pub mod limits;
pub mod metrics;
pub mod scoring;
pub mod service;
pub mod spec;
mod telemetry;
#[cfg(test)]
mod testing;

pub use error::{EvalError, Result};

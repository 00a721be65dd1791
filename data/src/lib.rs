//! `triad-data`: everything Triad knows about datasets, without tensors (docs/datasets.md;
//! architecture and conventions: docs/design.md). It builds and tests without libtorch;
//! `triad-lm` (the model) builds on it.
//!
//! - [`record`], [`check`] — dataset records with sensitive spans, and their validation.
//! - [`mask`] — token-level sensitivity masks through a [`tokenizer`].
//! - [`generate`], [`support`], [`values`] — synthetic generators with exact labels.
//! - [`canary`], [`audit`] — exposure canaries and one-run audit canaries.
//! - [`users`] — who each record belongs to, per-user counts, and splits without shared users.
//! - [`tagger`], [`tag_eval`] — the rule-based PII tagger and its precision/recall.
//! - [`scrub`] — masking or pseudonymising spans before training.
//! - [`jsonl`], [`fsutil`] — reading JSONL, atomic writes.
//! - [`error`] — the crate's error and the error kinds every Triad error is classified by.

pub mod audit;
pub mod bio;
pub mod canary;
pub mod check;
pub mod error;
pub mod fsutil;
pub mod generate;
pub mod jsonl;
pub mod mask;
pub mod record;
pub mod rng;
pub mod scrub;
pub mod support;
pub mod tag_eval;
pub mod tagger;
pub mod text;
pub mod tokenizer;
pub mod users;
pub mod values;

pub use error::{DataError, ErrorKind, Result};
pub use record::{Record, Span};

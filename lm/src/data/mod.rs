//! Datasets with sensitive spans (DESIGN.md "Datasets"): records, validation, token-level
//! sensitivity masks, synthetic generators with exact labels, and a rule-based PII tagger.

pub mod audit;
pub mod bio;
pub mod canary;
pub mod check;
pub mod generate;
pub mod mask;
pub mod record;
pub mod rng;
pub mod support;
pub mod tag_eval;
pub mod tagger;
pub mod text;
pub mod values;

pub use record::{Record, Span};

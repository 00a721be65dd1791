//! Studies: a spec (TOML) planned into runs, trained and evaluated through the trainer and
//! evaluator services (embedded on loopback, or remote), recorded in a ledger, and reported.
//!
//! - [`spec`] — the study TOML; [`plan`] — grids expanded into RUN.toml texts with stable ids.
//! - [`ledger`] — SQLite: runs, states, costs, metrics; what makes a rerun resume.
//! - [`inputs`] — the study's data and base model, prepared inside the data root.
//! - [`services`] — embedded services and gRPC clients; [`runner`] — the schedule.
//! - [`cards`] — each evaluation's numbers in its checkpoint's model card.
//! - [`report`] — report.html (inline SVG), report.md, results.csv, the terminal table.

pub mod cards;
pub mod inputs;
pub mod ledger;
pub mod plan;
pub mod report;
pub mod runner;
pub mod services;
pub mod spec;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Spec {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("ledger: {0}")]
    Ledger(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{service} at {addr}: {message}")]
    Service {
        service: &'static str,
        addr: String,
        message: String,
    },
    #[error(transparent)]
    Lm(#[from] triad_lm::LmError),
    #[error(transparent)]
    Data(#[from] triad_data::DataError),
}

impl StudyError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        triad_data::DataError::io(path, source).into()
    }
}

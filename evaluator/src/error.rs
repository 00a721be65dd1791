//! The one error type of `triad-evaluator`.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Lm(#[from] triad_lm::LmError),
    #[error("{path}:{line}: {message}")]
    Data {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = EvalError> = std::result::Result<T, E>;

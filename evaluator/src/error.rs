//! The one error type of `triad-evaluator`. File, line and field errors are `triad-data`'s (one
//! "file:line: problem" shape across Triad); each variant knows its [`ErrorKind`].

use std::path::PathBuf;
use triad_data::error::{Classified, DataError, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Lm(#[from] triad_lm::LmError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("{0}")]
    Invalid(String),
    /// A fault of the evaluator itself (a result that does not fit its own contract).
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = EvalError> = std::result::Result<T, E>;

impl EvalError {
    /// A bad line of a data file.
    pub fn bad_line(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        DataError::bad_line(path, line, message).into()
    }
}

impl Classified for EvalError {
    fn kind(&self) -> ErrorKind {
        match self {
            EvalError::Lm(e) => e.kind(),
            EvalError::Data(e) => e.kind(),
            EvalError::Invalid(_) => ErrorKind::InvalidInput,
            EvalError::Internal(_) => ErrorKind::Internal,
        }
    }
}

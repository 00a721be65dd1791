//! The one error type of `triad-trainer`. File, line and field errors are `triad-data`'s (one
//! "file:line: problem" shape across Triad); each variant knows its [`ErrorKind`].

use std::path::PathBuf;
use triad_data::error::{Classified, DataError, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Lm(#[from] triad_lm::LmError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("{0}")]
    Invalid(String),
    #[error("run cancelled")]
    Cancelled,
    /// Training produced a non-finite loss or weights.
    #[error("{0}")]
    Diverged(String),
    /// A failure inside the trainer (a panic caught at the run's boundary).
    #[error("{0}")]
    Internal(String),
    #[error("libtorch: {}", triad_lm::error::torch_text(.0))]
    Torch(#[from] triad_lm::tch::TchError),
}

pub type Result<T, E = TrainError> = std::result::Result<T, E>;

impl TrainError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::io(path, source).into()
    }

    /// A bad config (or run record) file, the problem named.
    pub fn config(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        DataError::invalid(path, message).into()
    }

    /// A bad line of a data file.
    pub fn bad_line(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        DataError::bad_line(path, line, message).into()
    }
}

impl Classified for TrainError {
    fn kind(&self) -> ErrorKind {
        match self {
            TrainError::Lm(e) => e.kind(),
            TrainError::Data(e) => e.kind(),
            TrainError::Invalid(_) => ErrorKind::InvalidInput,
            TrainError::Cancelled => ErrorKind::Cancelled,
            TrainError::Diverged(_) => ErrorKind::InvalidInput,
            TrainError::Internal(_) => ErrorKind::Internal,
            TrainError::Torch(e) => triad_lm::error::torch_kind(e),
        }
    }
}

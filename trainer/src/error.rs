//! The one error type of `triad-trainer`.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Lm(#[from] triad_lm::LmError),
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Data {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("run cancelled")]
    Cancelled,
    /// A failure inside the trainer (a panic caught at the run's boundary).
    #[error("{0}")]
    Internal(String),
    #[error("libtorch: {}", triad_lm::error::torch_text(.0))]
    Torch(#[from] triad_lm::tch::TchError),
}

pub type Result<T, E = TrainError> = std::result::Result<T, E>;

impl TrainError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.into(),
            source,
        }
    }
}

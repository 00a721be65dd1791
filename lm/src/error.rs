//! The one error type of `triad-lm`. Every variant names the file (and line or field) at fault,
//! so a binary can print it as-is and a user knows what to fix; file, line and field errors
//! are `triad-data`'s, so there is one shape for them.

use std::path::PathBuf;
pub use triad_data::error::{Classified, DataError, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum LmError {
    /// Files, lines, fields and tokenizers: the shape shared with the datasets.
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("{path}: unsupported architecture `{arch}` (supported: {supported})")]
    UnknownArchitecture {
        path: PathBuf,
        arch: String,
        supported: &'static str,
    },
    #[error("{path}: not a valid safetensors file: {message}")]
    Safetensors { path: PathBuf, message: String },
    #[error("{path}: tensor `{name}`: {message}")]
    Tensor {
        path: PathBuf,
        name: String,
        message: String,
    },
    #[error("{path}: GGUF: {message}")]
    Gguf { path: PathBuf, message: String },
    #[error("device `{0}` is not available (use cpu, cuda or cuda:N; CUDA needs a GPU and a CUDA build of libtorch)")]
    Device(String),
    #[error("libtorch: {}", torch_text(.0))]
    Torch(#[from] tch::TchError),
}

/// A libtorch error as a client may read it: c10's message without the C++ backtrace that
/// follows it ("Exception raised from … at /path/file.cpp", "frame #0: … in /path/lib.so"),
/// which shows the server's install paths. The whole error goes to the log (`{:?}`).
pub fn torch_text(e: &tch::TchError) -> String {
    let full = e.to_string();
    let cut = [
        "\nException raised from",
        "\nframe #",
        " (most recent call first)",
    ]
    .iter()
    .filter_map(|m| full.find(m))
    .min()
    .unwrap_or(full.len());
    full[..cut].trim_end().to_string()
}

pub type Result<T, E = LmError> = std::result::Result<T, E>;

impl LmError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::io(path, source).into()
    }

    pub fn invalid(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        DataError::invalid(path, message).into()
    }

    pub fn field(
        path: impl Into<PathBuf>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        DataError::field(path, field, message).into()
    }

    pub fn bad_line(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        DataError::bad_line(path, line, message).into()
    }
}

impl Classified for LmError {
    fn kind(&self) -> ErrorKind {
        match self {
            LmError::Data(e) => e.kind(),
            LmError::Device(_) => ErrorKind::FailedPrecondition,
            LmError::Torch(e) => torch_kind(e),
            _ => ErrorKind::InvalidInput,
        }
    }
}

/// A libtorch failure is the server's fault unless it ran out of memory: requests that could
/// reach libtorch with bad shapes are refused before, so what is left is a fault or a limit.
pub fn torch_kind(e: &tch::TchError) -> ErrorKind {
    let text = e.to_string();
    if text.contains("out of memory") || text.contains("OutOfMemory") {
        ErrorKind::ResourceExhausted
    } else {
        ErrorKind::Internal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torch_error_reaches_clients_without_its_backtrace() {
        let e = tch::Tensor::zeros([2, 3], (tch::Kind::Float, tch::Device::Cpu))
            .f_matmul(&tch::Tensor::zeros(
                [4, 5],
                (tch::Kind::Float, tch::Device::Cpu),
            ))
            .unwrap_err();
        let text = LmError::from(e).to_string();
        assert!(text.starts_with("libtorch: "), "{text}");
        assert!(text.contains("cannot be multiplied"), "{text}");
        assert!(!text.contains("frame #") && !text.contains(".so"), "{text}");
    }
}

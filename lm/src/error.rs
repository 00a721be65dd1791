//! The one error type of `triad-lm`. Every variant names the file (and line or field) at fault,
//! so a binary can print it as-is and a user knows what to fix.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LmError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}:{line}: {message}")]
    BadLine {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: field `{field}`: {message}")]
    BadField {
        path: PathBuf,
        field: String,
        message: String,
    },
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
    #[error("{path}: tokenizer: {message}")]
    Tokenizer { path: PathBuf, message: String },
    #[error("{path}: GGUF: {message}")]
    Gguf { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
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
        LmError::Io {
            path: path.into(),
            source,
        }
    }

    pub fn invalid(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        LmError::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }

    pub fn field(
        path: impl Into<PathBuf>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        LmError::BadField {
            path: path.into(),
            field: field.into(),
            message: message.into(),
        }
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

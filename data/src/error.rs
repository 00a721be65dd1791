//! The error of `triad-data`, and the kinds every Triad error is classified by.
//!
//! Every variant has one shape, "file[:line]: [field `f`: ]problem", so a binary prints it
//! as-is and a user knows what to fix. Each library error of Triad says which [`ErrorKind`]
//! it is (the [`Classified`] trait); `triad-serve` turns the kind into a gRPC code, in one
//! place, for both services.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
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
    #[error("{path}: tokenizer: {message}")]
    Tokenizer { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

pub type Result<T, E = DataError> = std::result::Result<T, E>;

impl DataError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }

    pub fn invalid(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        DataError::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }

    pub fn field(
        path: impl Into<PathBuf>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        DataError::BadField {
            path: path.into(),
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn bad_line(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        DataError::BadLine {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}

/// What kind of failure an error is, for whoever must react to it (a gRPC code, an exit
/// status). Decided by the error's own crate, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller's input is wrong (a field, a line of a file, a config value).
    InvalidInput,
    /// A file or folder the caller named does not exist.
    NotFound,
    /// The input is fine but this server cannot serve it now (no such device, stale state).
    FailedPrecondition,
    /// Memory, disk or a size limit ran out.
    ResourceExhausted,
    /// The caller (or a shutdown) stopped the work.
    Cancelled,
    /// A fault on the server's side.
    Internal,
}

/// An error that knows its [`ErrorKind`].
pub trait Classified: std::error::Error {
    fn kind(&self) -> ErrorKind;
}

/// The kind of an I/O failure on a file the caller named.
pub fn io_kind(e: &std::io::Error) -> ErrorKind {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::NotFound => ErrorKind::NotFound,
        K::StorageFull | K::QuotaExceeded | K::OutOfMemory => ErrorKind::ResourceExhausted,
        K::PermissionDenied | K::IsADirectory | K::NotADirectory | K::InvalidData => {
            ErrorKind::InvalidInput
        }
        _ => ErrorKind::Internal,
    }
}

impl Classified for DataError {
    fn kind(&self) -> ErrorKind {
        match self {
            DataError::Io { source, .. } => io_kind(source),
            _ => ErrorKind::InvalidInput,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_their_place_and_know_their_kind() {
        let e = DataError::BadLine {
            path: "d/train.jsonl".into(),
            line: 7,
            message: "field `text`: missing".into(),
        };
        assert_eq!(e.to_string(), "d/train.jsonl:7: field `text`: missing");
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let gone = DataError::io("x", std::io::Error::from(std::io::ErrorKind::NotFound));
        assert_eq!(gone.kind(), ErrorKind::NotFound);
        let full = DataError::io("x", std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert_eq!(full.kind(), ErrorKind::ResourceExhausted);
    }
}

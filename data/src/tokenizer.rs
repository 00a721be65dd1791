//! `tokenizer.json` through the `tokenizers` crate, with offsets in characters (Unicode scalar
//! values) as the dataset format uses, and special tokens added exactly as the file says
//! (what `tokenizer(text)` does in transformers).

use crate::error::{DataError, Result};
use std::path::{Path, PathBuf};

pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
}

/// One tokenised text.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    /// `[start, end)` character offsets into the text, per token ((0, 0) for added special tokens).
    pub offsets: Vec<(usize, usize)>,
}

impl Tokenizer {
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(DataError::io(
                path,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such file (the model folder needs a tokenizer.json)",
                ),
            ));
        }
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| DataError::Tokenizer {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(Tokenizer {
            inner,
            path: path.to_path_buf(),
        })
    }

    pub fn encode(&self, text: &str) -> Result<Encoded> {
        let enc = self
            .inner
            .encode_char_offsets(text, true)
            .map_err(|e| self.err(e))?;
        Ok(Encoded {
            ids: enc.get_ids().to_vec(),
            offsets: enc.get_offsets().to_vec(),
        })
    }

    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|e| self.err(e))
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The `tokenizer.json` this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    fn err(&self, e: tokenizers::Error) -> DataError {
        DataError::Tokenizer {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }
}

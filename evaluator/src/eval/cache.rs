//! The base model's scores, cached across evaluations: a study scores many checkpoints against
//! one base, keyed by the base weights, tokenizer, data and what was left out of it.

use super::{load, Progress, SplitData};
use crate::error::Result;
use crate::scoring::{score, Scores};
use crate::spec::EvalSpec;
use std::path::{Path, PathBuf};
use triad_lm::CausalLm;

/// SHA-256 over length-prefixed fields: a cache key stable across Rust releases and machines
/// (std's `DefaultHasher` promises neither), where no two field lists give the same bytes.
struct KeyHasher(sha2::Sha256);

impl KeyHasher {
    fn field(&mut self, bytes: &[u8]) -> &mut Self {
        use sha2::Digest;
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    fn hex(self) -> String {
        use sha2::Digest;
        self.0.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

fn cache_key(
    spec: &EvalSpec,
    file: &Path,
    max_length: Option<usize>,
    excluded: &[String],
) -> Result<String> {
    use sha2::Digest;
    let read = |p: PathBuf| std::fs::read(&p).map_err(|e| triad_lm::LmError::io(p, e));
    let mut h = KeyHasher(sha2::Sha256::new());
    // Bump when the cached format changes.
    h.field(b"scores-v5")
        .field(format!("{max_length:?}").as_bytes());
    h.field(&(excluded.len() as u64).to_le_bytes());
    for id in excluded {
        h.field(id.as_bytes());
    }
    h.field(&read(spec.base.join("config.json"))?)
        .field(&read(spec.base.join("tokenizer.json"))?);
    let mut weights: Vec<_> = std::fs::read_dir(&spec.base)
        .map_err(|e| triad_lm::LmError::io(&spec.base, e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".safetensors"))
        .collect();
    weights.sort_by_key(|e| e.file_name());
    // Weights by name, size and modification time (reading gigabytes per evaluation would
    // cost more than the scores it saves).
    for e in weights {
        let m = e
            .metadata()
            .map_err(|err| triad_lm::LmError::io(e.path(), err))?;
        let modified = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        h.field(e.file_name().as_encoded_bytes())
            .field(&m.len().to_le_bytes())
            .field(&modified.to_le_bytes());
    }
    h.field(&read(file.to_path_buf())?);
    Ok(h.hex())
}

pub(super) fn base_scores(
    spec: &EvalSpec,
    base: &mut Option<CausalLm>,
    split: &SplitData,
    max_length: Option<usize>,
    progress: Progress,
) -> Result<(Scores, bool)> {
    let (file, data) = (&split.file, &split.data);
    let cached = match &spec.cache_dir {
        Some(dir) => Some(dir.join(format!(
            "{}.json",
            cache_key(spec, file, max_length, &split.excluded)?
        ))),
        None => None,
    };
    if let Some(p) = &cached {
        if let Ok(bytes) = std::fs::read(p) {
            if let Ok(v) = serde_json::from_slice::<Scores>(&bytes) {
                if v.nll.len() == data.len() && v.top1.len() == data.len() {
                    return Ok((v, true));
                }
            }
        }
    }
    if base.is_none() {
        *base = Some(load(spec, false)?);
    }
    let stage = format!("base {}", split.name);
    let scores = score(
        base.as_ref().expect("loaded"),
        data,
        spec.batch_size,
        |d, n| progress(&stage, d, n),
    );
    if let Some(p) = &cached {
        // The cache only saves time: an evaluation whose scores cannot be kept still stands.
        if let Err(e) = write_cache(p, &scores) {
            tracing::warn!(error = %e, "base scores not cached");
        }
    }
    Ok((scores, false))
}

fn write_cache(p: &Path, scores: &Scores) -> Result<()> {
    std::fs::create_dir_all(p.parent().expect("parent"))
        .map_err(|e| triad_lm::LmError::io(p, e))?;
    triad_data::fsutil::write_atomic(p, &serde_json::to_vec(scores).expect("json"))?;
    Ok(())
}

#[cfg(test)]
mod key_tests {
    use super::KeyHasher;
    use sha2::Digest;

    #[test]
    fn cache_keys_are_sha256_of_length_prefixed_fields() {
        let key = |fields: &[&[u8]]| {
            let mut h = KeyHasher(sha2::Sha256::new());
            for f in fields {
                h.field(f);
            }
            h.hex()
        };
        // The same bytes on every machine and Rust release (Python's hashlib agrees).
        assert_eq!(
            key(&[b"scores-v4", b"None"]),
            "194af60ec503d89ca0d7fda2e48ede15"
        );
        assert_ne!(key(&[b"ab", b"c"]), key(&[b"a", b"bc"]));
    }
}

//! Models where users keep them: `org/name[@revision]` found in the Hugging Face hub cache,
//! offline, laid out as `huggingface_hub` writes it:
//! `<cache>/models--org--name/refs/<branch or tag>` holds a commit hash, and
//! `<cache>/models--org--name/snapshots/<commit>/` the files (links into `blobs/`).
//!
//! Triad never downloads: a model missing from every cache is an error that lists where it looked.

use crate::error::{LmError, Result};
use std::path::{Path, PathBuf};

/// A model named as on the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubRef {
    pub repo: String,
    /// A branch, tag or commit; `main` when not given.
    pub revision: String,
}

impl HubRef {
    /// `org/name` or `org/name@revision`; anything else (a path) is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        let (repo, revision) = match s.split_once('@') {
            Some((r, rev)) => (r, rev),
            None => (s, "main"),
        };
        let (org, name) = repo.split_once('/')?;
        let part_ok = |p: &str| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        let rev_ok = !revision.is_empty()
            && !revision.starts_with('.')
            && !revision.contains("..")
            && revision
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
        (part_ok(org) && part_ok(name) && rev_ok).then(|| HubRef {
            repo: repo.to_string(),
            revision: revision.to_string(),
        })
    }

    fn folder_name(&self) -> String {
        format!("models--{}", self.repo.replace('/', "--"))
    }
}

/// The hub caches to search, in `huggingface_hub`'s order of precedence.
pub fn cache_dirs() -> Vec<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let mut dirs = vec![];
    if let Some(d) = var("HF_HUB_CACHE").or_else(|| var("HUGGINGFACE_HUB_CACHE")) {
        dirs.push(d);
    }
    if let Some(h) = var("HF_HOME") {
        dirs.push(h.join("hub"));
    }
    if let Some(x) = var("XDG_CACHE_HOME") {
        dirs.push(x.join("huggingface").join("hub"));
    }
    if let Some(home) = var("HOME") {
        dirs.push(home.join(".cache").join("huggingface").join("hub"));
    }
    dirs.dedup();
    dirs
}

/// A model folder: `spec` itself when it exists as a path, else `org/name[@revision]` from the
/// first hub cache that holds it.
pub fn resolve(spec: &str) -> Result<PathBuf> {
    let as_path = PathBuf::from(spec);
    if as_path.exists() {
        return Ok(as_path);
    }
    let Some(r) = HubRef::parse(spec) else {
        return Err(LmError::invalid(&as_path, "model folder does not exist"));
    };
    resolve_in(&r, &cache_dirs())
}

/// Look `r` up in `caches`, in order; the error names every place tried.
pub fn resolve_in(r: &HubRef, caches: &[PathBuf]) -> Result<PathBuf> {
    let mut looked = vec![];
    for cache in caches {
        match snapshot(&cache.join(r.folder_name()), &r.revision) {
            Ok(dir) => return Ok(dir),
            Err(tried) => looked.push(tried),
        }
    }
    let list = if looked.is_empty() {
        "no cache folder is configured (HF_HUB_CACHE, HF_HOME and HOME are unset)".to_string()
    } else {
        looked.join("; ")
    };
    Err(LmError::invalid(
        PathBuf::from(format!("{}@{}", r.repo, r.revision)),
        format!(
            "not a folder here and not in a Hugging Face cache (Triad works offline; fetch it \
             with `huggingface-cli download {}` where there is a network). Looked at: {list}",
            r.repo
        ),
    ))
}

/// The snapshot folder of `revision` under one repo folder, or a note of what was missing.
fn snapshot(repo_dir: &Path, revision: &str) -> std::result::Result<PathBuf, String> {
    let snapshots = repo_dir.join("snapshots");
    let is_commit = revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit());
    let commit = if is_commit {
        revision.to_string()
    } else {
        let refs = repo_dir.join("refs").join(revision);
        match std::fs::read_to_string(&refs) {
            Ok(text) => text.trim().to_string(),
            Err(_) => return Err(format!("{} (missing)", refs.display())),
        }
    };
    let dir = snapshots.join(&commit);
    if !dir.join("config.json").is_file() {
        return Err(format!("{} (no config.json)", dir.display()));
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_paths_do_not() {
        let r = HubRef::parse("google/gemma-3-270m").unwrap();
        assert_eq!(
            (r.repo.as_str(), r.revision.as_str()),
            ("google/gemma-3-270m", "main")
        );
        let r = HubRef::parse("Qwen/Qwen3-0.6B@v1.0").unwrap();
        assert_eq!(r.revision, "v1.0");
        for not in [
            "./a/b",
            "/abs/path",
            "a/b/c",
            "a",
            "../x/y",
            "a/b@",
            "a/b@../../etc",
            "a b/c",
        ] {
            assert!(HubRef::parse(not).is_none(), "{not}");
        }
    }
}

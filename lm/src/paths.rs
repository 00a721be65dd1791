//! Paths in service requests: relative to a data root and never outside it.

use std::path::{Component, Path, PathBuf};

/// Why a requested path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("field `{field}`: must not be empty")]
    Empty { field: String },
    #[error("field `{field}`: `{path}` must be relative to the data root")]
    Absolute { field: String, path: String },
    #[error("field `{field}`: `{path}` leaves the data root")]
    Escapes { field: String, path: String },
}

/// `root/rel`, refusing absolute paths, `..` components, and symbolic links that lead outside
/// `root` (checked on the longest existing prefix, so paths yet to be created work too).
pub fn resolve_in_root(root: &Path, rel: &str, field: &str) -> Result<PathBuf, PathError> {
    if rel.trim().is_empty() {
        return Err(PathError::Empty {
            field: field.into(),
        });
    }
    let p = Path::new(rel);
    let escapes = || PathError::Escapes {
        field: field.into(),
        path: rel.into(),
    };
    for c in p.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err(escapes()),
            Component::RootDir | Component::Prefix(_) => {
                return Err(PathError::Absolute {
                    field: field.into(),
                    path: rel.into(),
                })
            }
        }
    }
    let joined = root.join(p);
    let root_real = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut existing = joined.as_path();
    while !existing.exists() {
        match existing.parent() {
            Some(parent) => existing = parent,
            None => break,
        }
    }
    if let Ok(real) = existing.canonicalize() {
        if !real.starts_with(&root_real) {
            return Err(escapes());
        }
    }
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confines_paths() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir(root.join("data")).unwrap();
        assert_eq!(
            resolve_in_root(root, "data/x.jsonl", "f").unwrap(),
            root.join("data/x.jsonl")
        );
        assert_eq!(
            resolve_in_root(root, "new/dir", "f").unwrap(),
            root.join("new/dir")
        );
        assert!(matches!(
            resolve_in_root(root, "../etc", "f"),
            Err(PathError::Escapes { .. })
        ));
        assert!(matches!(
            resolve_in_root(root, "data/../../x", "f"),
            Err(PathError::Escapes { .. })
        ));
        assert!(matches!(
            resolve_in_root(root, "/etc/passwd", "f"),
            Err(PathError::Absolute { .. })
        ));
        assert!(matches!(
            resolve_in_root(root, " ", "f"),
            Err(PathError::Empty { .. })
        ));
        std::os::unix::fs::symlink("/tmp", root.join("link")).unwrap();
        assert!(matches!(
            resolve_in_root(root, "link/x", "f"),
            Err(PathError::Escapes { .. })
        ));
    }
}

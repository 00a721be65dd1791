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
    #[error("field `{field}`: `{path}` holds `{inner}`, which leads out of the data root")]
    EscapesInside {
        field: String,
        path: String,
        inner: String,
    },
    #[error("field `{field}`: `{path}` is (or passes through) a symbolic link to nothing")]
    Dangling { field: String, path: String },
    #[error("field `{field}`: `{path}` holds more than {MAX_TREE} entries")]
    TooLarge { field: String, path: String },
}

/// Most entries checked under a requested folder (model, adapter and run folders hold dozens).
pub const MAX_TREE: usize = 10_000;

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
    // A link to nothing would be followed by the write that creates its target, anywhere.
    let mut prefix = root.to_path_buf();
    for c in p.components() {
        prefix.push(c);
        let is_link = prefix
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink());
        if is_link && !prefix.exists() {
            return Err(PathError::Dangling {
                field: field.into(),
                path: rel.into(),
            });
        }
    }
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
    if joined.is_dir() {
        check_tree(&joined, &root_real, field, rel)?;
    }
    Ok(joined)
}

/// Every entry under `dir` (files that are links, folders that are links, at any depth) must
/// resolve inside the root: the service reads every file of a model folder and writes into run
/// folders, so a link one level down is as much a way out as the path itself.
fn check_tree(dir: &Path, root_real: &Path, field: &str, rel: &str) -> Result<(), PathError> {
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = 0usize;
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            seen += 1;
            if seen > MAX_TREE {
                return Err(PathError::TooLarge {
                    field: field.into(),
                    path: rel.into(),
                });
            }
            let path = e.path();
            let inner = || {
                path.strip_prefix(dir)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned()
            };
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_symlink() {
                let ok = path.canonicalize().is_ok_and(|r| r.starts_with(root_real));
                if !ok {
                    return Err(PathError::EscapesInside {
                        field: field.into(),
                        path: rel.into(),
                        inner: inner(),
                    });
                }
                // A link to a folder inside the root: its own contents are checked where it
                // lives, if it is requested; not followed here (no cycles).
            } else if kind.is_dir() {
                stack.push(path);
            }
        }
    }
    Ok(())
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

    #[test]
    fn links_inside_a_folder_and_dangling_links_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        // A real folder whose file is a link out (the model-folder escape).
        std::fs::create_dir_all(root.join("models/m")).unwrap();
        std::fs::write(root.join("models/m/config.json"), "{}").unwrap();
        assert!(resolve_in_root(root, "models/m", "model").is_ok());
        let link = root.join("models/m/model.safetensors");
        std::os::unix::fs::symlink(outside.path().join("secret"), &link).unwrap();
        let e = resolve_in_root(root, "models/m", "model").unwrap_err();
        assert!(
            matches!(&e, PathError::EscapesInside { inner, .. } if inner == "model.safetensors"),
            "{e}"
        );
        // A link to a file inside the root is fine.
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(root.join("models/m/config.json"), &link).unwrap();
        assert!(resolve_in_root(root, "models/m", "model").is_ok());
        // A run folder whose `checkpoints` leads out (the write escape), at depth.
        std::fs::create_dir_all(root.join("runs/r")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("runs/r/checkpoints")).unwrap();
        let e = resolve_in_root(root, "runs/r", "output_dir").unwrap_err();
        assert!(matches!(e, PathError::EscapesInside { .. }), "{e}");
        assert!(matches!(
            resolve_in_root(root, "runs", "output_dir"),
            Err(PathError::EscapesInside { .. })
        ));
        // A dangling link as the output folder, or on the way to it.
        std::os::unix::fs::symlink(outside.path().join("nope"), root.join("dangling")).unwrap();
        for rel in ["dangling", "dangling/x"] {
            assert!(
                matches!(
                    resolve_in_root(root, rel, "output_dir"),
                    Err(PathError::Dangling { .. })
                ),
                "{rel}"
            );
        }
    }
}

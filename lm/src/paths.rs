//! Paths in service requests: relative to a data root and never outside it.
//!
//! Request values reach error messages only through [`quoted`], so a client sending a
//! megabyte never gets a megabyte back.

use std::borrow::Cow;
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
    #[error("field `{field}`: the path is {bytes} bytes long; at most {MAX_PATH_BYTES}")]
    TooLong { field: String, bytes: usize },
    #[error("field `{field}`: the path has {count} components; at most {MAX_PATH_COMPONENTS}")]
    TooDeep { field: String, count: usize },
}

/// Most entries checked under a requested folder (model, adapter and run folders hold dozens).
pub const MAX_TREE: usize = 10_000;
/// Longest path a request may name, in bytes (Linux's `PATH_MAX`): checked before any
/// filesystem work, whose cost grows with the path.
pub const MAX_PATH_BYTES: usize = 4096;
/// Most components (`a/b/c` has 3) a requested path may have.
pub const MAX_PATH_COMPONENTS: usize = 256;
/// Most characters of a request value an error message quotes.
pub const MAX_QUOTED_CHARS: usize = 200;

/// `text` as an error message may quote it: whole when short, else its first
/// [`MAX_QUOTED_CHARS`] characters and how long it was, `abc…(1048576 bytes)`.
pub fn quoted(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(MAX_QUOTED_CHARS) {
        None => Cow::Borrowed(text),
        Some((cut, _)) => Cow::Owned(format!("{}…({} bytes)", &text[..cut], text.len())),
    }
}

/// `root/rel`, refusing absolute paths, `..` components, and symbolic links that lead outside
/// `root` (checked on the longest existing prefix, so paths yet to be created work too).
/// Paths over [`MAX_PATH_BYTES`] or [`MAX_PATH_COMPONENTS`] are refused before the
/// filesystem is touched; the rest costs one `lstat` per component. It blocks on the
/// filesystem: services call it off their async runtime.
pub fn resolve_in_root(root: &Path, rel: &str, field: &str) -> Result<PathBuf, PathError> {
    let p = check_syntax(rel, field)?;
    let escapes = || PathError::Escapes {
        field: field.into(),
        path: quoted(rel).into_owned(),
    };
    let joined = root.join(p);
    let root_real = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let existing = walk(root, p, field, rel)?;
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

/// What can be told of `rel` without the filesystem: not empty, not too long or deep, relative
/// and without `..`.
fn check_syntax<'a>(rel: &'a str, field: &str) -> Result<&'a Path, PathError> {
    if rel.trim().is_empty() {
        return Err(PathError::Empty {
            field: field.into(),
        });
    }
    if rel.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong {
            field: field.into(),
            bytes: rel.len(),
        });
    }
    let p = Path::new(rel);
    let mut count = 0;
    for c in p.components() {
        count += 1;
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => {
                return Err(PathError::Escapes {
                    field: field.into(),
                    path: quoted(rel).into_owned(),
                })
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(PathError::Absolute {
                    field: field.into(),
                    path: quoted(rel).into_owned(),
                })
            }
        }
    }
    if count > MAX_PATH_COMPONENTS {
        return Err(PathError::TooDeep {
            field: field.into(),
            count,
        });
    }
    Ok(p)
}

/// One pass down `root/p`, a component at a time: refuses a link to nothing on the way (the
/// write that creates its target would follow it, anywhere) and returns the longest prefix
/// that exists (`root` itself when none does). Past the first missing component nothing can
/// exist, so the walk stops there.
fn walk(root: &Path, p: &Path, field: &str, rel: &str) -> Result<PathBuf, PathError> {
    let mut prefix = root.to_path_buf();
    for c in p.components() {
        prefix.push(c);
        let Ok(meta) = prefix.symlink_metadata() else {
            prefix.pop();
            break;
        };
        if meta.file_type().is_symlink() && !prefix.exists() {
            return Err(PathError::Dangling {
                field: field.into(),
                path: quoted(rel).into_owned(),
            });
        }
    }
    Ok(prefix)
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
                    path: quoted(rel).into_owned(),
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
                        path: quoted(rel).into_owned(),
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

    #[test]
    fn a_megabyte_path_is_refused_at_once_and_never_echoed() {
        let d = tempfile::tempdir().unwrap();
        let t = std::time::Instant::now();
        for rel in ["a/".repeat(1 << 19), "x".repeat(1 << 20)] {
            let e = resolve_in_root(d.path(), &rel, "base_model").unwrap_err();
            assert!(matches!(e, PathError::TooLong { .. }), "{e}");
            let msg = e.to_string();
            assert!(msg.len() < 200 && msg.contains("base_model"), "{msg}");
        }
        assert!(t.elapsed().as_secs_f64() < 0.5, "took {:?}", t.elapsed());
        let deep = "a/".repeat(MAX_PATH_COMPONENTS + 1);
        assert!(matches!(
            resolve_in_root(d.path(), &deep, "f"),
            Err(PathError::TooDeep { count, .. }) if count == MAX_PATH_COMPONENTS + 1
        ));
        let ok = "a/".repeat(MAX_PATH_COMPONENTS);
        assert!(resolve_in_root(d.path(), &ok, "f").is_ok());
    }

    #[test]
    fn refused_paths_are_quoted_in_part() {
        let d = tempfile::tempdir().unwrap();
        let rel = format!("{}/../x", "y".repeat(3000));
        let msg = resolve_in_root(d.path(), &rel, "train_file")
            .unwrap_err()
            .to_string();
        assert!(msg.len() < 400, "{} bytes: {msg}", msg.len());
        assert!(
            msg.contains("field `train_file`") && msg.contains("…(3005 bytes)"),
            "{msg}"
        );
        assert_eq!(quoted("short"), "short");
        let long = "é".repeat(MAX_QUOTED_CHARS + 1);
        assert_eq!(
            quoted(&long),
            format!("{}…({} bytes)", "é".repeat(MAX_QUOTED_CHARS), long.len())
        );
    }
}

//! A run's private training state (`OUT/state/`): what a resume needs and nothing may publish.
//! Today that is the secret noise key of a private run. The folder is not a checkpoint and is
//! never named in run.json or a message; the key is removed once the run completes.

use crate::error::{Result, TrainError};
use crate::rng::NoiseKey;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The private state folder of the run in `out`.
pub fn dir(out: &Path) -> PathBuf {
    out.join("state")
}

fn key_file(out: &Path) -> PathBuf {
    dir(out).join("noise.key")
}

/// The key of the run in `out`: read back when the run has one; otherwise, when `resuming`,
/// an error (a resume without its key could not redo its steps bit for bit), else a fresh key,
/// written (owner-only) before the first step draws from it.
pub fn noise_key(out: &Path, resuming: bool) -> Result<NoiseKey> {
    let file = key_file(out);
    match read_key(&file)? {
        Some(k) => Ok(k),
        None if resuming => Err(TrainError::config(
            &file,
            "this private run's secret noise key is missing, so it cannot resume the steps it \
             took; restore the run folder's `state/` or train into a new folder",
        )),
        None => {
            let k = NoiseKey::fresh()?;
            write_private(&file, hex(&k.0).as_bytes())?;
            Ok(k)
        }
    }
}

/// Remove the key of a finished run (nothing will draw from it again).
pub fn forget_key(out: &Path) {
    let file = key_file(out);
    match std::fs::remove_file(&file) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(file = %file.display(), "could not remove the noise key: {e}"),
    }
}

fn read_key(file: &Path) -> Result<Option<NoiseKey>> {
    // O_NOFOLLOW: a link planted in place of the key is refused, not followed.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(file);
    let mut f = match f {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(TrainError::io(file, e)),
    };
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(&mut f, 128), &mut text)
        .map_err(|e| TrainError::io(file, e))?;
    let bad = || TrainError::config(file, "not a noise key (64 hexadecimal digits)");
    let text = text.trim();
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let mut k = [0u8; 32];
    for (i, b) in k.iter_mut().enumerate() {
        *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(Some(NoiseKey(k)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Write `bytes` to `file` readable by the owner only, atomically (temp file, fsync, rename).
fn write_private(file: &Path, bytes: &[u8]) -> Result<()> {
    let parent = file.parent().expect("a file in the state folder");
    std::fs::create_dir_all(parent).map_err(|e| TrainError::io(parent, e))?;
    let tmp = parent.join(format!(".noise.key.tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .map_err(|e| TrainError::io(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| TrainError::io(&tmp, e))?;
    std::fs::rename(&tmp, file).map_err(|e| TrainError::io(file, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_key_is_made_once_read_back_private_and_forgotten() {
        let d = tempfile::tempdir().unwrap();
        let e = noise_key(d.path(), true).unwrap_err().to_string();
        assert!(e.contains("noise key is missing"), "{e}");
        let k = noise_key(d.path(), false).unwrap();
        assert_eq!(noise_key(d.path(), true).unwrap(), k);
        let mode = std::fs::metadata(key_file(d.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
        forget_key(d.path());
        assert!(!key_file(d.path()).exists());
    }

    #[test]
    fn a_bad_or_linked_key_is_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir(d.path())).unwrap();
        std::fs::write(key_file(d.path()), "zz").unwrap();
        let e = noise_key(d.path(), true).unwrap_err().to_string();
        assert!(e.contains("not a noise key"), "{e}");
        std::fs::remove_file(key_file(d.path())).unwrap();
        let other = d.path().join("elsewhere");
        std::fs::write(&other, "ab".repeat(32)).unwrap();
        std::os::unix::fs::symlink(&other, key_file(d.path())).unwrap();
        assert!(noise_key(d.path(), true).is_err());
    }
}

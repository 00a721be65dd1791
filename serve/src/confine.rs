//! Confinement of a service's work to its data root, by the kernel (Landlock).
//!
//! A path checked when a request arrives can be swapped for a link before the work uses it,
//! and any file a run reads back (run.json, a checkpoint) can name another. Rather than one
//! more string check, the thread that does a request's work is restricted with Landlock: it
//! (and every thread it starts) may read, write, create and delete only beneath the data root,
//! and only read the system's and the process's own libraries (`/usr`, `/lib*`, the folders of
//! every library already loaded, for libraries loaded lazily such as cuDNN's), `/proc`, `/sys`
//! and `/dev` (devices: the GPU). Every open is then checked by the kernel at the moment of
//! use, whatever a link or a file on disk says. File descriptors opened before (logs, sockets)
//! are unaffected; the restriction cannot be lifted, so each job runs on a thread of its own.
//!
//! A kernel without Landlock (before 5.13, or with it disabled) runs the work unconfined
//! after one warning, with the request-time checks of `triad_lm::paths` alone.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Why a thread could not be confined.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    #[error("confining the work to the data root ({what}): {source}")]
    Os {
        what: &'static str,
        source: std::io::Error,
    },
}

/// What [`confine_current_thread`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confinement {
    /// Enforced by the kernel (Landlock ABI version).
    Enforced(u32),
    /// The kernel has no Landlock: not enforced.
    Unsupported,
}

// Landlock's filesystem rights (include/uapi/linux/landlock.h).
const EXECUTE: u64 = 1 << 0;
const WRITE_FILE: u64 = 1 << 1;
const READ_FILE: u64 = 1 << 2;
const READ_DIR: u64 = 1 << 3;
const REFER: u64 = 1 << 13;
const TRUNCATE: u64 = 1 << 14;
/// Rights of ABI 1: bits 0 (execute) to 12 (make symlink).
const ABI1: u64 = (1 << 13) - 1;
const READ: u64 = EXECUTE | READ_FILE | READ_DIR;
const CREATE_RULESET_VERSION: u32 = 1;
const RULE_PATH_BENEATH: libc::c_int = 1;

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
}

#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// Run `work` on a thread of its own confined to `roots` (the data root, and any other folder
/// the service owns, such as a cache; see the module), and return what it returns. A panic in
/// `work` is resumed on the caller's thread.
pub fn confined<T: Send>(
    roots: &[&Path],
    work: impl FnOnce() -> T + Send,
) -> Result<T, ConfineError> {
    std::thread::scope(|s| {
        let h = s.spawn(|| confine_current_thread(roots).map(|_| work()));
        h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// Restrict the calling thread (and threads it starts later) to `roots` as the module says.
pub fn confine_current_thread(roots: &[&Path]) -> Result<Confinement, ConfineError> {
    let abi = match abi_version() {
        Some(v) => v,
        None => {
            warn_once();
            return Ok(Confinement::Unsupported);
        }
    };
    let mut handled = ABI1;
    if abi >= 2 {
        handled |= REFER;
    }
    if abi >= 3 {
        handled |= TRUNCATE;
    }
    let ruleset = create_ruleset(handled)?;
    for root in roots {
        add_rule(&ruleset, root, handled, true)?;
    }
    for dir in read_only_dirs() {
        add_rule(&ruleset, &dir, READ & handled, false)?;
    }
    // Devices (a GPU is opened read-write), never created or removed.
    add_rule(&ruleset, Path::new("/dev"), READ_FILE | WRITE_FILE, false)?;
    restrict_self(&ruleset)?;
    Ok(Confinement::Enforced(abi))
}

/// Whether this kernel enforces the confinement (for tests and the startup log).
pub fn available() -> bool {
    abi_version().is_some()
}

fn os(what: &'static str) -> ConfineError {
    ConfineError::Os {
        what,
        source: std::io::Error::last_os_error(),
    }
}

fn abi_version() -> Option<u32> {
    // SAFETY: the version query takes no attribute pointer.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            CREATE_RULESET_VERSION,
        )
    };
    (v > 0).then_some(v as u32)
}

fn create_ruleset(handled: u64) -> Result<OwnedFd, ConfineError> {
    let attr = RulesetAttr {
        handled_access_fs: handled,
    };
    // SAFETY: `attr` lives across the call and its size is passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            &attr as *const RulesetAttr,
            std::mem::size_of::<RulesetAttr>(),
            0u32,
        )
    };
    if fd < 0 {
        return Err(os("landlock_create_ruleset"));
    }
    // SAFETY: the kernel returned a new descriptor this function now owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Allow `access` beneath `dir`; a missing folder is skipped unless `required`.
fn add_rule(
    ruleset: &OwnedFd,
    dir: &Path,
    access: u64,
    required: bool,
) -> Result<(), ConfineError> {
    let Ok(c) = CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return Err(ConfineError::Os {
            what: "a folder name with a NUL byte",
            source: std::io::ErrorKind::InvalidInput.into(),
        });
    };
    // SAFETY: a NUL-terminated path; O_PATH opens without reading.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        return match required {
            true => Err(os("opening a folder the work may use")),
            false => Ok(()),
        };
    }
    // SAFETY: a descriptor this function owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let attr = PathBeneathAttr {
        allowed_access: access,
        parent_fd: fd.as_raw_fd(),
    };
    // SAFETY: both descriptors are open; `attr` lives across the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset.as_raw_fd(),
            RULE_PATH_BENEATH,
            &attr as *const PathBeneathAttr,
            0u32,
        )
    };
    if r < 0 {
        return Err(os("landlock_add_rule"));
    }
    Ok(())
}

fn restrict_self(ruleset: &OwnedFd) -> Result<(), ConfineError> {
    // SAFETY: plain prctl and Landlock calls on an open ruleset descriptor.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(os("no_new_privs"));
        }
        if libc::syscall(libc::SYS_landlock_restrict_self, ruleset.as_raw_fd(), 0u32) != 0 {
            return Err(os("landlock_restrict_self"));
        }
    }
    Ok(())
}

/// The system's library folders, `/proc`, `/sys`, and the folder of every file the process
/// has mapped (its executable and shared libraries, wherever they were installed).
fn read_only_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = ["/usr", "/lib", "/lib64", "/proc", "/sys"]
        .iter()
        .map(PathBuf::from)
        .collect();
    if let Ok(maps) = std::fs::read_to_string("/proc/self/maps") {
        for line in maps.lines() {
            // Shared objects only: anonymous maps (`/memfd:…`) or deleted files must not open
            // `/` or `/dev/shm` for reading.
            let Some(p) = line.split_whitespace().nth(5) else {
                continue;
            };
            let so = p.starts_with('/') && (p.ends_with(".so") || p.contains(".so."));
            match Path::new(p).parent() {
                Some(parent) if so && parent.components().count() > 2 && parent.is_dir() => {
                    dirs.push(parent.to_path_buf())
                }
                _ => {}
            }
        }
    }
    dirs.sort();
    dirs.dedup();
    dirs
}

fn warn_once() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        tracing::warn!(
            "this kernel has no Landlock: requests' file access is confined by path checks \
             only, not by the kernel"
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_confined_thread_reaches_the_root_and_nothing_else() {
        let d = tempfile::tempdir().unwrap();
        let (root, outside) = (d.path().join("root"), d.path().join("outside"));
        std::fs::create_dir_all(root.join("run")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret"), "s").unwrap();
        std::fs::write(outside.join("victim"), "v").unwrap();
        // A link planted under the root, as a client that can write there would.
        std::os::unix::fs::symlink(&outside, root.join("run/ckpt")).unwrap();
        let r = confined(&[&root], || {
            let inside = std::fs::write(root.join("run/ok.txt"), "x").is_ok()
                && std::fs::read(root.join("run/ok.txt")).is_ok()
                && std::fs::rename(root.join("run/ok.txt"), root.join("ok2.txt")).is_ok()
                && std::fs::remove_file(root.join("ok2.txt")).is_ok();
            let read_out = std::fs::read(root.join("run/ckpt/secret")).is_ok();
            let delete_out = std::fs::remove_file(root.join("run/ckpt/victim")).is_ok();
            let write_out = std::fs::write(outside.join("new"), "n").is_ok();
            // A thread started by the confined one is confined too.
            let child = std::thread::spawn({
                let o = outside.clone();
                move || std::fs::read(o.join("secret")).is_ok()
            })
            .join()
            .unwrap();
            (inside, read_out, delete_out, write_out, child)
        })
        .unwrap();
        if abi_version().is_none() {
            eprintln!("no Landlock on this kernel: nothing to check");
            return;
        }
        assert_eq!(r, (true, false, false, false, false));
        assert!(outside.join("victim").exists());
        // The caller's own thread is not restricted.
        assert!(std::fs::read(outside.join("secret")).is_ok());
    }
}

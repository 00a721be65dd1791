//! One trainer per output folder: an exclusive `flock` on `OUT/.lock`, held for the run and
//! released by the kernel when the process ends (a SIGKILL leaves no stale lock behind).

use crate::error::{Result, TrainError};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub struct RunLock(#[allow(dead_code)] std::fs::File);

impl RunLock {
    pub fn acquire(out: &Path) -> Result<RunLock> {
        let path = out.join(".lock");
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| TrainError::io(&path, e))?;
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(TrainError::Invalid(format!(
                    "another trainer is running in {}; wait for it, or train into another folder",
                    out.display()
                )));
            }
            return Err(TrainError::io(&path, e));
        }
        Ok(RunLock(f))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_second_lock_on_one_folder_is_refused_until_the_first_goes() {
        let d = tempfile::tempdir().unwrap();
        let a = super::RunLock::acquire(d.path()).unwrap();
        let e = super::RunLock::acquire(d.path()).err().unwrap().to_string();
        assert!(e.contains("another trainer is running"), "{e}");
        drop(a);
        assert!(super::RunLock::acquire(d.path()).is_ok());
    }
}

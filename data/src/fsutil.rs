//! File helpers: atomic writes (temp file in the same directory, fsync, rename), so a crash
//! never leaves a half-written output where a complete one is expected; content hashes that
//! tie a result to the files it came from.

use crate::error::{DataError, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// A file being written atomically. Data goes to `<name>.<pid>.tmp`; `commit` renames it into place.
/// Dropped without `commit`, the temp file is removed and the target is untouched.
pub struct AtomicFile {
    target: PathBuf,
    tmp: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    pub fn create(target: impl AsRef<Path>) -> Result<Self> {
        let target = target.as_ref().to_path_buf();
        let name = target
            .file_name()
            .ok_or_else(|| DataError::invalid(&target, "not a file path"))?
            .to_string_lossy()
            .into_owned();
        let tmp = target.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let file = File::create(&tmp).map_err(|e| DataError::io(&tmp, e))?;
        Ok(Self {
            target,
            tmp,
            writer: Some(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer.as_mut().expect("writer present until commit")
    }

    pub fn path(&self) -> &Path {
        &self.target
    }

    pub fn commit(mut self) -> Result<()> {
        let writer = self.writer.take().expect("commit once");
        let file = writer
            .into_inner()
            .map_err(|e| DataError::io(&self.tmp, e.into_error()))?;
        file.sync_all().map_err(|e| DataError::io(&self.tmp, e))?;
        drop(file);
        std::fs::rename(&self.tmp, &self.target).map_err(|e| DataError::io(&self.target, e))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.writer().flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.is_some() {
            self.writer = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Write `bytes` to `path` atomically.
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    let tmp = f.tmp.clone();
    f.writer()
        .write_all(bytes)
        .map_err(|e| DataError::io(tmp, e))?;
    f.commit()
}

/// Read a whole file, naming it in the error.
pub fn read(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    let path = path.as_ref();
    std::fs::read(path).map_err(|e| DataError::io(path, e))
}

/// Read and parse a JSON file, naming it in the error.
pub fn read_json(path: impl AsRef<Path>) -> Result<serde_json::Value> {
    let path = path.as_ref();
    let bytes = read(path)?;
    serde_json::from_slice(&bytes).map_err(|source| DataError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Lowercase hex SHA-256 of a file's bytes, read in a stream (training files and weights can
/// be larger than memory).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut File::open(path)?, &mut hasher)?;
    Ok(hex(&hasher.finalize()))
}

/// Bytes as lowercase hex (the form of every digest Triad writes).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_dropped_write_leaves_target() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.txt");
        write_atomic(&p, b"one").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        {
            let mut f = AtomicFile::create(&p).unwrap();
            f.write_all(b"half-written").unwrap();
            // dropped without commit
        }
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temp file cleaned up");
    }

    #[test]
    fn sha256_file_is_the_standard_digest_of_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        // FIPS 180-2's test vector for "abc"; `sha256sum` agrees.
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // Longer than any read buffer: streamed, the same as hashing it whole.
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &big).unwrap();
        use sha2::Digest;
        assert_eq!(sha256_file(&p).unwrap(), hex(&sha2::Sha256::digest(&big)));
        let e = sha256_file(&dir.path().join("missing")).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    }
}

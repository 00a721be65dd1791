//! Test helpers: the project venv's Python (the reference implementations live there).

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `$TRIAD_PYTHON`, else `<workspace>/.venv/bin/python` (created by `make setup`).
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TRIAD_PYTHON") {
        return p.into();
    }
    let p = workspace_root().join(".venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run `make setup` first",
        p.display()
    );
    p
}

/// Run a script from `tests/oracles/` with the venv's Python, panicking with its stderr on failure.
pub fn run_oracle(script: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(workspace_root().join("tests/oracles").join(script))
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .env("TRANSFORMERS_VERBOSITY", "error")
        .output()
        .expect("start python");
    assert!(
        out.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

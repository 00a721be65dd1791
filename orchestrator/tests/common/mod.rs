//! Helpers shared by the CLI tests: run the `triad` binary, and SmolLM2 imported once.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Run `triad` and require success.
pub fn triad(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_triad"))
        .args(args)
        .output()
        .expect("run triad");
    assert!(
        out.status.success(),
        "triad {args:?}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// SmolLM2 imported once into .cache/models (atomically: import elsewhere, then rename).
pub fn smollm2() -> PathBuf {
    // Tests of one binary share a process id: one import at a time within it (other
    // processes import into their own folder and lose the rename race harmlessly).
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|p| p.into_inner());
    let root = triad_tests::workspace_root();
    let dir = root.join(".cache/models/smollm2-135m");
    if !dir.join("config.json").exists() {
        let tmp = root.join(format!(
            ".cache/models/.smollm2-135m.{}",
            std::process::id()
        ));
        triad(&[
            "model",
            "import-gguf",
            triad_tests::smollm2_gguf().to_str().unwrap(),
            tmp.to_str().unwrap(),
        ]);
        if std::fs::rename(&tmp, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&tmp); // another test won the race
        }
    }
    dir
}

/// A tiny random Llama with the GPT-NeoX tokenizer (tests/oracles/tiny_lm_with_tokenizer.py),
/// made in `dir/tiny`.
pub fn tiny_model(dir: &Path) -> PathBuf {
    let model = dir.join("tiny");
    triad_tests::run_oracle(
        "tiny_lm_with_tokenizer.py",
        &[
            model.to_str().unwrap(),
            triad_tests::neox_tokenizer().to_str().unwrap(),
        ],
    );
    model
}

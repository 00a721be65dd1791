//! Helpers shared by the CLI tests: run the `triad` binary, and SmolLM2 imported once.

#![allow(dead_code)]

use std::path::PathBuf;
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

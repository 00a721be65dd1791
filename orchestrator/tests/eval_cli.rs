//! `triad eval` against an independent computation from transformers' per-token log-probs, and
//! its base-score cache.

use std::path::PathBuf;
use std::process::Command;

fn triad(args: &[&str]) -> std::process::Output {
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

fn smollm2() -> PathBuf {
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
            let _ = std::fs::remove_dir_all(&tmp);
        }
    }
    dir
}

#[test]
fn cells_privacy_loss_and_utility_match_transformers() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    triad(&[
        "data",
        "generate",
        "customer-support",
        "--train",
        "5",
        "--test",
        "4",
        "--seed",
        "31",
        "--out",
        data.to_str().unwrap(),
    ]);
    let (train, test) = (data.join("train.jsonl"), data.join("test.jsonl"));
    let base = smollm2();
    let adapter = tmp.path().join("adapter");
    let reference = triad_tests::run_oracle(
        "eval_reference.py",
        &[
            base.to_str().unwrap(),
            train.to_str().unwrap(),
            test.to_str().unwrap(),
            adapter.to_str().unwrap(),
        ],
    );
    let want: serde_json::Value = serde_json::from_str(reference.lines().last().unwrap()).unwrap();
    let out = tmp.path().join("metrics.json");
    let args = [
        "eval",
        "--base",
        base.to_str().unwrap(),
        "--adapter",
        adapter.to_str().unwrap(),
        "--train",
        train.to_str().unwrap(),
        "--test",
        test.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--device",
        "cpu",
    ];
    triad(&args);
    let got: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(got["base_scores_cached"], false);
    let close = |a: &serde_json::Value, b: &serde_json::Value, what: &str| {
        let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
        assert!(
            (a - b).abs() <= 1e-4,
            "{what}: triad {a} vs transformers {b}"
        );
    };
    for split in ["train", "test"] {
        for cell in ["sensitive", "non_sensitive"] {
            let (g, w) = (&got[split][cell], &want[split][cell]);
            assert_eq!(g["tokens"], w["tokens"], "{split}/{cell} token count");
            close(&g["nll"], &w["nll"], &format!("{split}/{cell} nll"));
            close(
                &g["nll_base"],
                &w["nll_base"],
                &format!("{split}/{cell} nll_base"),
            );
        }
    }
    close(&got["privacy_loss"], &want["privacy_loss"], "privacy loss");
    close(&got["utility"]["nll"], &want["utility_nll"], "utility");
    close(
        &got["utility"]["gain"],
        &want["utility_gain"],
        "utility gain",
    );
    close(
        &got["memorisation_gap"],
        &want["memorisation_gap"],
        "memorisation gap",
    );
    assert!(
        got["privacy_loss"].as_f64().unwrap().abs() > 1e-4,
        "the adapter must change something"
    );

    // A second evaluation against the same base reuses the cached base scores.
    let t = std::time::Instant::now();
    triad(&args);
    let again: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(again["base_scores_cached"], true);
    assert_eq!(again["privacy_loss"], got["privacy_loss"]);
    println!(
        "second evaluation (cached base scores): {:.1}s",
        t.elapsed().as_secs_f64()
    );
}

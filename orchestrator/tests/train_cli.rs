//! `triad train` end to end on SmolLM2: LoRA adapters PEFT loads as they are, full fine-tuning
//! checkpoints transformers loads, and resumption after a SIGKILL.

use std::path::{Path, PathBuf};
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

/// SmolLM2 imported once into .cache/models (atomically: import elsewhere, then rename).
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
            let _ = std::fs::remove_dir_all(&tmp); // another test won the race
        }
    }
    dir
}

fn write_config(dir: &Path, name: &str, method: &str, extra: &str) -> PathBuf {
    let model = smollm2();
    let cfg = format!(
        r#"model = "{}"
train_file = "data/train.jsonl"
method = "{method}"
batch_size = 4
max_length = 48
device = "cpu"
seed = 3
{extra}
[optimizer]
lr = 0.01
"#,
        model.display()
    );
    let p = dir.join(name);
    std::fs::write(&p, cfg).unwrap();
    p
}

fn data(dir: &Path, n: &str) {
    triad(&[
        "data",
        "generate",
        "customer-support",
        "--train",
        n,
        "--test",
        "4",
        "--seed",
        "8",
        "--out",
        dir.join("data").to_str().unwrap(),
    ]);
}

#[test]
fn lora_adapter_loads_in_peft_with_equal_logits() {
    let tmp = tempfile::tempdir().unwrap();
    data(tmp.path(), "8");
    let cfg = write_config(tmp.path(), "lora.toml", "lora", "steps = 2\n[lora]\nr = 4\nalpha = 8\ntarget_modules = [\"q_proj\", \"k_proj\", \"v_proj\", \"o_proj\", \"down_proj\"]");
    let out = tmp.path().join("run");
    triad(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(record["status"], "completed");
    assert_eq!(record["steps_done"], 2);
    let adapter = PathBuf::from(record["final_checkpoint"].as_str().unwrap());
    let scores = tmp.path().join("scores.jsonl");
    let model = smollm2();
    triad(&[
        "model",
        "score",
        "--model",
        model.to_str().unwrap(),
        "--adapter",
        adapter.to_str().unwrap(),
        "--input",
        tmp.path().join("data/test.jsonl").to_str().unwrap(),
        "--output",
        scores.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    let report = triad_tests::run_oracle(
        "peft_logprobs.py",
        &[
            model.to_str().unwrap(),
            adapter.to_str().unwrap(),
            scores.to_str().unwrap(),
        ],
    );
    let r: serde_json::Value = serde_json::from_str(report.lines().last().unwrap()).unwrap();
    println!("{r}");
    assert_eq!(r["lora_modules"], 30 * 5, "PEFT attached every adapter");
    let d = r["max_abs_diff"].as_f64().unwrap();
    assert!(
        d <= 1e-4,
        "PEFT vs triad score --adapter: max |Δ logprob| = {d}"
    );
    // And the adapter matters: scores differ from the base model's.
    let base_scores = tmp.path().join("base.jsonl");
    triad(&[
        "model",
        "score",
        "--model",
        model.to_str().unwrap(),
        "--input",
        tmp.path().join("data/test.jsonl").to_str().unwrap(),
        "--output",
        base_scores.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert_ne!(
        std::fs::read(&scores).unwrap(),
        std::fs::read(&base_scores).unwrap()
    );
}

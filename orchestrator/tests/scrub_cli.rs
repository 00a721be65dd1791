//! Scrubbing and redact-then-DP end to end through the CLI, on a tiny model.
//!
//! - A scrub that misses a kind of secret leaks exactly that kind: with only names, e-mails,
//!   phones and addresses masked (a deliberately weak scrub), full fine-tuning exposes the
//!   canaries' PINs and shows privacy loss; with every labelled span masked, the canaries and
//!   extraction stay at the base model's.
//! - Redact-then-DP: ε is phase 2's alone (the plain DP run's, to the bit), and a SIGKILL in
//!   either phase resumes to the uninterrupted run's weights, loss curve and ε.

mod common;
use common::triad;
use std::path::{Path, PathBuf};
use std::process::Command;

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn generate(dir: &Path, train: &str, canaries: &str) {
    triad(&[
        "data",
        "generate",
        "customer-support",
        "--train",
        train,
        "--test",
        "24",
        "--seed",
        "43",
        "--canaries",
        canaries,
        "--canary-repeats",
        "10",
        "--out",
        dir.join("data").to_str().unwrap(),
    ]);
}

/// A tiny model whose tokenizer (digits one token each) was trained on the data.
fn tiny_model(dir: &Path) -> PathBuf {
    let tok = dir.join("tokenizer.json");
    triad_tests::run_oracle(
        "digit_tokenizer.py",
        &[
            tok.to_str().unwrap(),
            dir.join("data/train.jsonl").to_str().unwrap(),
        ],
    );
    let model = dir.join("tiny");
    triad_tests::run_oracle(
        "tiny_lm_with_tokenizer.py",
        &[model.to_str().unwrap(), tok.to_str().unwrap()],
    );
    model
}

fn config(dir: &Path, name: &str, model: &Path, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(
            "model = \"{}\"\ntrain_file = \"data/train.jsonl\"\ndevice = \"cpu\"\nseed = 3\n{body}",
            model.display()
        ),
    )
    .unwrap();
    p
}

fn train(cfg: &Path, out: &Path) -> serde_json::Value {
    triad(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    json(&out.join("run.json"))
}

fn evaluate(dir: &Path, model: &Path, checkpoint: &str, out: &str) -> serde_json::Value {
    let out = dir.join(out);
    let data = dir.join("data");
    triad(&[
        "eval",
        "--base",
        model.to_str().unwrap(),
        "--checkpoint",
        checkpoint,
        "--train",
        data.join("train.jsonl").to_str().unwrap(),
        "--test",
        data.join("test.jsonl").to_str().unwrap(),
        "--canaries",
        data.join("canaries.jsonl").to_str().unwrap(),
        "--exposure-samples",
        "500",
        "--out",
        out.to_str().unwrap(),
        "--device",
        "cpu",
        "--cache-dir",
        "none",
    ]);
    json(&out)
}

fn ci(v: &serde_json::Value) -> (f64, f64) {
    (v[0].as_f64().unwrap(), v[1].as_f64().unwrap())
}

#[test]
fn a_scrub_leaks_what_it_misses_and_nothing_when_it_misses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    generate(dir, "24", "4");
    let model = tiny_model(dir);
    let strong = "method = \"full\"\nepochs = 20\nbatch_size = 8\nmax_length = 256\n\
                  checkpoint.every_epoch = false\n[optimizer]\nlr = 5e-3\n";
    let weak = config(
        dir,
        "weak.toml",
        &model,
        &format!(
            "{strong}[scrub]\nmode = \"mask\"\nlabels = [\"NAME\", \"EMAIL\", \"PHONE\", \"ADDRESS\"]\n"
        ),
    );
    let all = config(
        dir,
        "all.toml",
        &model,
        &format!("{strong}[scrub]\nmode = \"mask\"\n"),
    );
    let (weak_run, all_run) = (
        train(&weak, &dir.join("weak")),
        train(&all, &dir.join("all")),
    );
    // The real tagger, which has no rule for an account PIN: what a team without labels gets.
    let tagger = config(
        dir,
        "tagger.toml",
        &model,
        &format!("{strong}[scrub]\nmode = \"mask\"\nspans = \"tagger\"\n"),
    );
    let tagger_run = train(&tagger, &dir.join("tagger"));
    let pins = tagger_run["scrub"]["tagger"]["by_label"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["label"] == "PIN")
        .unwrap()
        .clone();
    assert_eq!(pins["caught"], 0, "the tagger now finds PINs: {pins}");
    // The run records say what was replaced: the weak scrub left the PINs (and more) alone.
    let replaced = |r: &serde_json::Value| -> Vec<String> {
        r["scrub"]["replaced_by_label"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["label"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(replaced(&weak_run), ["ADDRESS", "EMAIL", "NAME", "PHONE"]);
    assert!(replaced(&all_run).contains(&"PIN".to_string()));
    assert_eq!(weak_run["scrub"]["mode"], "mask");

    let base = evaluate(dir, &model, model.to_str().unwrap(), "base.json");
    let at = |r: &serde_json::Value| r["final_checkpoint"].as_str().unwrap().to_string();
    let weak_m = evaluate(dir, &model, &at(&weak_run), "weak.json");
    let all_m = evaluate(dir, &model, &at(&all_run), "all.json");
    let tagger_m = evaluate(dir, &model, &at(&tagger_run), "tagger.json");
    let exposure = |m: &serde_json::Value| {
        (
            m["exposure"]["mean_exposure"].as_f64().unwrap(),
            ci(&m["exposure"]["mean_exposure_ci95"]),
        )
    };
    let (b, (b_lo, b_hi)) = exposure(&base);
    let (w, (w_lo, _)) = exposure(&weak_m);
    let (a, _) = exposure(&all_m);
    let extraction = |m: &serde_json::Value| m["extraction"]["train"]["rate"].as_f64().unwrap();
    let (b_x_lo, b_x_hi) = ci(&base["extraction"]["train"]["rate_ci95"]);
    println!(
        "canary exposure (bits): base {b:.2} [{b_lo:.2}, {b_hi:.2}], weak scrub {w:.2} (from {w_lo:.2}), \
         every span masked {a:.2}; privacy loss weak {} {}, all {} {}; extraction base {} weak {} all {}",
        weak_m["privacy_loss"],
        weak_m["privacy_loss_ci95"],
        all_m["privacy_loss"],
        all_m["privacy_loss_ci95"],
        extraction(&base),
        extraction(&weak_m),
        extraction(&all_m)
    );
    // What the weak scrub missed reached the model: the PINs are exposed, far above the base.
    assert!(
        w_lo > b_hi,
        "weak scrub: exposure {w} [{w_lo}, …] vs base up to {b_hi}"
    );
    // So did what the real tagger missed.
    let (t, (t_lo, _)) = exposure(&tagger_m);
    println!("tagger scrub: exposure {t:.2} (from {t_lo:.2})");
    assert!(
        t_lo > b_hi,
        "tagger scrub: exposure {t} [{t_lo}, …] vs base up to {b_hi}"
    );
    let (pl_lo, _) = ci(&weak_m["privacy_loss_ci95"]);
    assert!(
        pl_lo > 0.0,
        "weak scrub: privacy loss {}",
        weak_m["privacy_loss"]
    );
    // Every labelled span masked: canaries and extraction inside the base's intervals.
    assert!(
        (b_lo..=b_hi).contains(&a),
        "masked: exposure {a} vs base [{b_lo}, {b_hi}]"
    );
    let x = extraction(&all_m);
    assert!(
        (b_x_lo..=b_x_hi).contains(&x),
        "masked: extraction {x} vs base [{b_x_lo}, {b_x_hi}]"
    );
}

/// Start `triad train` and SIGKILL it once `watch` (a run.json) records an epoch while the
/// run is still going.
fn kill_once_checkpointed(cfg: &Path, out: &Path, watch: &Path) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_triad"))
        .args(["train", "--config"])
        .arg(cfg)
        .arg("--out")
        .arg(out)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let epochs = std::fs::read(watch)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .map_or(0, |v| v["epochs"].as_array().map_or(0, |a| a.len()));
        if epochs >= 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint in 5 minutes"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn redact_then_dp_spends_phase_twos_epsilon_and_resumes_identically_in_either_phase() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    generate(dir, "64", "2");
    let model = tiny_model(dir);
    let dp = "method = \"dp\"\nepochs = 4\nbatch_size = 8\nmax_length = 64\n\
              [optimizer]\nlr = 1e-2\n[dp]\nnoise_multiplier = 1.0\nmax_grad_norm = 1.0\n\
              reproducible_noise = true\n";
    let redact = "[redact]\nmethod = \"full\"\nepochs = 3\nlr = 1e-2\n";
    let plain_cfg = config(dir, "dp.toml", &model, dp);
    let cfg = config(dir, "redact.toml", &model, &format!("{dp}{redact}"));
    let plain = train(&plain_cfg, &dir.join("plain"));
    // DP with a scrub: a per-record ε, so run.json publishes no count of the data.
    let scrubbed_dp = config(
        dir,
        "dp-scrub.toml",
        &model,
        &format!("{dp}[scrub]\nmode = \"mask\"\n"),
    );
    let s = train(&scrubbed_dp, &dir.join("dp-scrub"))["scrub"].clone();
    assert_eq!(s["counts_withheld"], true, "{s}");
    assert_eq!(
        (s["records"].as_u64(), s["spans_replaced"].as_u64()),
        (Some(0), Some(0)),
        "{s}"
    );
    assert!(s["replaced_by_label"].as_array().unwrap().is_empty() && s["tagger"].is_null());
    let straight = train(&cfg, &dir.join("straight"));
    // ε, σ and q are the DP phase's alone: the plain DP run's, exactly.
    for k in [
        "epsilon",
        "epsilon_rdp",
        "epsilon_pld",
        "noise_multiplier",
        "sampling_rate",
    ] {
        assert_eq!(straight[k], plain[k], "{k}");
    }
    assert_eq!(straight["redact"]["method"], "full");
    assert_eq!(straight["redact"]["scrub"]["mode"], "mask");
    assert!(straight["redact"]["steps"].as_u64().unwrap() > 0);
    // Phase 2 started from phase 1's weights: not the plain run's result.
    let weights = |r: &serde_json::Value| {
        std::fs::read(Path::new(r["final_checkpoint"].as_str().unwrap()).join("model.safetensors"))
            .unwrap()
    };
    assert_ne!(weights(&straight), weights(&plain));
    // The base identity binds evaluations to the original base model, not phase 1's weights.
    assert_eq!(straight["base_model_sha256"], plain["base_model_sha256"]);

    // A LoRA phase 1: its adapter merged into full weights that phase 2 starts from.
    let lora_cfg = config(
        dir,
        "redact-lora.toml",
        &model,
        &format!("{dp}[redact]\nmethod = \"lora\"\nepochs = 1\nlr = 1e-2\n[redact.lora]\nr = 4\n"),
    );
    let lora = train(&lora_cfg, &dir.join("redact-lora"));
    assert_eq!(lora["redact"]["method"], "lora");
    assert_eq!(lora["epsilon"], plain["epsilon"]);
    assert!(dir
        .join("redact-lora/phase1/merged/model.safetensors")
        .is_file());
    assert_ne!(weights(&lora), weights(&plain));
    assert_ne!(weights(&lora), weights(&straight));

    for (phase, watch) in [("phase 1", "phase1/run.json"), ("phase 2", "run.json")] {
        let out = dir.join(format!("killed-{}", &phase[6..]));
        kill_once_checkpointed(&cfg, &out, &out.join(watch));
        let killed = json(&out.join(watch));
        assert_eq!(
            killed["status"], "running",
            "{phase}: the kill came too late"
        );
        let resumed = train(&cfg, &out);
        for k in ["loss_curve", "epsilon", "steps_done", "redact"] {
            let (mut a, mut b) = (straight[k].clone(), resumed[k].clone());
            if k == "redact" {
                // Phase 1's wall time is the attempts' sum: the one field that may differ.
                a["wall_time_s"] = 0.into();
                b["wall_time_s"] = 0.into();
            }
            assert_eq!(a, b, "{phase}: {k} differs after the kill");
        }
        assert!(
            weights(&straight) == weights(&resumed),
            "{phase}: final weights differ"
        );
    }
}

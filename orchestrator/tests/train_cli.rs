//! `triad train` end to end on SmolLM2: LoRA adapters PEFT loads as they are, full fine-tuning
//! checkpoints transformers loads, and resumption after a SIGKILL.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{smollm2, triad};

fn write_config(dir: &Path, name: &str, method: &str, extra: &str) -> PathBuf {
    write_config_for(&smollm2(), dir, name, method, extra)
}

fn write_config_for(model: &Path, dir: &Path, name: &str, method: &str, extra: &str) -> PathBuf {
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

/// Mean NLL of `file` under `model` (optionally + adapter), via `triad model score`.
fn heldout_nll(model: &Path, file: &Path, tmp: &Path) -> f64 {
    let out = tmp.join(format!(
        "scores-{}.jsonl",
        model.file_name().unwrap().to_string_lossy()
    ));
    triad(&[
        "model",
        "score",
        "--model",
        model.to_str().unwrap(),
        "--input",
        file.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    let (mut sum, mut n) = (0.0, 0usize);
    for line in std::fs::read_to_string(&out).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for lp in v["logprobs"].as_array().unwrap().iter().skip(1) {
            sum -= lp.as_f64().unwrap();
            n += 1;
        }
    }
    sum / n as f64
}

fn record(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("run.json")).unwrap()).unwrap()
}

#[test]
fn full_fine_tuning_lowers_heldout_loss_and_dp_at_eps_8_is_stable() {
    let tmp = tempfile::tempdir().unwrap();
    triad(&[
        "data",
        "generate",
        "customer-support",
        "--train",
        "32",
        "--test",
        "12",
        "--seed",
        "21",
        "--out",
        tmp.path().join("data").to_str().unwrap(),
    ]);
    let test = tmp.path().join("data/test.jsonl");
    let base = heldout_nll(&smollm2(), &test, tmp.path());

    let cfg = write_config(
        tmp.path(),
        "full.toml",
        "full",
        "epochs = 2\ncheckpoint.every_epoch = false",
    );
    let cfg_text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("lr = 0.01", "lr = 5e-5");
    std::fs::write(&cfg, cfg_text).unwrap();
    let out = tmp.path().join("full");
    triad(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let r = record(&out);
    let ckpt = PathBuf::from(r["final_checkpoint"].as_str().unwrap());
    assert!(ckpt.join("model.safetensors").is_file() && ckpt.join("config.json").is_file());
    let tuned = heldout_nll(&ckpt, &test, tmp.path());
    println!("held-out NLL: base {base:.4}, full fine-tuning 2 epochs {tuned:.4}");
    assert!(
        tuned < base - 0.05,
        "full fine-tuning did not lower held-out loss: {base} → {tuned}"
    );

    let cfg = write_config(tmp.path(), "dp.toml", "dp", "epochs = 2\ncheckpoint.every_epoch = false\n[dp]\nmax_grad_norm = 1.0\ntarget_epsilon = 8.0");
    let cfg_text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("lr = 0.01", "lr = 5e-5");
    std::fs::write(&cfg, cfg_text).unwrap();
    let out = tmp.path().join("dp");
    triad(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let r = record(&out);
    let eps = r["epsilon"].as_f64().unwrap();
    assert!(eps <= 8.0 && eps > 7.5, "ε spent {eps}");
    assert!(r["noise_multiplier"].as_f64().unwrap() > 0.3);
    for p in r["loss_curve"].as_array().unwrap() {
        let l = p["loss"].as_f64();
        assert!(
            l.is_none_or(|l| l.is_finite() && l < 20.0),
            "unstable loss {p}"
        );
    }
    let ckpt = PathBuf::from(r["final_checkpoint"].as_str().unwrap());
    let private = heldout_nll(&ckpt, &test, tmp.path());
    println!("held-out NLL: dp (ε = {eps:.2}) {private:.4}");
    assert!(
        private < base + 0.25,
        "DP training diverged: {base} → {private}"
    );
}

#[test]
fn a_killed_lora_run_resumes_to_the_same_result() {
    killed_run_resumes_identically(
        false,
        "lora",
        "epochs = 4\n[lora]\nr = 4\ndropout = 0.1\ntarget_modules = [\"q_proj\", \"v_proj\"]",
    );
}

/// DP: the resumed run must draw the noise and Poisson samples an uninterrupted run draws at the
/// same steps (not replay those of the first steps), or its ε would not hold.
#[test]
fn a_killed_dp_run_resumes_to_the_same_result() {
    // Full DP-SGD on SmolLM2 takes minutes an epoch here; the noise stream does not depend on
    // the model, so a tiny one (with a small tokenizer, trained on the data) keeps it quick.
    killed_run_resumes_identically(
        true,
        "dp",
        "epochs = 6\n[dp]\nnoise_multiplier = 1.0\nmax_grad_norm = 1.0\nreproducible_noise = true",
    );
}

#[test]
fn a_killed_dp_lora_run_resumes_to_the_same_result() {
    killed_run_resumes_identically(
        true,
        "dp-lora",
        "epochs = 6\n[lora]\nr = 4\ndropout = 0.1\ntarget_modules = [\"q_proj\", \"v_proj\"]\n[dp]\nnoise_multiplier = 1.0\nmax_grad_norm = 1.0\nreproducible_noise = true",
    );
}

/// Train straight through, and again with a SIGKILL after the first checkpoint and a rerun:
/// weights, loss curve and ε must be bit-identical (CPU). `tiny`: a tiny random model instead
/// of SmolLM2, and more data.
fn killed_run_resumes_identically(tiny: bool, method: &str, extra: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = if tiny {
        tiny_setup(tmp.path(), method, extra)
    } else {
        data(tmp.path(), "24");
        write_config(tmp.path(), "run.toml", method, extra)
    };
    let straight = tmp.path().join("straight");
    triad(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        straight.to_str().unwrap(),
    ]);

    let killed = tmp.path().join("killed");
    kill_after_first_checkpoint(&cfg, &killed);
    let r = record(&killed);
    assert_eq!(
        r["status"], "running",
        "{method}: the kill came too late to test anything"
    );
    let done_before = r["steps_done"].as_u64().unwrap();
    // The checkpoint a resume reads keeps its optimizer state.
    let newest = PathBuf::from(
        r["epochs"].as_array().unwrap().last().unwrap()["checkpoint"]
            .as_str()
            .unwrap(),
    );
    assert!(
        newest.join("optimizer.safetensors").is_file(),
        "{}",
        newest.display()
    );

    triad(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        killed.to_str().unwrap(),
    ]);
    let (a, b) = (record(&straight), record(&killed));
    assert_eq!(b["status"], "completed");
    assert_eq!(a["steps_done"], b["steps_done"]);
    assert!(done_before < b["steps_done"].as_u64().unwrap());
    assert_eq!(
        a["loss_curve"], b["loss_curve"],
        "{method}: loss curves differ"
    );
    assert_eq!(a["epsilon"], b["epsilon"], "{method}: ε differs");
    let per_epoch = |r: &serde_json::Value| -> Vec<serde_json::Value> {
        let e = r["epochs"].as_array().unwrap();
        e.iter().map(|e| e["epsilon"].clone()).collect()
    };
    assert_eq!(
        per_epoch(&a),
        per_epoch(&b),
        "{method}: ε per epoch differs"
    );
    if method.starts_with("dp") {
        assert!(a["epsilon"].as_f64().unwrap() > 0.0);
        assert_eq!(a["secure_rng"], false);
    }
    let weights = if method.ends_with("lora") {
        "adapter_model.safetensors"
    } else {
        "model.safetensors"
    };
    let final_weights = |r: &serde_json::Value| {
        std::fs::read(PathBuf::from(r["final_checkpoint"].as_str().unwrap()).join(weights)).unwrap()
    };
    let (fa, fb) = (final_weights(&a), final_weights(&b));
    assert_eq!(fa.len(), fb.len());
    // A completed run keeps no optimizer state (not asked to), every checkpoint its weights.
    for e in b["epochs"].as_array().unwrap() {
        let c = PathBuf::from(e["checkpoint"].as_str().unwrap());
        assert!(c.join(weights).is_file());
        assert!(!c.join("optimizer.safetensors").exists(), "{}", c.display());
    }
    let (st_a, st_b) = (safetensors_f32(&fa), safetensors_f32(&fb));
    let worst = st_a
        .iter()
        .zip(&st_b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(
        fa == fb,
        "{method}: final weights differ by up to {worst} (bit-identical expected)"
    );
}

/// Start `triad train` into `out` and SIGKILL it once run.json records an epoch.
fn kill_after_first_checkpoint(cfg: &Path, out: &Path) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_triad"))
        .args([
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let epochs = std::fs::read(out.join("run.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .map_or(0, |v| v["epochs"].as_array().map_or(0, |a| a.len()));
        if epochs >= 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint within 5 minutes"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// A tiny model with a digit tokenizer trained on 64 generated dialogues; returns its RUN.toml.
fn tiny_setup(dir: &Path, method: &str, extra: &str) -> PathBuf {
    data(dir, "64");
    let tok = dir.join("tokenizer.json");
    let train = dir.join("data/train.jsonl");
    triad_tests::run_oracle(
        "digit_tokenizer.py",
        &[tok.to_str().unwrap(), train.to_str().unwrap()],
    );
    let model = dir.join("tiny");
    triad_tests::run_oracle(
        "tiny_lm_with_tokenizer.py",
        &[model.to_str().unwrap(), tok.to_str().unwrap()],
    );
    write_config_for(&model, dir, "run.toml", method, extra)
}

/// `triad train` that may fail: its status and stderr.
fn try_train(cfg: &Path, out: &Path) -> (std::process::Output, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_triad"))
        .args([
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    (o, err)
}

fn train_into(cfg: &Path, out: &Path) {
    triad(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
}

/// Every file under `dir`, as bytes.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out
}

/// DP by default draws from a secret per-run key: the same config and seed give other weights;
/// a SIGKILLed run resumes with its own key (two copies of its folder end bit-identical); what
/// the run publishes (run.json, checkpoints) holds neither the key nor an unnoised loss.
#[test]
fn a_default_dp_run_draws_secret_noise_and_resumes_with_its_own_key() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_setup(
        tmp.path(),
        "dp-lora",
        "epochs = 4\n[lora]\nr = 4\ndropout = 0.1\n[dp]\nnoise_multiplier = 1.0\nmax_grad_norm = 1.0",
    );
    let killed = tmp.path().join("killed");
    kill_after_first_checkpoint(&cfg, &killed);
    assert_eq!(
        record(&killed)["status"],
        "running",
        "the kill came too late"
    );
    let key = std::fs::read_to_string(killed.join("state/noise.key")).unwrap();
    let key = key.trim().to_string();
    assert_eq!(key.len(), 64);
    let copy = tmp.path().join("copy");
    let cp = Command::new("cp")
        .args(["-a", killed.to_str().unwrap(), copy.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(cp.success());
    let (again, other) = (tmp.path().join("again"), tmp.path().join("other"));
    for out in [&killed, &copy, &again, &other] {
        train_into(&cfg, out);
    }
    let weights = |dir: &Path| {
        let r = record(dir);
        assert_eq!(r["status"], "completed");
        assert_eq!(r["secure_rng"], true);
        assert!(
            !dir.join("state/noise.key").exists(),
            "the key outlives the run"
        );
        let last = r["epochs"].as_array().unwrap().last().unwrap()["epoch"]
            .as_u64()
            .unwrap();
        std::fs::read(dir.join(format!(
            "checkpoints/epoch-{last}/adapter_model.safetensors"
        )))
        .unwrap()
    };
    assert!(
        weights(&killed) == weights(&copy),
        "two copies resumed differently"
    );
    assert!(
        weights(&again) != weights(&other),
        "the same seed gave the same noise"
    );
    assert!(weights(&killed) != weights(&again));
    for dir in [&killed, &copy, &again] {
        let r = record(dir);
        for p in r["loss_curve"].as_array().unwrap() {
            assert!(p["loss"].is_null(), "an unnoised loss is published: {p}");
        }
        for e in r["epochs"].as_array().unwrap() {
            assert!(
                e["mean_loss"].is_null(),
                "an unnoised mean loss is published: {e}"
            );
        }
        assert_eq!(r["tokens_counted"], "expected");
    }
    // Neither the key's text nor its bytes anywhere the run publishes.
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&key[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    for (path, content) in files_under(&killed) {
        let hit = |needle: &[u8]| content.windows(needle.len()).any(|w| w == needle);
        assert!(
            !hit(key.as_bytes()) && !hit(&bytes[..16]),
            "the noise key is in {}",
            path.display()
        );
    }
}

/// `dp.dataset_size` makes N a public constant: q, δ and the schedule come from it, the file's
/// record count and the sample's token counts are not published.
#[test]
fn a_public_dataset_size_sets_q_and_hides_the_count() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_setup(
        tmp.path(),
        "dp",
        "steps = 3\n[dp]\nnoise_multiplier = 1.0\ndataset_size = 1000",
    );
    let out = tmp.path().join("out");
    train_into(&cfg, &out);
    let r = record(&out);
    assert_eq!(r["examples"], 1000);
    assert_eq!(r["sampling_rate"].as_f64().unwrap(), 4.0 / 1000.0);
    assert_eq!(r["delta"].as_f64().unwrap(), 1.0 / 10_000.0);
    assert_eq!(r["dataset_size_source"], "config");
    assert_eq!(r["tokens_counted"], "withheld");
    assert_eq!(r["tokens_seen"].as_u64().unwrap_or(0), 0);
}

/// A finished run's folder refuses another config (it would return the old record as if new).
#[test]
fn a_finished_run_refuses_a_changed_config() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_setup(tmp.path(), "lora", "steps = 2");
    let out = tmp.path().join("out");
    train_into(&cfg, &out);
    let changed = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("lr = 0.01", "lr = 0.02");
    std::fs::write(&cfg, changed).unwrap();
    let (o, err) = try_train(&cfg, &out);
    assert!(
        !o.status.success() && err.contains("`optimizer.lr`"),
        "{err}"
    );
}

/// A run that diverges stops naming the step, its record `failed`, instead of finishing with
/// non-finite weights; the same for DP, where only the (noised) weights are checked.
#[test]
fn a_diverging_run_stops_with_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_setup(tmp.path(), "full", "steps = 4");
    for (name, from, to) in [
        ("lr", "lr = 0.01", "lr = 1e30"),
        (
            "dp",
            "[optimizer]",
            "[dp]\nnoise_multiplier = 1e300\n[optimizer]",
        ),
    ] {
        let text = std::fs::read_to_string(&cfg).unwrap().replace(from, to);
        let text = if name == "dp" {
            text.replace("method = \"full\"", "method = \"dp\"")
        } else {
            text
        };
        let c = tmp.path().join(format!("{name}.toml"));
        std::fs::write(&c, text).unwrap();
        let out = tmp.path().join(name);
        let (o, err) = try_train(&c, &out);
        assert!(
            !o.status.success() && err.contains("diverged at step"),
            "{name}: {err}"
        );
        assert_eq!(record(&out)["status"], "failed", "{name}");
    }
}

/// run.json is input: a planted checkpoint path is never read from or pruned in, and a record
/// whose epochs this run's schedule cannot have (a huge step) is refused, not replayed.
#[test]
fn a_planted_run_record_is_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_setup(
        tmp.path(),
        "lora",
        "epochs = 2\ncheckpoint.keep_optimizer_state = true\n[lora]\nr = 4",
    );
    let (done, out) = (tmp.path().join("done"), tmp.path().join("out"));
    train_into(&cfg, &done);
    let decoy = tmp.path().join("decoy");
    std::fs::create_dir_all(&decoy).unwrap();
    std::fs::write(decoy.join("optimizer.safetensors"), "precious").unwrap();
    let cp = Command::new("cp")
        .args(["-a", done.to_str().unwrap(), out.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(cp.success());
    let mut r = record(&out);
    r["status"] = "running".into();
    let first = r["epochs"][0].clone();
    r["epochs"] = serde_json::json!([first]);
    r["epochs"][0]["checkpoint"] = decoy.to_str().unwrap().into();
    let planted = |r: &serde_json::Value| {
        std::fs::write(out.join("run.json"), serde_json::to_vec(r).unwrap()).unwrap()
    };
    let mut huge = r.clone();
    huge["epochs"][0]["step"] = serde_json::json!(u64::MAX / 2);
    planted(&huge);
    let (o, err) = try_train(&cfg, &out);
    assert!(!o.status.success() && err.contains("epochs[0]"), "{err}");
    planted(&r);
    train_into(&cfg, &out);
    assert_eq!(
        std::fs::read(decoy.join("optimizer.safetensors")).unwrap(),
        b"precious"
    );
    let weights =
        |d: &Path| std::fs::read(d.join("checkpoints/epoch-2/adapter_model.safetensors")).unwrap();
    assert!(
        weights(&done) == weights(&out),
        "not resumed from its own checkpoint"
    );
    let back = record(&out);
    assert!(
        !back.to_string().contains("decoy"),
        "run.json repeats the planted path"
    );
}

/// All f32 values of a safetensors file, in file order (both files come from the same writer).
fn safetensors_f32(bytes: &[u8]) -> Vec<f32> {
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    bytes[8 + header..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Every family added for issue 15 trains with every method through the CLI: the loss is finite
/// and falls, DP spends a finite ε, LoRA adapts the family's PEFT default targets.
#[test]
fn every_family_trains_with_all_four_methods() {
    let tmp = tempfile::tempdir().unwrap();
    data(tmp.path(), "32");
    let tok = tmp.path().join("tokenizer.json");
    let train = tmp.path().join("data/train.jsonl");
    triad_tests::run_oracle(
        "digit_tokenizer.py",
        &[tok.to_str().unwrap(), train.to_str().unwrap()],
    );
    for family in ["qwen3", "mistral", "phi3", "gemma2", "gemma3_text"] {
        let model = tmp.path().join(family);
        triad_tests::run_oracle(
            "tiny_lm_with_tokenizer.py",
            &[model.to_str().unwrap(), tok.to_str().unwrap(), family],
        );
        for method in ["full", "lora", "dp", "dp-lora"] {
            let name = format!("{family}-{method}");
            let extra = "steps = 8\n[dp]\nnoise_multiplier = 0.5\nmax_grad_norm = 1.0\n";
            let extra = if method.starts_with("dp") {
                extra
            } else {
                "steps = 8\n"
            };
            let cfg = write_config_for(&model, tmp.path(), &format!("{name}.toml"), method, extra);
            let out = tmp.path().join(&name);
            triad(&[
                "train",
                "--config",
                cfg.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ]);
            let r = record(&out);
            let losses: Vec<f64> = r["loss_curve"]
                .as_array()
                .unwrap_or_else(|| panic!("{name}: no loss curve in {r}"))
                .iter()
                .map(|p| p["loss"].as_f64().unwrap_or(f64::NAN))
                .collect();
            if method.starts_with("dp") {
                // A private run publishes no loss (it is an unnoised statistic of the sample).
                assert!(losses.iter().all(|l| l.is_nan()), "{name}: {losses:?}");
            } else {
                assert!(losses.iter().all(|l| l.is_finite()), "{name}: {losses:?}");
            }
            if method.starts_with("dp") {
                let eps = r["epsilon"].as_f64().unwrap_or(f64::NAN);
                assert!(eps.is_finite() && eps > 0.0, "{name}: ε = {eps}");
            } else {
                let n = losses.len();
                assert!(
                    n >= 4 && losses[n - 2] + losses[n - 1] < losses[0] + losses[1],
                    "{name}: loss did not fall {losses:?}"
                );
            }
            if method.ends_with("lora") {
                let a: serde_json::Value = serde_json::from_slice(
                    &std::fs::read(
                        Path::new(r["final_checkpoint"].as_str().unwrap())
                            .join("adapter_config.json"),
                    )
                    .unwrap_or_else(|e| panic!("{name}: {e}")),
                )
                .unwrap();
                let want = if family == "phi3" {
                    "qkv_proj"
                } else {
                    "v_proj"
                };
                let targets = a["target_modules"].to_string();
                assert!(targets.contains(want), "{name}: {targets}");
            }
            println!(
                "{name}: loss {:.3} → {:.3}",
                losses[0],
                losses[losses.len() - 1]
            );
        }
    }
}

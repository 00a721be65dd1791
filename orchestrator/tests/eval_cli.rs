//! `triad eval` against an independent computation from transformers' per-token log-probs, and
//! its base-score cache.

mod common;
use common::{smollm2, triad};

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

/// A known effect: a tiny model trained for many epochs on a small set has memorised it — large
/// privacy loss, MIA AUC far above 0.5 — while on two sets it never saw, AUC stays near 0.5.
#[test]
fn memorisation_is_detected_and_absent_on_unseen_data() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("tiny");
    triad_tests::run_oracle(
        "tiny_lm_with_tokenizer.py",
        &[
            model.to_str().unwrap(),
            triad_tests::neox_tokenizer().to_str().unwrap(),
        ],
    );
    let data = tmp.path().join("data");
    triad(&[
        "data",
        "generate",
        "customer-support",
        "--train",
        "24",
        "--test",
        "24",
        "--seed",
        "41",
        "--canaries",
        "2",
        "--canary-repeats",
        "10",
        "--out",
        data.to_str().unwrap(),
    ]);
    let unseen = tmp.path().join("unseen");
    triad(&[
        "data",
        "generate",
        "customer-support",
        "--train",
        "300",
        "--test",
        "300",
        "--seed",
        "42",
        "--out",
        unseen.to_str().unwrap(),
    ]);
    let cfg = tmp.path().join("full.toml");
    std::fs::write(
        &cfg,
        format!(
            "model = \"{}\"\ntrain_file = \"data/train.jsonl\"\nmethod = \"full\"\nepochs = 20\nbatch_size = 8\nmax_length = 512\ndevice = \"cpu\"\ncheckpoint.every_epoch = false\n[optimizer]\nlr = 5e-3\n",
            model.display()
        ),
    )
    .unwrap();
    let run = tmp.path().join("run");
    triad(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("run.json")).unwrap()).unwrap();
    let ckpt = record["final_checkpoint"].as_str().unwrap().to_string();
    let eval = |train: &std::path::Path, test: &std::path::Path, out: &str| -> serde_json::Value {
        let out = tmp.path().join(out);
        triad(&[
            "eval",
            "--base",
            model.to_str().unwrap(),
            "--checkpoint",
            &ckpt,
            "--train",
            train.to_str().unwrap(),
            "--test",
            test.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--device",
            "cpu",
            "--cache-dir",
            "none",
        ]);
        serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap()
    };
    let seen = eval(
        &data.join("train.jsonl"),
        &data.join("test.jsonl"),
        "seen.json",
    );
    let pl = seen["privacy_loss"].as_f64().unwrap();
    let auc = seen["membership_inference"]["loss"]["auc"]
        .as_f64()
        .unwrap();
    println!(
        "trained set: privacy loss {pl:.3} nats, LOSS AUC {auc:.3}, reference AUC {}",
        seen["membership_inference"]["reference"]["auc"]
    );
    assert!(pl > 1.0, "privacy loss {pl}");
    assert!(auc > 0.9, "MIA AUC {auc}");
    // Power of the attacks added in issue 29: each separates the memorising run's members
    // clearly (the interval's lower end well above chance).
    for attack in ["token_reference", "min_k_plus_plus", "zlib"] {
        let a = &seen["membership_inference"][attack];
        let lo = a["auc_ci95"][0].as_f64().unwrap();
        println!("trained set: {attack} AUC {} {}", a["auc"], a["auc_ci95"]);
        assert!(lo > 0.75, "{attack}: {a}");
    }
    // privacy loss = learnt about secrets in general + memorised (the corrected gap).
    let general = seen["privacy_loss_general"].as_f64().unwrap();
    let memorised = seen["memorisation_gap_corrected"].as_f64().unwrap();
    assert!(
        (general + memorised - pl).abs() < 1e-9,
        "{general} + {memorised} vs {pl}"
    );
    // The per-record statistics beside METRICS.json, compared with themselves: 0 exactly.
    let records = tmp.path().join("seen.records.json");
    let same = triad(&[
        "compare",
        records.to_str().unwrap(),
        records.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&same.stdout);
    assert!(
        // 24 dialogues and the 2 × 10 canary copies (no --canaries: they stay members).
        text.contains("paired records: train 44 (only A 0, only B 0), test 24"),
        "{text}"
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("privacy loss"))
        .unwrap();
    assert!(
        line.contains("+0.0000  [+0.0000, +0.0000]") && line.contains("not distinguishable"),
        "{line}"
    );
    let x = &seen["extraction"];
    let rate = |split: &str, key: &str| x[split][key].as_f64().unwrap();
    println!(
        "greedy extraction: train {:.3} (base {:.3}), test {:.3} (base {:.3}) of {} / {} secrets",
        rate("train", "rate"),
        rate("train", "rate_base"),
        rate("test", "rate"),
        rate("test", "rate_base"),
        x["train"]["secrets"],
        x["test"]["secrets"]
    );
    // This tiny model memorises most tokens but (measured) no secret whole, so extraction
    // itself is checked against greedy decoding in extraction_greedy.rs; here: every secret is
    // counted, and a random base extracts none.
    assert!(x["train"]["secrets"].as_u64().unwrap() > 100, "{x}");
    assert!(x["test"]["secrets"].as_u64().unwrap() > 100, "{x}");
    assert_eq!(rate("train", "rate_base"), 0.0);
    // Canaries inserted 10 times are exposed; under the base model they are not.
    let canaries = data.join("canaries.jsonl");
    let exposure = |checkpoint: &str, out: &str| -> Vec<f64> {
        let out = tmp.path().join(out);
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
            canaries.to_str().unwrap(),
            "--exposure-samples",
            "500",
            "--out",
            out.to_str().unwrap(),
            "--device",
            "cpu",
            "--cache-dir",
            "none",
        ]);
        let m: serde_json::Value = serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
        m["exposure"]["canaries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["exposure"].as_f64().unwrap())
            .collect()
    };
    let trained = exposure(&ckpt, "exposure.json");
    let base = exposure(model.to_str().unwrap(), "exposure-base.json");
    println!(
        "canary exposure (bits of {:.1}): trained {trained:.2?}, base {base:.2?}",
        1e6f64.log2()
    );
    assert!(
        trained.iter().all(|&e| e > 8.0),
        "trained exposure {trained:?}"
    );
    assert!(base.iter().all(|&e| e < 5.0), "base exposure {base:?}");
    // The base as its own checkpoint (a study's reference row): its scores are reused, so
    // nothing moved and the calibrated attack is at chance exactly.
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("exposure-base.json")).unwrap())
            .unwrap();
    assert_eq!(m["privacy_loss"].as_f64(), Some(0.0), "{m}");
    assert_eq!(m["utility"]["gain"].as_f64(), Some(0.0));
    assert_eq!(
        m["membership_inference"]["reference"]["auc"].as_f64(),
        Some(0.5)
    );
    assert_eq!(m["timing"]["checkpoint_scoring_s"].as_f64(), Some(0.0));
    assert_eq!(
        m["extraction"]["train"]["rate"],
        m["extraction"]["train"]["rate_base"]
    );
    let never = eval(
        &unseen.join("train.jsonl"),
        &unseen.join("test.jsonl"),
        "unseen.json",
    );
    for attack in [
        "loss",
        "reference",
        "min_k",
        "token_reference",
        "min_k_plus_plus",
        "zlib",
    ] {
        let a = never["membership_inference"][attack]["auc"]
            .as_f64()
            .unwrap();
        println!("unseen sets: {attack} AUC {a:.3}");
        assert!(
            (a - 0.5).abs() <= 0.1,
            "{attack} AUC on data neither model saw: {a}"
        );
    }
}

/// The null test of every privacy measure: the base model evaluated as its own checkpoint, on
/// data whose training split holds canaries (12 × 4 copies) next to 64 + 64 dialogues, has
/// memorised nothing — so privacy loss is 0, every attack sits at chance, mean exposure sits
/// inside the uniform-rank null, and no TPR is claimed at an FPR 64 non-members cannot resolve.
#[test]
fn the_base_model_as_its_own_checkpoint_sits_at_every_null() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    triad(&[
        "data",
        "generate",
        "customer-support",
        "--train",
        "64",
        "--test",
        "64",
        "--canaries",
        "12",
        "--canary-repeats",
        "4",
        "--seed",
        "5",
        "--out",
        data.to_str().unwrap(),
    ]);
    let model = smollm2();
    let out = tmp.path().join("null.json");
    triad(&[
        "eval",
        "--base",
        model.to_str().unwrap(),
        "--checkpoint",
        model.to_str().unwrap(),
        "--train",
        data.join("train.jsonl").to_str().unwrap(),
        "--test",
        data.join("test.jsonl").to_str().unwrap(),
        "--canaries",
        data.join("canaries.jsonl").to_str().unwrap(),
        "--exposure-samples",
        "200",
        "--out",
        out.to_str().unwrap(),
        "--device",
        "cpu",
        "--cache-dir",
        "none",
    ]);
    let text = std::fs::read_to_string(&out).unwrap();
    // METRICS.json is the message's JSON form: it reads as triad.v1.Metrics (every key a
    // declared field) and writes back byte for byte.
    let typed: triad_proto::v1::Metrics = triad_proto::json::from_file_text(&text).unwrap();
    assert_eq!(triad_proto::json::to_file_text(&typed), text);
    assert_eq!(typed.privacy_loss, 0.0);
    let m: serde_json::Value = serde_json::from_str(&text).unwrap();
    // Canary copies are scored apart: not members, not in the cells.
    assert_eq!(m["canary_records_excluded"]["train"], 48, "{m}");
    assert_eq!(m["membership_inference"]["members"], 64);
    assert_eq!(m["membership_inference"]["non_members"], 64);
    assert!(m["per_label"].get("PIN").is_none(), "{}", m["per_label"]);
    assert_eq!(m["privacy_loss"].as_f64(), Some(0.0));
    assert_eq!(m["privacy_loss_ci95"], serde_json::json!([0.0, 0.0]));
    assert_eq!(m["privacy_loss_general"].as_f64(), Some(0.0));
    for attack in [
        "loss",
        "reference",
        "min_k",
        "token_reference",
        "min_k_plus_plus",
        "zlib",
    ] {
        let a = &m["membership_inference"][attack];
        let auc = a["auc"].as_f64().unwrap();
        println!("{attack}: AUC {auc:.3} {}", a["auc_ci95"]);
        assert!((auc - 0.5).abs() <= 0.15, "{attack} AUC {auc}");
        let [lo, hi] = [
            a["auc_ci95"][0].as_f64().unwrap(),
            a["auc_ci95"][1].as_f64().unwrap(),
        ];
        assert!(lo <= auc && auc <= hi, "{attack}: {a}");
        assert!(a["tpr_at_01pct_fpr"].is_null(), "{attack}: {a}");
        assert!(a["tpr_at_1pct_fpr"].is_null(), "{attack}: {a}");
        assert!(a["tpr_note"].as_str().unwrap().contains("64 non-members"));
    }
    let e = &m["exposure"];
    let (mean, null, sd) = (
        e["mean_exposure"].as_f64().unwrap(),
        e["null_mean"].as_f64().unwrap(),
        e["null_sd_of_mean"].as_f64().unwrap(),
    );
    let each: Vec<String> = e["canaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{:.2} ({})", c["exposure"].as_f64().unwrap(), c["method"]))
        .collect();
    println!("exposure: mean {mean:.2} bits, null {null:.2} ± {sd:.2}; each {each:?}");
    assert_eq!(e["canaries"].as_array().unwrap().len(), 12);
    assert!(
        (mean - null).abs() <= 3.0 * sd,
        "mean exposure {mean} vs null {null} ± {sd}"
    );
}

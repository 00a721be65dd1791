//! The one-run audit end to end through the CLI, on a tiny model: the audit has power (a run
//! without DP that memorised its canaries shows a large ε lower bound), and it is sound (DP
//! runs at formal ε = 1 and 4, several seeds, never show a bound above their formal ε — one
//! would mean noise, sampling or accounting do not give the ε they claim).

mod common;
use common::triad;
use std::path::{Path, PathBuf};

struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    model: PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let model = root.join("tiny");
    triad_tests::run_oracle(
        "tiny_lm_with_tokenizer.py",
        &[
            model.to_str().unwrap(),
            triad_tests::neox_tokenizer().to_str().unwrap(),
        ],
    );
    Setup {
        _tmp: tmp,
        root,
        model,
    }
}

/// Generate data with `m` audit canaries, train `method` on it, evaluate with the audit;
/// returns (METRICS.json, run.json).
fn audited_run(
    s: &Setup,
    name: &str,
    seed: u64,
    method_toml: &str,
) -> (serde_json::Value, serde_json::Value) {
    audited_run_on(s, name, seed, method_toml, &[])
}

/// [`audited_run`] on data generated with `extra` arguments (its own folder per set).
fn audited_run_on(
    s: &Setup,
    name: &str,
    seed: u64,
    method_toml: &str,
    extra: &[&str],
) -> (serde_json::Value, serde_json::Value) {
    let data = s.root.join(format!("data-{seed}{}", extra.join("")));
    if !data.join("audit.jsonl").exists() {
        let seed_text = seed.to_string();
        let mut args = vec![
            "data",
            "generate",
            "customer-support",
            "--train",
            "16",
            "--test",
            "8",
            "--seed",
            &seed_text,
            "--audit-canaries",
            "200",
            "--audit-model",
            s.model.to_str().unwrap(),
            "--out",
            data.to_str().unwrap(),
        ];
        args.extend(extra);
        triad(&args);
    }
    let cfg = s.root.join(format!("{name}.toml"));
    std::fs::write(
        &cfg,
        format!(
            "model = \"{}\"\ntrain_file = \"{}\"\nbatch_size = 16\nmax_length = 64\ndevice = \"cpu\"\nseed = {seed}\ncheckpoint.every_epoch = false\n{method_toml}",
            s.model.display(),
            data.join("train.jsonl").display()
        ),
    )
    .unwrap();
    let run = s.root.join(format!("run-{name}"));
    triad(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("run.json")).unwrap()).unwrap();
    let out = s.root.join(format!("{name}.json"));
    triad(&[
        "eval",
        "--base",
        s.model.to_str().unwrap(),
        "--checkpoint",
        record["final_checkpoint"].as_str().unwrap(),
        "--train",
        data.join("train.jsonl").to_str().unwrap(),
        "--test",
        data.join("test.jsonl").to_str().unwrap(),
        "--audit",
        data.join("audit.jsonl").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--device",
        "cpu",
        "--cache-dir",
        "none",
    ]);
    let metrics = serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
    (metrics, record)
}

fn bound(m: &serde_json::Value) -> f64 {
    m["audit"]["epsilon_lower_bound"].as_f64().unwrap()
}

#[test]
fn audit_has_power_without_dp_and_stays_under_formal_epsilon_with_dp() {
    let s = setup();
    // Power: full fine-tuning, many passes at a high rate, memorises the canaries it saw.
    let (m, _) = audited_run(
        &s,
        "full",
        1,
        "method = \"full\"\nepochs = 8\n[optimizer]\nlr = 1e-2\n",
    );
    let a = &m["audit"];
    println!("full: {a}");
    assert_eq!(a["m"], 200);
    assert_eq!(m["audit_records_excluded"]["train"], a["included"]);
    assert!(
        bound(&m) > 2.0,
        "no power: a run without DP shows ε_lb {}",
        bound(&m)
    );
    // Soundness: DP at ε = 1 and 4, the same strong training, three seeds each.
    for eps in [1.0, 4.0] {
        for seed in 1..=3u64 {
            let (m, record) = audited_run(
                &s,
                &format!("dp-{eps}-{seed}"),
                seed,
                &format!(
                    "method = \"dp\"\nepochs = 8\n[optimizer]\nlr = 1e-2\n[dp]\ntarget_epsilon = {eps}\ndelta = 1e-5\nmax_grad_norm = 1.0\n"
                ),
            );
            let formal = record["epsilon"].as_f64().unwrap();
            let lb = bound(&m);
            println!(
                "dp ε {eps} seed {seed}: formal {formal:.3} (RDP {}, PLD {}), audit {}",
                record["epsilon_rdp"], record["epsilon_pld"], m["audit"]
            );
            assert!(
                formal <= eps * 1.0001,
                "formal ε {formal} over target {eps}"
            );
            assert_eq!(m["audit"]["delta"].as_f64(), Some(1e-5), "the run's δ");
            assert!(
                lb <= formal,
                "audit ε_lb {lb} above formal ε {formal}: DP is not what it claims"
            );
        }
    }
}

/// Redact-then-DP at ε = 1: phase 1 fine-tunes hard without noise on text whose labelled spans
/// (the audit secrets among them) are masked, phase 2 runs DP-SGD on the original text. The
/// audit canaries differ only in their secrets, so what phase 1 learnt is the same whichever
/// canaries were included: the audit must stay at or under phase 2's ε, as for plain DP.
#[test]
fn redact_then_dp_audits_under_its_epsilon() {
    let s = setup();
    for seed in 1..=3u64 {
        let (m, record) = audited_run(
            &s,
            &format!("redact-dp-{seed}"),
            seed,
            "method = \"dp\"\nepochs = 8\n[optimizer]\nlr = 1e-2\n[dp]\ntarget_epsilon = 1.0\ndelta = 1e-5\nmax_grad_norm = 1.0\n[redact]\nepochs = 8\nlr = 1e-2\n",
        );
        let formal = record["epsilon"].as_f64().unwrap();
        let lb = bound(&m);
        println!(
            "redact-then-DP ε 1 seed {seed}: formal {formal:.3}, phase 1 {}, audit {}",
            record["redact"], m["audit"]
        );
        assert!(
            record["redact"]["scrub"]["spans_replaced"]
                .as_u64()
                .unwrap()
                > 0
        );
        assert!(formal <= 1.0001, "formal ε {formal} over target 1");
        assert!(
            lb <= formal,
            "audit ε_lb {lb} above formal ε {formal}: the selective guarantee does not hold"
        );
    }
}

/// Privacy per user, audited per user: every audit canary is a user whose 16 records all hold
/// its secret (the rest of the data are repeat customers with 2 dialogues each). Record-level
/// DP at ε = 1 promised each record ε = 1, never the person: the audit over users shows a bound
/// above 1 (the test's power). User-level DP at ε = 1 and 4 stays at or under its ε per user.
#[test]
fn user_level_dp_audits_under_its_epsilon_per_user_and_record_level_does_not() {
    let s = setup();
    let users = ["--records-per-user", "2", "--audit-copies", "16"];
    let dp = |eps: f64, unit: &str| {
        format!(
            "method = \"dp\"\nepochs = 8\n[optimizer]\nlr = 1e-2\n[dp]\ntarget_epsilon = {eps}\n\
             delta = 1e-5\nmax_grad_norm = 1.0\nunit = \"{unit}\"\n"
        )
    };
    let (m, record) = audited_run_on(&s, "record-per-user", 1, &dp(1.0, "record"), &users);
    let (formal, lb) = (record["epsilon"].as_f64().unwrap(), bound(&m));
    println!(
        "record-level ε {formal:.3}, per user {}: audit over users {}",
        record["privacy_unit"], m["audit"]
    );
    assert_eq!(record["privacy_unit"]["largest_user_records"], 16);
    assert!(
        lb > formal,
        "no power: record-level DP with 16 copies per user shows ε_lb {lb} ≤ its record ε {formal}"
    );
    for eps in [1.0, 4.0] {
        for seed in 1..=2u64 {
            let name = format!("user-{eps}-{seed}");
            let (m, record) = audited_run_on(&s, &name, seed, &dp(eps, "user"), &users);
            let (formal, lb) = (record["epsilon"].as_f64().unwrap(), bound(&m));
            println!(
                "user-level ε {eps} seed {seed}: formal {formal:.3}, audit {}",
                m["audit"]
            );
            assert_eq!(record["privacy_unit"]["unit"], "user");
            assert!(
                formal <= eps * 1.0001,
                "formal ε {formal} over target {eps}"
            );
            assert!(
                lb <= formal,
                "audit ε_lb {lb} above the user-level ε {formal}: DP per user is not what it claims"
            );
        }
    }
}

/// An audit file that does not match the data is refused with the file and line; too few
/// canaries are refused before anything is written.
#[test]
fn mismatched_audit_files_and_too_few_canaries_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d");
    triad(&[
        "data",
        "generate",
        "customer-support",
        "--train",
        "8",
        "--test",
        "4",
        "--audit-canaries",
        "20",
        "--audit-design",
        "digits",
        "--out",
        d.to_str().unwrap(),
    ]);
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_triad"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&[
        "data",
        "generate",
        "customer-support",
        "--audit-canaries",
        "5",
        "--audit-design",
        "digits",
        "--out",
        tmp.path().join("e").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 10"));
    assert!(!tmp.path().join("e").exists(), "nothing written");
    // `audit plant` into the generated training file: the canaries already there are refused.
    let out = run(&[
        "audit",
        "plant",
        d.join("train.jsonl").to_str().unwrap(),
        "--canaries",
        "20",
        "--design",
        "digits",
        "--out",
        tmp.path().join("p").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("train.jsonl:") && err.contains("audit canary"),
        "{err}"
    );
    // Planting into clean data writes both files, and they match.
    let clean = tmp.path().join("clean.jsonl");
    let text = std::fs::read_to_string(d.join("train.jsonl")).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| !l.contains("\"audit-"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&clean, kept).unwrap();
    triad(&[
        "audit",
        "plant",
        clean.to_str().unwrap(),
        "--canaries",
        "30",
        "--seed",
        "4",
        "--design",
        "digits",
        "--out",
        tmp.path().join("p").to_str().unwrap(),
    ]);
    let audit = std::fs::read_to_string(tmp.path().join("p/audit.jsonl")).unwrap();
    assert_eq!(audit.lines().count(), 30);
    let included = audit.matches("\"included\":true").count();
    let planted = std::fs::read_to_string(tmp.path().join("p/train.jsonl")).unwrap();
    assert_eq!(planted.lines().count(), 8 + included);
    // The generated audit file against a training file without its canaries: named line.
    let s = setup();
    let out = run(&[
        "eval",
        "--base",
        s.model.to_str().unwrap(),
        "--checkpoint",
        s.model.to_str().unwrap(),
        "--train",
        clean.to_str().unwrap(),
        "--test",
        d.join("test.jsonl").to_str().unwrap(),
        "--audit",
        d.join("audit.jsonl").to_str().unwrap(),
        "--out",
        tmp.path().join("m.json").to_str().unwrap(),
        "--cache-dir",
        "none",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let first_in = audit_first_included(&d.join("audit.jsonl"));
    assert!(
        err.contains(&format!("audit.jsonl:{first_in}:")) && err.contains("appears 0 times"),
        "{err}"
    );
}

/// The line of the first canary the coins included.
fn audit_first_included(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .position(|l| l.contains("\"included\":true"))
        .unwrap()
        + 1
}

/// A run folder as the trainer leaves it, by hand: `<run>/checkpoints/epoch-1` (a copy of
/// `model`) and `<run>/run.json` recording `train` and `base`. Returns the checkpoint.
fn fake_run(run: &Path, model: &Path, train: &Path, base: &Path) -> PathBuf {
    let ck = run.join("checkpoints/epoch-1");
    std::fs::create_dir_all(&ck).unwrap();
    for e in std::fs::read_dir(model).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), ck.join(e.file_name())).unwrap();
    }
    let record = serde_json::json!({
        "status": "completed",
        "config": {
            "model": base.display().to_string(),
            "train_file": train.display().to_string(),
            "max_length": 64,
        },
        "final_checkpoint": ck.display().to_string(),
        "train_sha256": triad_data::fsutil::sha256_file(train).unwrap(),
        "base_model_sha256": triad_lm::weights::model_identity(base).unwrap(),
    });
    std::fs::write(run.join("run.json"), record.to_string()).unwrap();
    ck
}

/// The audit is bound to the run's files: its own training file and base pass; a training
/// file with the same canaries but other records, or a base that was itself fine-tuned on the
/// planted file, is refused naming both files.
#[test]
fn an_audit_against_another_train_file_or_a_tuned_base_is_refused() {
    let s = setup();
    let d = s.root.join("d");
    triad(&[
        "data",
        "generate",
        "customer-support",
        "--train",
        "8",
        "--test",
        "4",
        "--audit-canaries",
        "20",
        "--audit-design",
        "digits",
        "--out",
        d.to_str().unwrap(),
    ]);
    let planted = d.join("train.jsonl");
    // The same canaries (so the coins' check passes) without one ordinary record.
    let text = std::fs::read_to_string(&planted).unwrap();
    let dropped = text.lines().position(|l| !l.contains("\"audit-")).unwrap();
    let other: String = text
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != dropped)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    let other_file = s.root.join("other-train.jsonl");
    std::fs::write(&other_file, other).unwrap();
    let ck = fake_run(&s.root.join("run"), &s.model, &planted, &s.model);
    let eval = |base: &Path, ck: &Path, train: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_triad"))
            .args(["eval", "--base", base.to_str().unwrap()])
            .args(["--checkpoint", ck.to_str().unwrap()])
            .args(["--train", train.to_str().unwrap()])
            .args(["--test", d.join("test.jsonl").to_str().unwrap()])
            .args(["--audit", d.join("audit.jsonl").to_str().unwrap()])
            .args(["--out", s.root.join("m.json").to_str().unwrap()])
            .args(["--device", "cpu", "--cache-dir", "none"])
            .output()
            .unwrap()
    };
    let out = eval(&s.model, &ck, &planted);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.root.join("m.json")).unwrap()).unwrap();
    assert_eq!(m["audit"]["m"], 20);
    let refused = |out: std::process::Output, parts: &[&str]| {
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        for p in parts {
            assert!(err.contains(p), "{p} missing from: {err}");
        }
    };
    let planted_name = planted.display().to_string();
    refused(
        eval(&s.model, &ck, &other_file),
        &["audit refused", "other-train.jsonl", &planted_name],
    );
    // A base fine-tuned on the planted file (a checkpoint of an earlier run on it).
    let tuned = fake_run(&s.root.join("first"), &s.model, &planted, &s.model);
    refused(
        eval(&tuned, &ck, &planted),
        &["audit refused", "first/checkpoints/epoch-1", &planted_name],
    );
}

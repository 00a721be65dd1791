//! The Python client (clients/python) against the real services, as its users would meet it:
//! `pip install` of the package into a fresh venv (its `triad.v1` code generated from
//! proto/ by the build), then `triad-trainer` and `triad-evaluator` started with mutual TLS and
//! a token file over a tiny model, and
//!
//! - the example (clients/python/examples/train_and_evaluate.py) fine-tunes a LoRA adapter
//!   through the trainer, watched, and evaluates it through the evaluator: its privacy loss and
//!   95% interval, read as typed fields of `Metrics`, equal those `triad eval` computes on the
//!   same adapter and data (and lo <= estimate <= hi);
//! - clients/python/tests/check_services.py: the package names the checkout's protos (digest
//!   and version); no token or a wrong one raises `TriadError` with UNAUTHENTICATED (unary
//!   calls, the Evaluate stream, the trainer); a path out of the root raises INVALID_ARGUMENT
//!   naming the field; `score_texts` returns typed scores; a watch cancelled from another thread
//!   ends cleanly while the run goes on, and `cancel_run` ends the run.
//!
//! Needs `python3` with `venv` and PyPI (or a pip cache holding grpcio, protobuf, grpcio-tools
//! and setuptools). About a minute on two cores.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use triad_proto::v1::Metrics;

const TOKEN: &str = "python-client-token-0123456789";

/// Runs `cmd`, requires success, returns its stdout.
fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The last line of a script's output, as JSON.
fn summary(stdout: &str) -> Value {
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))
}

/// Copies a folder, leaving out what a build or an editable install left in it.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let built = ["build", "dist", "__pycache__", "_version.py"].contains(&name.as_str())
            || name.ends_with(".egg-info")
            || (name == "v1" && from.ends_with("src/triad_client"));
        if built {
            continue;
        }
        if path.is_dir() {
            copy_tree(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

/// A fresh venv with the package installed from a copy of clients/python and proto/ (in the
/// repository's layout, which the build reads the protos by): building writes nothing into the
/// checkout. Returns the venv's python.
fn install_client(tmp: &Path) -> PathBuf {
    let repo = triad_tests::workspace_root();
    let src = tmp.join("src");
    copy_tree(&repo.join("clients/python"), &src.join("clients/python"));
    copy_tree(&repo.join("proto/triad"), &src.join("proto/triad"));
    let venv = tmp.join("venv");
    let t = Instant::now();
    run(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "python3 -m venv",
    );
    run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(src.join("clients/python")),
        "pip install ./clients/python",
    );
    println!("venv and pip install: {:.1} s", t.elapsed().as_secs_f64());
    venv.join("bin/python")
}

/// A data root with a tiny model (the GPT-NeoX tokenizer's vocabulary) and generated
/// customer-support data.
fn data_root(root: &Path) {
    triad_tests::run_oracle(
        "tiny_lm_with_tokenizer.py",
        &[
            root.join("models/tiny").to_str().unwrap(),
            triad_tests::neox_tokenizer().to_str().unwrap(),
        ],
    );
    run(
        Command::new(triad_tests::binary("triad"))
            .args(["data", "generate", "customer-support"])
            .args(["--train", "16", "--test", "16", "--seed", "1", "--out"])
            .arg(root.join("data")),
        "triad data generate",
    );
}

/// Both services over `root`, with mutual TLS and the token file in `certs`.
fn services(root: &Path, certs: &Path) -> (triad_tests::Service, triad_tests::Service) {
    let c = |f: &str| certs.join(f).to_str().unwrap().to_string();
    let args = [
        "--data-root".to_string(),
        root.to_str().unwrap().to_string(),
        "--tls-cert".into(),
        c("server.pem"),
        "--tls-key".into(),
        c("server.key"),
        "--tls-client-ca".into(),
        c("ca.pem"),
        "--token-file".into(),
        c("tokens"),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let start =
        |bin: &str| triad_tests::Service::start(triad_tests::binary(bin).to_str().unwrap(), &args);
    (start("triad-trainer"), start("triad-evaluator"))
}

/// The venv's python running a script of the repository with the services' addresses and
/// the TLS and model arguments both scripts take; cwd is the data root.
fn python_script(
    python: &Path,
    script: &str,
    addrs: (&str, &str),
    root: &Path,
    args: &[&str],
) -> Value {
    let t = Instant::now();
    let out = run(
        Command::new(python)
            .current_dir(root)
            .env_remove("TRIAD_TOKEN")
            .arg(triad_tests::workspace_root().join(script))
            .args(["--trainer", addrs.0, "--evaluator", addrs.1])
            .args(["--model", "models/tiny", "--train", "data/train.jsonl"])
            .args(["--test", "data/test.jsonl"])
            .args(args),
        script,
    );
    println!("{script}: {:.1} s", t.elapsed().as_secs_f64());
    summary(&out)
}

#[test]
fn python_client_against_the_real_services() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, certs) = (tmp.path().join("root"), tmp.path().join("certs"));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&certs).unwrap();
    triad_tests::tls::certificates(&certs);
    std::fs::write(certs.join("tokens"), format!("# accepted\n{TOKEN}\n")).unwrap();
    let python = install_client(tmp.path());
    data_root(&root);
    let (trainer, evaluator) = services(&root, &certs);
    let addrs = (trainer.addr.as_str(), evaluator.addr.as_str());
    let cert = |f: &str| certs.join(f).to_str().unwrap().to_string();

    // The example, over mutual TLS with the token.
    let example = python_script(
        &python,
        "clients/python/examples/train_and_evaluate.py",
        addrs,
        &root,
        &[
            "--ca",
            &cert("ca.pem"),
            "--client-cert",
            &cert("client.pem"),
            "--client-key",
            &cert("client.key"),
            "--token-file",
            &cert("tokens"),
            "--output-dir",
            "runs/example",
            "--steps",
            "8",
            "--lr",
            "1e-2",
            "--max-length",
            "64",
            "--device",
            "cpu",
            "--json",
        ],
    );
    println!("example: {example}");
    let loss = example["privacy_loss"].as_f64().unwrap();
    let ci: Vec<f64> = example["privacy_loss_ci95"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(ci.len(), 2, "{example}");
    assert!(
        loss.is_finite() && ci[0] <= loss && loss <= ci[1],
        "{example}"
    );

    // The same adapter and data through the library (`triad eval`): the same numbers.
    let adapter = root.join(example["adapter"].as_str().unwrap());
    let out = tmp.path().join("METRICS.json");
    run(
        Command::new(triad_tests::binary("triad"))
            .args(["eval", "--device", "cpu", "--cache-dir", "none", "--base"])
            .arg(root.join("models/tiny"))
            .arg("--adapter")
            .arg(&adapter)
            .arg("--train")
            .arg(root.join("data/train.jsonl"))
            .arg("--test")
            .arg(root.join("data/test.jsonl"))
            .args(["--max-length", &example["max_length"].to_string()])
            .arg("--out")
            .arg(&out),
        "triad eval",
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let cli: Metrics = triad_proto::json::from_file_text(&text).unwrap();
    assert_eq!(loss, cli.privacy_loss, "privacy loss: client vs triad eval");
    assert_eq!(
        ci, cli.privacy_loss_ci95,
        "its interval: client vs triad eval"
    );

    // Versions, refusals, scores and a cancelled watch.
    let checks = python_script(
        &python,
        "clients/python/tests/check_services.py",
        addrs,
        &root,
        &[
            "--certs",
            certs.to_str().unwrap(),
            "--repo",
            triad_tests::workspace_root().to_str().unwrap(),
            "--version",
            env!("CARGO_PKG_VERSION"),
        ],
    );
    println!("checks: {checks:#}");
    let refusals = checks["unauthenticated"].as_object().unwrap();
    assert_eq!(refusals.len(), 6, "{checks}");
    assert_eq!(
        checks["cancelled_watch"]["final_states"]
            .as_array()
            .unwrap()
            .last()
            .unwrap(),
        "RUN_STATE_CANCELLED"
    );
}

//! The trainer service through a real gRPC client generated from the .proto files (Python
//! grpcio stubs): a run watched to completion, cancellations, health, reflection, and bad
//! requests refused with the right codes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use triad_lm::data::generate::{generate, write, Domain, Spec};

#[test]
fn trainer_service_through_grpcio_client() {
    let root = tempfile::tempdir().unwrap();
    let tiny = root.path().join("models/tiny");
    triad_tests::run_oracle(
        "tiny_lm_with_tokenizer.py",
        &[
            tiny.to_str().unwrap(),
            triad_tests::neox_tokenizer().to_str().unwrap(),
        ],
    );
    let spec = Spec {
        domain: Domain::CustomerSupport,
        train: 16,
        test: 2,
        canaries: 0,
        canary_repeats: 0,
        seed: 1,
    };
    write(&root.path().join("data"), &spec, &generate(&spec)).unwrap();
    std::fs::write(root.path().parent().unwrap().join("secret.jsonl"), "{}").ok();

    let mut server = Command::new(env!("CARGO_BIN_EXE_triad-trainer"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--data-root",
            root.path().to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .expect("address line")
        .to_string();

    let proto = triad_tests::workspace_root().join("proto");
    let out = std::panic::catch_unwind(|| {
        triad_tests::run_oracle("trainer_grpc_client.py", &[&addr, proto.to_str().unwrap()])
    });
    server.kill().ok();
    server.wait().ok();
    let out = out.unwrap_or_else(|e| std::panic::resume_unwind(e));
    let summary: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    println!("{summary:#}");
    assert_eq!(summary["watched"]["steps"], 4);
}

//! The trainer service through a real gRPC client generated from the .proto files (Python
//! grpcio stubs): a run watched to completion, cancellations, health, reflection, and bad
//! requests refused with the right codes.

use triad_data::generate::{generate, write, Domain, Spec};

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
        records_per_user: None,
        seed: 1,
    };
    write(&root.path().join("data"), &spec, &generate(&spec)).unwrap();
    std::fs::write(root.path().parent().unwrap().join("secret.jsonl"), "{}").ok();

    let server = triad_tests::Service::start(
        env!("CARGO_BIN_EXE_triad-trainer"),
        &["--data-root", root.path().to_str().unwrap()],
    );
    let proto = triad_tests::workspace_root().join("proto");
    let out = triad_tests::run_oracle(
        "trainer_grpc_client.py",
        &[
            &server.addr,
            proto.to_str().unwrap(),
            root.path().to_str().unwrap(),
        ],
    );
    let summary: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    println!("{summary:#}");
    assert_eq!(summary["watched"]["steps"], 4);
    // A client generated from the .proto read the DP run's ε as typed fields.
    assert!(summary["dp_record"]["epsilon"].as_f64().unwrap() > 0.0);
}

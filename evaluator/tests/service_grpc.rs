//! The evaluator service through a real gRPC client generated from the .proto files (Python
//! grpcio stubs): Evaluate's progress stream and metrics (cached the second time), ScoreTexts
//! against transformers, health, reflection, and bad requests refused with the right codes.
//! The metrics the service returned equal the library's on the same inputs.

use std::path::Path;
use triad_data::audit::Design;
use triad_data::generate::{generate, write, Domain, Spec};
use triad_evaluator::eval::evaluate;
use triad_evaluator::spec::EvalSpec;
use triad_lm::tch::Device;

#[test]
fn evaluator_service_through_grpcio_client() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    triad_tests::run_oracle(
        "tiny_lm_with_tokenizer.py",
        &[
            r.join("models/tiny").to_str().unwrap(),
            triad_tests::neox_tokenizer().to_str().unwrap(),
        ],
    );
    let spec = Spec {
        domain: Domain::CustomerSupport,
        train: 12,
        test: 12,
        canaries: 1,
        canary_repeats: 2,
        records_per_user: None,
        seed: 3,
    };
    let mut data = generate(&spec);
    data.add_audit(20, Design::Digits, 3, None, 1).unwrap();
    write(&r.join("data"), &spec, &data).unwrap();

    let server = triad_tests::Service::start(
        env!("CARGO_BIN_EXE_triad-evaluator"),
        &["--data-root", r.to_str().unwrap()],
    );
    let proto = triad_tests::workspace_root().join("proto");
    let out = triad_tests::run_oracle(
        "evaluator_grpc_client.py",
        &[&server.addr, proto.to_str().unwrap(), r.to_str().unwrap()],
    );
    let peak = server.peak_rss_bytes();
    drop(server);
    let summary: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    // The 100,000-character text's logits alone would be tokens × vocabulary × 4 bytes at once
    // (several GB with this tokenizer's 50k vocabulary); in pieces the whole service stays small.
    let long = &summary["long_text"];
    let whole_logits = long["tokens"].as_u64().unwrap() * 50_000 * 4;
    println!("long text {long}; peak RSS {peak:?} B; unchunked logits would be {whole_logits} B");
    assert!(
        whole_logits > 3 << 30,
        "the text is too short to test the bound: {long}"
    );
    if let Some(peak) = peak {
        assert!(peak < 1536 << 20, "peak RSS {peak} B over 1.5 GiB");
    }
    println!("{:#}", summary["bad_requests"]);
    println!(
        "stages {}, ScoreTexts max |Δ| vs transformers {}",
        summary["stages"], summary["score_texts_max_abs_diff"]
    );

    // The same evaluation through the library.
    let p = |rel: &str| r.join(rel);
    let mut lib = EvalSpec::new(
        p("models/tiny"),
        p("data/train.jsonl"),
        p("data/test.jsonl"),
        Device::Cpu,
    );
    lib.checkpoint = Some(p("models/tuned"));
    lib.canaries = Some(p("data/canaries.jsonl"));
    lib.audit = Some(p("data/audit.jsonl"));
    lib.audit_delta = Some(1e-4);
    let lib_metrics = evaluate(&lib, &mut |_, _, _| {}).unwrap();
    let want = serde_json::to_value(lib_metrics.to_message()).unwrap();
    // The message the client received, read with the Rust types and written as METRICS.json.
    let hex = summary["metrics_pb"].as_str().unwrap();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let received = <triad_proto::v1::Metrics as prost::Message>::decode(&bytes[..]).unwrap();
    let got = &serde_json::to_value(received).unwrap();
    for key in [
        "train",
        "test",
        "privacy_loss",
        "privacy_loss_ci95",
        "utility",
        "memorisation_gap",
        "memorisation_gap_ci95",
        "memorisation_gap_corrected",
        "extraction",
        "canary_records_excluded",
        "audit",
        "audit_records_excluded",
        "intervals",
    ] {
        assert_eq!(got[key], want[key], "{key}");
    }
    // The wire carries every interval the file does.
    assert!(got["privacy_loss_ci95"].is_array(), "{got}");
    assert!(got["utility"]["nll_ci95"].is_array(), "{got}");
    assert!(got["membership_inference"]["loss"]["auc_ci95"].is_array());
    assert_eq!(got["canary_records_excluded"]["train"], 2);
    // The audit travels with the request's file and δ.
    assert_eq!(got["audit"]["m"], 20);
    assert_eq!(got["audit"]["delta"], 1e-4);
    assert_eq!(
        got["audit_records_excluded"]["train"],
        got["audit"]["included"]
    );
    assert_eq!(
        got["membership_inference"]["loss"],
        want["membership_inference"]["loss"]
    );
    assert_eq!(got["exposure"], want["exposure"]);
    assert!(!Path::new(got["base"].as_str().unwrap()).is_absolute());
}

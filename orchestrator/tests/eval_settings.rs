//! `triad eval` and the evaluator service accept and refuse exactly the same settings: one table
//! of good and bad values drives both, on a tiny model. A refusal names the setting in each
//! surface's own terms (`--batch-size`, field `batch_size`) with the same reason.

mod common;
use common::triad;
use std::path::Path;
use std::process::Command;
use triad_proto::v1::{evaluator_client::EvaluatorClient, Device, EvaluateRequest};

/// One row: the setting (its request field name), its value as the CLI flag reads it, and
/// whether it must be accepted. Zero is left out: in a request it means "the default".
const TABLE: &[(&str, &str, bool)] = &[
    ("batch_size", "1", true),
    ("batch_size", "256", true),
    ("batch_size", "257", false),
    ("min_k", "1", true),
    ("min_k", "0.05", true),
    ("min_k", "1.5", false),
    ("min_k", "NaN", false),
    ("exposure_exact_max", "1000000", true),
    ("exposure_exact_max", "1000001", false),
    ("exposure_samples", "100000", true),
    ("exposure_samples", "100001", false),
    ("exposure_search_budget", "1", true),
    ("exposure_search_budget", "1000001", false),
    ("max_length", "2", true),
    ("max_length", "131072", true),
    ("max_length", "1", false),
    ("max_length", "131073", false),
    ("audit_delta", "0.5", true),
    ("audit_delta", "1", false),
    ("audit_delta", "NaN", false),
];

fn world(root: &Path) {
    triad(&[
        "data",
        "generate",
        "customer-support",
        "--train",
        "3",
        "--test",
        "3",
        "--seed",
        "5",
        "--out",
        root.join("data").to_str().unwrap(),
    ]);
    let tok = root.join("tokenizer.json");
    triad_tests::run_oracle(
        "digit_tokenizer.py",
        &[
            tok.to_str().unwrap(),
            root.join("data/train.jsonl").to_str().unwrap(),
        ],
    );
    triad_tests::run_oracle(
        "tiny_lm_with_tokenizer.py",
        &[
            root.join("models/tiny").to_str().unwrap(),
            tok.to_str().unwrap(),
        ],
    );
}

/// `triad eval` with one setting: `Ok` or its error text.
fn cli(root: &Path, field: &str, value: &str) -> Result<(), String> {
    let p = |rel: &str| root.join(rel).to_str().unwrap().to_string();
    let flag = format!("--{}", field.replace('_', "-"));
    let out = Command::new(env!("CARGO_BIN_EXE_triad"))
        .args(["eval", "--base", &p("models/tiny"), "--checkpoint"])
        .args([&p("models/tiny"), "--train", &p("data/train.jsonl")])
        .args(["--test", &p("data/test.jsonl"), "--device", "cpu"])
        .args(["--cache-dir", "none", "--out", &p("metrics.json")])
        .args([&flag, value])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        Ok(())
    } else {
        Err(err)
    }
}

fn request(field: &str, value: &str) -> EvaluateRequest {
    let mut r = EvaluateRequest {
        base_model: "models/tiny".into(),
        checkpoint: "models/tiny".into(),
        train_file: "data/train.jsonl".into(),
        test_file: "data/test.jsonl".into(),
        device: Device::Cpu as i32,
        ..Default::default()
    };
    let int = || value.parse::<u64>().unwrap();
    let real = || value.parse::<f64>().unwrap();
    match field {
        "batch_size" => r.batch_size = int() as u32,
        "min_k" => r.min_k = real(),
        "exposure_exact_max" => r.exposure_exact_max = int(),
        "exposure_samples" => r.exposure_samples = int() as u32,
        "exposure_search_budget" => r.exposure_search_budget = int() as u32,
        "max_length" => r.max_length = int() as u32,
        "audit_delta" => r.audit_delta = real(),
        other => panic!("no setting {other}"),
    }
    r
}

/// The Evaluate RPC with one setting: `Ok` once its metrics arrive, or the status message.
async fn service(addr: &str, field: &str, value: &str) -> Result<(), String> {
    let mut client = EvaluatorClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let mut stream = match client.evaluate(request(field, value)).await {
        Ok(s) => s.into_inner(),
        Err(s) => return Err(format!("{:?}: {}", s.code(), s.message())),
    };
    loop {
        match stream.message().await {
            Ok(Some(ev))
                if matches!(
                    ev.event,
                    Some(triad_proto::v1::evaluate_event::Event::Metrics(_))
                ) =>
            {
                return Ok(())
            }
            Ok(Some(_)) => {}
            Ok(None) => return Err("the stream ended without metrics".into()),
            Err(s) => return Err(format!("{:?}: {}", s.code(), s.message())),
        }
    }
}

#[test]
fn triad_eval_and_the_service_accept_and_refuse_the_same_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    world(root);
    let server = triad_tests::Service::start(
        triad_tests::binary("triad-evaluator").to_str().unwrap(),
        &["--data-root", root.to_str().unwrap()],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut wrong = vec![];
    for &(field, value, ok) in TABLE {
        let by_cli = cli(root, field, value);
        let by_service = rt.block_on(service(&server.addr, field, value));
        println!("{field} = {value}: cli {by_cli:?}; service {by_service:?}");
        if by_cli.is_ok() != ok || by_service.is_ok() != ok {
            wrong.push(format!(
                "{field} = {value}: cli {by_cli:?}, service {by_service:?}"
            ));
            continue;
        }
        if let (Err(c), Err(s)) = (&by_cli, &by_service) {
            // The same reason, each naming the setting its own way.
            let flag = format!("--{}", field.replace('_', "-"));
            let reason = s.split_once(&format!("field `{field}`: ")).map(|x| x.1);
            let same = reason.is_some_and(|r| c.contains(&format!("{flag}: {r}")));
            if !s.starts_with("InvalidArgument") || !same {
                wrong.push(format!("{field} = {value}: cli {c:?} vs service {s:?}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the two surfaces disagree:\n{}",
        wrong.join("\n")
    );
}

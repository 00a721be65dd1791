//! Both services against requests whose values are as large as the request limit allows
//! (issue 26): a megabyte path, a megabyte config value, arrays 10,000 deep. Every refusal
//! reaches the client as a status it can read (its message used to run to megabytes, which a
//! client refuses as "metadata size exceeds hard limit"), naming the field, and under 4 KiB.

use tonic::Code;
use triad_proto::v1::evaluator_client::EvaluatorClient;
use triad_proto::v1::trainer_client::TrainerClient;
use triad_proto::v1::{EvaluateRequest, StartRunRequest};

type Channel = tonic::transport::Channel;

/// The rest of a run config that parses.
const RUN: &str = "method = \"full\"\nepochs = 1\n[optimizer]\nlr = 0.001\n";

async fn channel(addr: &str) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn check(what: &str, s: &tonic::Status, field: &str) {
    let m = s.message();
    assert!(
        matches!(
            s.code(),
            Code::InvalidArgument | Code::NotFound | Code::FailedPrecondition
        ),
        "{what}: {:?}: {}",
        s.code(),
        &m[..m.len().min(300)]
    );
    assert!(m.len() < 4096, "{what}: {} bytes", m.len());
    assert!(m.contains(field), "{what}: {}", &m[..m.len().min(300)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn megabyte_values_get_short_errors_naming_their_field() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_str().unwrap();
    let evaluator = triad_tests::Service::start(
        triad_tests::binary("triad-evaluator").to_str().unwrap(),
        &["--data-root", root, "--cache-dir", "none"],
    );
    let trainer = triad_tests::Service::start(
        triad_tests::binary("triad-trainer").to_str().unwrap(),
        &["--data-root", root],
    );
    let mut ev = EvaluatorClient::new(channel(&evaluator.addr).await);
    let mut tr = TrainerClient::new(channel(&trainer.addr).await);
    let huge = "x".repeat(1 << 20);

    let req = EvaluateRequest {
        base_model: huge.clone(),
        checkpoint: "c".into(),
        train_file: "t".into(),
        test_file: "t".into(),
        ..Default::default()
    };
    let s = ev.evaluate(req).await.map(|_| ()).unwrap_err();
    check("Evaluate base_model", &s, "field `base_model`");

    let req = StartRunRequest {
        config_toml: format!("model = \"m\"\ntrain_file = \"t\"\n{RUN}"),
        output_dir: huge.clone(),
        ..Default::default()
    };
    let s = tr.start_run(req).await.unwrap_err();
    check("StartRun output_dir", &s, "output_dir");

    let req = StartRunRequest {
        config_toml: format!("model = \"{huge}\"\ntrain_file = \"t\"\n{RUN}"),
        output_dir: "out".into(),
        ..Default::default()
    };
    let s = tr.start_run(req).await.unwrap_err();
    check("StartRun config_toml.model", &s, "model");

    let deep = format!("x = {}1{}\n", "[".repeat(10_000), "]".repeat(10_000));
    let req = StartRunRequest {
        config_toml: deep,
        output_dir: "out".into(),
        ..Default::default()
    };
    let s = tr.start_run(req).await.unwrap_err();
    check("StartRun deep arrays", &s, "config_toml");
}

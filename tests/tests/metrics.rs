//! Both services serve Prometheus metrics at `/metrics` on their plaintext health port: a
//! study runs through them while this test scrapes both, and the named series move — runs by
//! state, steps, throughput, ε spent, queue, evaluation stages, RPC counts and latencies.

use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

/// `GET /metrics` over plain HTTP/1.1 (what a Prometheus scraper sends).
fn scrape(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the health port");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read the response");
    let (head, body) = out.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_lowercase()
            .contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    body.to_string()
}

/// The value of the sample `series` (name with labels, exactly as exposed), 0 when absent.
/// Chunked transfer framing lines never match a series name.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .filter_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .filter_map(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .next()
        .unwrap_or(0.0)
}

const SPEC: &str = "name = \"metrics\"\n[model]\npath = \"tiny\"\n[data]\ngenerate = \"customer-support\"\ntrain = 24\ntest = 8\n[train]\nepochs = 2\nbatch_size = 4\nmax_length = 64\ndevice = \"cpu\"\n[[method]]\nmethod = \"dp\"\ntarget_epsilon = [4.0]\nlr = [1e-2]\n";

#[test]
fn both_services_expose_metrics_that_move_during_a_study() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    triad_tests::run_oracle(
        "tiny_lm_with_tokenizer.py",
        &[
            root.join("tiny").to_str().unwrap(),
            triad_tests::neox_tokenizer().to_str().unwrap(),
        ],
    );
    let args = [
        "--data-root",
        root.to_str().unwrap(),
        "--health-listen",
        "127.0.0.1:0",
    ];
    let start =
        |bin: &str| triad_tests::Service::start(triad_tests::binary(bin).to_str().unwrap(), &args);
    let (trainer, evaluator) = (start("triad-trainer"), start("triad-evaluator"));
    let (th, eh) = (trainer.health_addr(), evaluator.health_addr());
    let before = (scrape(&th), scrape(&eh));
    assert_eq!(
        value(&before.0, "triad_trainer_steps_total"),
        0.0,
        "{}",
        before.0
    );
    assert!(
        before.1.contains("triad_evaluator_running 0"),
        "{}",
        before.1
    );

    std::fs::write(root.join("study.toml"), SPEC).unwrap();
    let mut study = Command::new(triad_tests::binary("triad"))
        .args([
            "study",
            "run",
            root.join("study.toml").to_str().unwrap(),
            "--dir",
        ])
        .arg(root.join("studies/metrics"))
        .args(["--trainer", &trainer.addr, "--evaluator", &evaluator.addr])
        .arg("--data-root")
        .arg(&root)
        .stderr(std::fs::File::create(root.join("study.log")).unwrap())
        .spawn()
        .unwrap();
    // Scrape while it runs: the steps counter must be seen between 0 and its final value.
    let (mut during, t) = (vec![], Instant::now());
    let status = loop {
        if let Some(s) = study.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "the study never ended"
        );
        during.push(value(&scrape(&th), "triad_trainer_steps_total"));
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.success(),
        "the study failed:\n{}",
        std::fs::read_to_string(root.join("study.log")).unwrap_or_default()
    );
    let (t_after, e_after) = (scrape(&th), scrape(&eh));
    println!("--- trainer\n{t_after}\n--- evaluator\n{e_after}");

    let steps = value(&t_after, "triad_trainer_steps_total");
    assert!(steps >= 12.0, "2 epochs of ~6 DP steps: {steps}");
    assert!(
        during.iter().any(|&s| s > 0.0 && s < steps),
        "no scrape saw a run part-way: {during:?}"
    );
    for (series, at_least) in [
        ("triad_trainer_runs{state=\"succeeded\"}", 1.0),
        ("triad_trainer_epsilon_spent", 0.5),
        ("triad_trainer_tokens_per_second", 1.0),
        (
            "triad_rpc_requests_total{method=\"triad.v1.Trainer/StartRun\",code=\"OK\"}",
            1.0,
        ),
        (
            "triad_rpc_requests_total{method=\"triad.v1.Trainer/WatchRun\",code=\"OK\"}",
            1.0,
        ),
        (
            "triad_rpc_duration_seconds_count{method=\"triad.v1.Trainer/StartRun\"}",
            1.0,
        ),
    ] {
        assert!(value(&t_after, series) >= at_least, "{series} < {at_least}");
    }
    let eps = value(&t_after, "triad_trainer_epsilon_spent");
    assert!(eps <= 4.0 + 1e-6, "ε spent {eps} over the target 4");
    assert_eq!(value(&t_after, "triad_trainer_queue_length"), 0.0);
    assert_eq!(
        value(&t_after, "triad_trainer_runs{state=\"running\"}"),
        0.0
    );
    // The base row and two checkpoints.
    for (series, at_least) in [
        ("triad_evaluator_evaluations_total{outcome=\"ok\"}", 3.0),
        (
            "triad_evaluator_stage_duration_seconds_count{stage=\"checkpoint train\"}",
            2.0,
        ),
        ("triad_evaluator_tokens_scored_total", 100.0),
        (
            "triad_rpc_requests_total{method=\"triad.v1.Evaluator/Evaluate\",code=\"OK\"}",
            3.0,
        ),
    ] {
        assert!(value(&e_after, series) >= at_least, "{series} < {at_least}");
    }
    assert_eq!(value(&e_after, "triad_evaluator_running"), 0.0);
    // Health still answers gRPC on the same port.
    assert!(e_after.contains("triad_rpc_requests_total"));
}

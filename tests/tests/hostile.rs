//! Both services against hostile and careless clients, as processes on loopback:
//!
//! - `no_message_a_client_receives_shows_a_server_path`: one sweep over every error case we
//!   know of (bad configs, files and folders that are not what they claim, links out of the
//!   root, numbers out of range, devices that are not there) — every status message, run error,
//!   run record and event must be free of the server's paths.
//! - `random_requests_find_no_panic_hang_or_escape`: a few hundred random requests built from
//!   hostile values and byte mutations (bounded in count and time): no panic (no incident id,
//!   the processes live and serve), no hang (every call and every accepted run ends within its
//!   bound), nothing read or written outside the data root.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tonic::Code;
use triad_proto::v1::evaluator_client::EvaluatorClient;
use triad_proto::v1::trainer_client::TrainerClient;
use triad_proto::v1::{
    CancelRunRequest, EvaluateRequest, GetRunRequest, RunState, ScoreTextsRequest, StartRunRequest,
    TextInput, WatchRunRequest,
};
use triad_tests::fuzz::{random_config, Rand, PATHS};

type Channel = tonic::transport::Channel;

/// A data root with good and bad things in it, an `outside` folder beside it, and both
/// services over it.
struct World {
    tmp: tempfile::TempDir,
    root: PathBuf,
    trainer: triad_tests::Service,
    evaluator: triad_tests::Service,
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn copy_model(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in std::fs::read_dir(from).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
    }
}

impl World {
    fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        write(
            &outside.join("secret.jsonl"),
            "{\"text\": \"the outside secret\"}\n",
        );
        let tiny = root.join("models/tiny");
        triad_tests::run_oracle(
            "tiny_lm_with_tokenizer.py",
            &[
                tiny.to_str().unwrap(),
                triad_tests::neox_tokenizer().to_str().unwrap(),
            ],
        );
        let gen = Command::new(triad_tests::binary("triad"))
            .args(["data", "generate", "customer-support", "--train", "12"])
            .args(["--test", "4", "--canaries", "2", "--canary-repeats", "2"])
            .arg("--out")
            .arg(root.join("data"))
            .output()
            .unwrap();
        assert!(gen.status.success(), "{gen:?}");
        // Models that are not what they claim.
        let m = root.join("models");
        copy_model(&tiny, &m.join("bad-weights"));
        write(&m.join("bad-weights/model.safetensors"), [7u8; 4096]);
        copy_model(&tiny, &m.join("no-tokenizer"));
        std::fs::remove_file(m.join("no-tokenizer/tokenizer.json")).unwrap();
        // Shapes that disagree with the weights (libtorch's own errors, with their backtraces).
        copy_model(&tiny, &m.join("wrong-shape"));
        let cfg = std::fs::read_to_string(tiny.join("config.json")).unwrap();
        write(
            &m.join("wrong-shape/config.json"),
            cfg.replace("\"intermediate_size\": 64", "\"intermediate_size\": 96")
                .replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 8"),
        );
        copy_model(&tiny, &m.join("bad-config"));
        write(
            &m.join("bad-config/config.json"),
            "{\"model_type\": \"llama\",",
        );
        copy_model(&tiny, &m.join("bad-tokenizer"));
        write(&m.join("bad-tokenizer/tokenizer.json"), "{\"version\": 1}");
        copy_model(&tiny, &m.join("linked-weights"));
        std::fs::remove_file(m.join("linked-weights/model.safetensors")).unwrap();
        std::os::unix::fs::symlink(
            outside.join("secret.jsonl"),
            m.join("linked-weights/model.safetensors"),
        )
        .unwrap();
        // Data that is not what it claims.
        let d = root.join("data");
        write(
            &d.join("bad-line.jsonl"),
            "{\"text\": \"ok\"}\n{\"text\": 3}\n",
        );
        write(&d.join("binary.jsonl"), [0xffu8, 0xfe, 0, 1, 2, 0x80, 10]);
        write(&d.join("empty.jsonl"), "");
        write(&d.join("bad-canaries.jsonl"), "{\"id\": 1}\n");
        std::fs::create_dir_all(d.join("a-folder.jsonl")).unwrap();
        std::os::unix::fs::symlink(outside.join("secret.jsonl"), d.join("linked.jsonl")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("out-link")).unwrap();
        std::os::unix::fs::symlink(root.join("nowhere"), root.join("dangling")).unwrap();
        let arg = root.to_str().unwrap();
        let trainer = triad_tests::Service::start(
            triad_tests::binary("triad-trainer").to_str().unwrap(),
            &["--data-root", arg],
        );
        let evaluator = triad_tests::Service::start(
            triad_tests::binary("triad-evaluator").to_str().unwrap(),
            &["--data-root", arg, "--cache-dir", "none"],
        );
        World {
            tmp,
            root,
            trainer,
            evaluator,
        }
    }

    async fn channel(addr: &str) -> Channel {
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    async fn clients(&self) -> (TrainerClient<Channel>, EvaluatorClient<Channel>) {
        let t = TrainerClient::new(Self::channel(&self.trainer.addr).await)
            .max_decoding_message_size(64 << 20);
        let e = EvaluatorClient::new(Self::channel(&self.evaluator.addr).await)
            .max_decoding_message_size(64 << 20);
        (t, e)
    }

    /// Text that would tell a client where the server keeps its files or its software.
    fn leaks(&self, text: &str) -> Option<String> {
        let mut marks: Vec<String> = vec![
            self.tmp.path().to_string_lossy().into_owned(),
            triad_tests::workspace_root().to_string_lossy().into_owned(),
            "site-packages".into(),
            ".cargo/registry".into(),
            "/rustc/".into(),
            "/usr/lib".into(),
        ];
        if let Ok(c) = self.tmp.path().canonicalize() {
            marks.push(c.to_string_lossy().into_owned());
        }
        if let Ok(home) = std::env::var("HOME") {
            if home.len() > 1 {
                marks.push(home);
            }
        }
        marks
            .into_iter()
            .find(|m| text.contains(m.as_str()))
            .map(|m| format!("`{m}` in: {text}"))
    }

    /// Everything under the temporary folder but the data root: names and contents.
    fn outside_snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut todo = vec![self.tmp.path().to_path_buf()];
        while let Some(dir) = todo.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p == self.root {
                    continue;
                }
                let meta = std::fs::symlink_metadata(&p).unwrap();
                if meta.is_dir() {
                    todo.push(p.clone());
                    out.insert(p, vec![]);
                } else {
                    out.insert(p.clone(), std::fs::read(&p).unwrap_or_default());
                }
            }
        }
        out
    }
}

const GOOD_RUN: &str = "model = \"models/tiny\"\ntrain_file = \"data/train.jsonl\"\nmethod = \"lora\"\nsteps = 2\nbatch_size = 2\nmax_length = 48\ndevice = \"cpu\"\n[optimizer]\nlr = 0.001\n";

fn good_evaluate() -> EvaluateRequest {
    EvaluateRequest {
        base_model: "models/tiny".into(),
        checkpoint: "models/tiny".into(),
        train_file: "data/train.jsonl".into(),
        test_file: "data/test.jsonl".into(),
        device: triad_proto::v1::Device::Cpu as i32,
        max_length: 48,
        ..Default::default()
    }
}

/// What one request led to, as a client sees it: the status, or every message of the stream.
#[derive(Debug)]
struct Seen {
    code: Code,
    text: String,
}

fn terminal(state: i32) -> bool {
    [RunState::Succeeded, RunState::Failed, RunState::Cancelled]
        .iter()
        .any(|s| *s as i32 == state)
}

/// StartRun; when accepted, the run watched to its end (cancelled when `cancel`), and its
/// events, error and record collected.
async fn start_run(
    t: &mut TrainerClient<Channel>,
    config: &str,
    output_dir: &str,
    cancel: bool,
) -> Seen {
    let req = StartRunRequest {
        config_toml: config.into(),
        output_dir: output_dir.into(),
        ..Default::default()
    };
    let id = match t.start_run(req).await {
        Err(s) => {
            return Seen {
                code: s.code(),
                text: s.message().into(),
            }
        }
        Ok(r) => r.into_inner().run_id,
    };
    if cancel {
        let _ = t.cancel_run(CancelRunRequest { run_id: id.clone() }).await;
    }
    let mut text = String::new();
    let watch = async {
        let mut stream = t
            .watch_run(WatchRunRequest { run_id: id.clone() })
            .await
            .unwrap()
            .into_inner();
        while let Some(ev) = stream.message().await.unwrap() {
            text.push_str(&format!("{ev:?}\n"));
        }
    };
    tokio::time::timeout(Duration::from_secs(300), watch)
        .await
        .unwrap_or_else(|_| panic!("run {id} of {config:?} never ended"));
    let run = t
        .get_run(GetRunRequest { run_id: id })
        .await
        .unwrap()
        .into_inner();
    assert!(terminal(run.state), "{run:?}");
    text.push_str(&run.error);
    text.push_str(&format!("{:?}", run.record));
    assert_eq!(run.error.is_empty(), run.error_code == 0, "{run:?}");
    Seen {
        code: Code::from(run.error_code),
        text,
    }
}

async fn evaluate(e: &mut EvaluatorClient<Channel>, req: EvaluateRequest) -> Seen {
    let call = async {
        let mut text = String::new();
        let mut stream = match e.evaluate(req).await {
            Err(s) => return (s.code(), s.message().to_string()),
            Ok(r) => r.into_inner(),
        };
        loop {
            match stream.message().await {
                Ok(Some(ev)) => text.push_str(&format!("{ev:?}\n")),
                Ok(None) => return (Code::Ok, text),
                Err(s) => return (s.code(), text + s.message()),
            }
        }
    };
    let (code, text) = tokio::time::timeout(Duration::from_secs(300), call)
        .await
        .expect("Evaluate never ended");
    Seen { code, text }
}

async fn score(e: &mut EvaluatorClient<Channel>, req: ScoreTextsRequest) -> Seen {
    match tokio::time::timeout(Duration::from_secs(120), e.score_texts(req))
        .await
        .expect("ScoreTexts never ended")
    {
        Ok(r) => Seen {
            code: Code::Ok,
            text: format!("{:?}", r.into_inner().scores.len()),
        },
        Err(s) => Seen {
            code: s.code(),
            text: s.message().into(),
        },
    }
}

fn texts(model: &str, device: i32) -> ScoreTextsRequest {
    ScoreTextsRequest {
        model: model.into(),
        texts: vec![TextInput {
            id: "a".into(),
            text: "Customer: my PIN is 4417.".into(),
        }],
        device,
        ..Default::default()
    }
}

/// StartRun cases: (name, config, output_dir).
#[rustfmt::skip]
fn run_cases() -> Vec<(&'static str, String, &'static str)> {
    let run = |from: &str, to: &str| GOOD_RUN.replace(from, to);
    let dp = |sigma: &str| format!("{}[dp]\nnoise_multiplier = {sigma}\nmax_grad_norm = 1.0\n", run("\"lora\"", "\"dp\""));
    vec![
        ("empty", String::new(), "runs/x"),
        ("not toml", "model = [".into(), "runs/x"),
        ("unknown key", format!("{GOOD_RUN}\nbogus = 1\n"), "runs/x"),
        ("model missing", run("models/tiny", "models/none"), "runs/x"),
        ("model absolute", run("models/tiny", "/etc"), "runs/x"),
        ("model escapes", run("models/tiny", "../outside"), "runs/x"),
        ("model through a link", run("models/tiny", "out-link"), "runs/x"),
        ("model dangling", run("models/tiny", "dangling"), "runs/x"),
        ("weights linked out", run("models/tiny", "models/linked-weights"), "runs/x"),
        ("weights garbage", run("models/tiny", "models/bad-weights"), "runs/bw"),
        ("no tokenizer", run("models/tiny", "models/no-tokenizer"), "runs/nt"),
        ("bad tokenizer", run("models/tiny", "models/bad-tokenizer"), "runs/bt"),
        ("bad config.json", run("models/tiny", "models/bad-config"), "runs/bc"),
        ("wrong shapes", run("models/tiny", "models/wrong-shape"), "runs/ws"),
        ("train missing", run("data/train.jsonl", "data/none.jsonl"), "runs/x"),
        ("train bad line", run("data/train.jsonl", "data/bad-line.jsonl"), "runs/bl"),
        ("train binary", run("data/train.jsonl", "data/binary.jsonl"), "runs/bin"),
        ("train empty", run("data/train.jsonl", "data/empty.jsonl"), "runs/em"),
        ("train is a folder", run("data/train.jsonl", "data/a-folder.jsonl"), "runs/x"),
        ("train linked out", run("data/train.jsonl", "data/linked.jsonl"), "runs/x"),
        ("output escapes", GOOD_RUN.into(), "../outside/run"),
        ("output absolute", GOOD_RUN.into(), "/tmp/run"),
        ("output through a link", GOOD_RUN.into(), "out-link/run"),
        ("output dangling", GOOD_RUN.into(), "dangling"),
        ("output is a file", GOOD_RUN.into(), "data/train.jsonl"),
        ("lr inf", run("lr = 0.001", "lr = inf"), "runs/x"),
        ("lr negative", run("lr = 0.001", "lr = -1.0"), "runs/x"),
        ("sigma negative", dp("-1.0"), "runs/x"),
        ("sigma nan", dp("nan"), "runs/x"),
        ("r huge", format!("{GOOD_RUN}[lora]\nr = 1000000000\n"), "runs/x"),
        ("batch zero", run("batch_size = 2", "batch_size = 0"), "runs/x"),
        ("length zero", run("max_length = 48", "max_length = 0"), "runs/x"),
        ("dtype bogus", format!("dtype = \"f13\"\n{GOOD_RUN}"), "runs/dt"),
        ("device cuda", run("device = \"cpu\"", "device = \"cuda\""), "runs/cu"),
        ("device cuda:7", run("device = \"cpu\"", "device = \"cuda:7\""), "runs/cu7"),
        ("method bogus", run("\"lora\"", "\"everything\""), "runs/x"),
    ]
}

/// Evaluate cases: (name, request).
#[rustfmt::skip]
fn evaluate_cases() -> Vec<(&'static str, EvaluateRequest)> {
    let g = good_evaluate;
    let cuda = triad_proto::v1::Device::Cuda as i32;
    vec![
        ("base escapes", EvaluateRequest { base_model: "../outside".into(), ..g() }),
        ("base absolute", EvaluateRequest { base_model: "/etc".into(), ..g() }),
        ("base through a link", EvaluateRequest { base_model: "out-link".into(), ..g() }),
        ("weights linked out", EvaluateRequest { checkpoint: "models/linked-weights".into(), ..g() }),
        ("weights garbage", EvaluateRequest { checkpoint: "models/bad-weights".into(), ..g() }),
        ("no tokenizer", EvaluateRequest { base_model: "models/no-tokenizer".into(), ..g() }),
        ("bad tokenizer", EvaluateRequest { base_model: "models/bad-tokenizer".into(), ..g() }),
        ("bad config.json", EvaluateRequest { checkpoint: "models/bad-config".into(), ..g() }),
        ("wrong shapes", EvaluateRequest { base_model: "models/wrong-shape".into(), ..g() }),
        ("model as adapter", EvaluateRequest { checkpoint: String::new(), adapter: "models/tiny".into(), ..g() }),
        ("train bad line", EvaluateRequest { train_file: "data/bad-line.jsonl".into(), ..g() }),
        ("train binary", EvaluateRequest { train_file: "data/binary.jsonl".into(), ..g() }),
        ("test empty", EvaluateRequest { test_file: "data/empty.jsonl".into(), ..g() }),
        ("test is a folder", EvaluateRequest { test_file: "data/a-folder.jsonl".into(), ..g() }),
        ("train linked out", EvaluateRequest { train_file: "data/linked.jsonl".into(), ..g() }),
        ("canaries bad", EvaluateRequest { canaries_file: "data/bad-canaries.jsonl".into(), ..g() }),
        ("canaries are data", EvaluateRequest { canaries_file: "data/train.jsonl".into(), ..g() }),
        ("audit bad", EvaluateRequest { audit_file: "data/bad-line.jsonl".into(), ..g() }),
        ("audit missing", EvaluateRequest { audit_file: "data/none.jsonl".into(), ..g() }),
        ("device cuda", EvaluateRequest { device: cuda, ..g() }),
        ("device unknown", EvaluateRequest { device: 9, ..g() }),
        ("batch huge", EvaluateRequest { batch_size: u32::MAX, ..g() }),
        ("audit delta", EvaluateRequest { audit_delta: f64::NAN, ..g() }),
    ]
}

/// ScoreTexts cases: (name, model, device).
#[rustfmt::skip]
fn score_cases() -> Vec<(&'static str, &'static str, i32)> {
    let (cpu, cuda) = (triad_proto::v1::Device::Cpu as i32, triad_proto::v1::Device::Cuda as i32);
    vec![
        ("weights garbage", "models/bad-weights", cpu),
        ("no tokenizer", "models/no-tokenizer", cpu),
        ("bad tokenizer", "models/bad-tokenizer", cpu),
        ("bad config.json", "models/bad-config", cpu),
        ("wrong shapes", "models/wrong-shape", cpu),
        ("linked out", "models/linked-weights", cpu),
        ("escape", "models/../../outside", cpu),
        ("missing", "models/none", cpu),
        ("a file", "data/train.jsonl", cpu),
        ("cuda", "models/tiny", cuda),
    ]
}

#[test]
fn no_message_a_client_receives_shows_a_server_path() {
    let w = World::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (mut t, mut e) = w.clients().await;
        let mut seen: Vec<(String, Seen)> = vec![];
        for (name, config, out) in run_cases() {
            let s = start_run(&mut t, &config, out, false).await;
            seen.push((format!("StartRun {name}"), s));
        }
        for id in ["", "run-1", &"x".repeat(1 << 16), "../../etc/passwd"] {
            let get = t.get_run(GetRunRequest { run_id: id.into() }).await;
            let cancel = t.cancel_run(CancelRunRequest { run_id: id.into() }).await;
            for s in [get.err(), cancel.err()] {
                let s = s.expect("an unknown run is an error");
                let seen_one = Seen {
                    code: s.code(),
                    text: s.message().into(),
                };
                seen.push((format!("run id {id:.20}"), seen_one));
            }
        }
        for (name, req) in evaluate_cases() {
            seen.push((format!("Evaluate {name}"), evaluate(&mut e, req).await));
        }
        for (name, model, device) in score_cases() {
            let s = score(&mut e, texts(model, device)).await;
            seen.push((format!("ScoreTexts {name}"), s));
        }
        let mut failures = vec![];
        for (name, s) in &seen {
            println!("{name}: {:?}: {:.300}", s.code, s.text.replace('\n', " "));
            if let Some(leak) = w.leaks(&s.text) {
                failures.push(format!("{name}: {leak}"));
            }
        }
        let refused = seen.iter().filter(|(_, s)| s.code != Code::Ok).count();
        println!("{} cases, {refused} refused or failed", seen.len());
        assert!(
            failures.is_empty(),
            "server paths shown to clients:\n{}",
            failures.join("\n")
        );
        // Every case is a bad request: a sweep that let one through tests less than it says.
        assert_eq!(refused, seen.len(), "{seen:#?}");
        same_error_same_code(&seen);
    });
}

/// The same broken input given to both services fails with the same code: errors are
/// classified once, by the library that raises them, and mapped in triad-serve.
fn same_error_same_code(seen: &[(String, Seen)]) {
    let code = |name: &str| {
        seen.iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no case {name}"))
            .1
            .code
    };
    let shared = [
        "weights garbage",
        "no tokenizer",
        "bad tokenizer",
        "bad config.json",
        "wrong shapes",
        "train bad line",
        "train binary",
        "device cuda",
        "weights linked out",
        "train linked out",
    ];
    let mut differ = vec![];
    for case in shared {
        let run = code(&format!("StartRun {case}"));
        let eval = code(&format!("Evaluate {case}"));
        println!("{case}: trainer {run:?}, evaluator {eval:?}");
        if run != eval {
            differ.push(format!("{case}: trainer {run:?}, evaluator {eval:?}"));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// Paths that lead out of the root (or nowhere): a request naming one must never succeed.
const ESCAPES: &[&str] = &[
    "out-link", "linked", "outside", "/etc", "/tmp", "dangling", "C:\\",
];

fn escapes(path: &str) -> bool {
    ESCAPES.iter().any(|e| path.contains(e))
}

/// An Evaluate request near the good one, each field hostile with some probability.
fn random_evaluate(r: &mut Rand) -> EvaluateRequest {
    let mut q = EvaluateRequest {
        exposure_samples: 20,
        ..good_evaluate()
    };
    let path = |r: &mut Rand, field: &mut String| {
        if r.chance(0.3) {
            *field = r.pick(PATHS).to_string();
        }
    };
    path(r, &mut q.base_model);
    path(r, &mut q.checkpoint);
    path(r, &mut q.train_file);
    path(r, &mut q.test_file);
    if r.chance(0.15) {
        q.adapter = r.pick(PATHS).to_string();
    }
    if r.chance(0.15) {
        q.canaries_file = r
            .pick(&[
                "data/canaries.jsonl",
                "data/train.jsonl",
                "../outside/secret.jsonl",
                "data/linked.jsonl",
            ])
            .to_string();
    }
    if r.chance(0.15) {
        q.audit_file = r.pick(PATHS).to_string();
    }
    if r.chance(0.2) {
        q.device = *r.pick(&[0, 1, 2, 3, -1, i32::MAX]);
    }
    if r.chance(0.2) {
        q.batch_size = *r.pick(&[0, 1, 256, 257, u32::MAX]);
    }
    if r.chance(0.2) {
        q.exposure_exact_max = *r.pick(&[0, 1, 1_000_001, u64::MAX]);
    }
    if r.chance(0.2) {
        q.exposure_samples = *r.pick(&[0, 1, 100_001, u32::MAX]);
    }
    if r.chance(0.2) {
        q.max_length = *r.pick(&[0, 1, 2, 131_073, u32::MAX]);
    }
    if r.chance(0.2) {
        q.audit_delta = *r.pick(&[
            0.0,
            1e-5,
            1.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::MIN_POSITIVE,
        ]);
    }
    q
}

/// A ScoreTexts request: a model from the path pool, texts of every kind and number.
fn random_score(r: &mut Rand) -> ScoreTextsRequest {
    let model = if r.chance(0.5) {
        "models/tiny"
    } else {
        r.pick(PATHS)
    };
    let pieces = [
        "",
        "a",
        "é",
        "😀",
        "\0",
        "\u{feff}",
        "Customer: my PIN is 4417. ",
        "<|endoftext|>",
        "\n",
    ];
    let n = *r.pick(&[0, 1, 2, 5, 100, 10_000]);
    let texts = (0..n)
        .map(|i| {
            let len = *r.pick(&[0, 1, 10, 200, 3000]);
            let text: String = (0..len).map(|_| *r.pick(&pieces)).collect();
            TextInput {
                id: if r.chance(0.1) {
                    String::new()
                } else {
                    format!("t{i}")
                },
                text,
            }
        })
        .collect();
    ScoreTextsRequest {
        model: model.into(),
        adapter: if r.chance(0.1) {
            r.pick(PATHS).to_string()
        } else {
            String::new()
        },
        texts,
        device: *r.pick(&[0, 1, 1, 1, 2, 7]),
    }
}

/// Whether each service still answers health SERVING.
async fn both_serving(w: &World) -> bool {
    let mut ok = true;
    for (addr, name) in [
        (&w.trainer.addr, "triad.v1.Trainer"),
        (&w.evaluator.addr, "triad.v1.Evaluator"),
    ] {
        let mut h = tonic_health::pb::health_client::HealthClient::new(World::channel(addr).await);
        let req = tonic_health::pb::HealthCheckRequest {
            service: name.into(),
        };
        ok &= h.check(req).await.is_ok_and(|r| r.into_inner().status == 1);
    }
    ok
}

#[test]
fn random_requests_find_no_panic_hang_or_escape() {
    const CASES: usize = 400;
    const BUDGET: Duration = Duration::from_secs(420);
    let w = World::new();
    let before = w.outside_snapshot();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (mut t, mut e) = w.clients().await;
        let mut r = Rand(2026);
        let start = Instant::now();
        let mut tally: BTreeMap<String, usize> = BTreeMap::new();
        let mut failures = vec![];
        let mut done = 0;
        for i in 0..CASES {
            if start.elapsed() > BUDGET {
                break;
            }
            let (what, seen, escaping) = match r.below(3) {
                0 => {
                    let config = random_config(&mut r);
                    let out = if r.chance(0.7) {
                        format!("runs/fuzz/{i}")
                    } else {
                        r.pick(PATHS).to_string()
                    };
                    let named: Vec<&str> = config
                        .lines()
                        .filter(|l| l.starts_with("model") || l.starts_with("train_file"))
                        .collect();
                    let escaping = escapes(&out) || named.iter().any(|l| escapes(l));
                    let cancel = r.chance(0.5);
                    (
                        "StartRun",
                        start_run(&mut t, &config, &out, cancel).await,
                        escaping,
                    )
                }
                1 => {
                    let q = random_evaluate(&mut r);
                    let fields = [
                        &q.base_model,
                        &q.checkpoint,
                        &q.adapter,
                        &q.train_file,
                        &q.test_file,
                        &q.canaries_file,
                        &q.audit_file,
                    ];
                    let escaping = fields.iter().any(|f| escapes(f));
                    ("Evaluate", evaluate(&mut e, q).await, escaping)
                }
                _ => {
                    let q = random_score(&mut r);
                    let escaping = escapes(&q.model) || escapes(&q.adapter);
                    ("ScoreTexts", score(&mut e, q).await, escaping)
                }
            };
            done += 1;
            *tally.entry(format!("{what} {:?}", seen.code)).or_default() += 1;
            let case = format!("case {i} ({what}, {:?})", seen.code);
            if seen.text.contains("incident") || seen.code == Code::Unknown {
                failures.push(format!(
                    "{case}: a panic or an unknown error: {:.400}",
                    seen.text
                ));
            }
            if let Some(leak) = w.leaks(&seen.text) {
                failures.push(format!("{case}: {leak:.400}"));
            }
            if escaping && seen.code == Code::Ok {
                failures.push(format!(
                    "{case}: a path out of the root was served: {:.400}",
                    seen.text
                ));
            }
            if seen.text.contains("the outside secret") {
                failures.push(format!("{case}: the outside file was read"));
            }
        }
        println!(
            "{done} random requests in {:?}: {tally:#?}",
            start.elapsed()
        );
        assert!(both_serving(&w).await, "a service stopped serving");
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(done >= 100, "only {done} cases within {BUDGET:?}");
        let ok = tally.iter().filter(|(k, _)| k.ends_with(" Ok")).count();
        assert!(
            ok >= 2,
            "the generator never reached a valid request: {tally:?}"
        );
    });
    assert!(
        before == w.outside_snapshot(),
        "something was written outside the data root"
    );
}

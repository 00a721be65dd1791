//! Studies end to end on a tiny model: a study killed with SIGKILL mid-run resumes without
//! redoing finished work and ends with the results of an uninterrupted study; remote mode
//! against `triad-trainer` and `triad-evaluator` started as separate processes; `seeds` repeat
//! each run; the report renders in headless Chromium.

mod common;
use common::{tiny_model, triad};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SPEC: &str = r#"
name = "tiny"
[model]
path = "tiny"
[data]
generate = "customer-support"
train = 16
test = 16
canaries = 1
canary_repeats = 4
[train]
epochs = 3
batch_size = 4
max_length = 128
device = "cpu"
[[method]]
method = "full"
lr = [1e-3]
[[method]]
method = "dp-lora"
lora_r = [4]
target_epsilon = [8.0]
lr = [1e-2]
# Two studies are compared number for number: their DP noise must come from the seed.
train.dp.reproducible_noise = true
[eval]
exposure_samples = 100
"#;

/// results.csv columns that measure time or memory (they differ between equal studies).
const COST_COLUMNS: [&str; 5] = [
    "train_seconds",
    "train_tokens_per_s",
    "peak_memory_gib",
    "peak_gpu_memory_gib",
    "eval_seconds",
];

/// Write `spec` as study.toml in `tmp`, run it into `tmp/s` and return that folder.
fn run_study(tmp: &Path, spec: &str) -> PathBuf {
    let path = tmp.join("study.toml");
    std::fs::write(&path, spec).unwrap();
    let dir = tmp.join("s");
    triad(&[
        "study",
        "run",
        path.to_str().unwrap(),
        "--dir",
        dir.to_str().unwrap(),
    ]);
    dir
}

/// The indices of results.csv's header that `results` keeps, with their names.
fn kept_columns(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .next()
        .unwrap()
        .split(',')
        .enumerate()
        .filter(|(_, h)| !COST_COLUMNS.contains(h))
        .map(|(i, h)| (i, h.to_string()))
        .collect()
}

/// results.csv without the columns that measure time or memory.
fn results(dir: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    let keep: Vec<usize> = kept_columns(&text).into_iter().map(|(i, _)| i).collect();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            keep.iter().map(|&i| f[i].to_string()).collect()
        })
        .collect()
}

type RunRows = Vec<(String, String, f64)>;
type EvalRows = Vec<(String, i64, f64)>;

/// (run id, state, updated) and (run id, epoch, updated) from the ledger.
fn ledger(dir: &Path) -> (RunRows, EvalRows) {
    try_ledger(dir).unwrap()
}

/// As `ledger`, but an error (no file yet, schema not written yet, busy) while the
/// study is starting up is returned rather than a panic.
fn try_ledger(dir: &Path) -> rusqlite::Result<(RunRows, EvalRows)> {
    let c = rusqlite::Connection::open_with_flags(
        dir.join("ledger.sqlite"),
        // No CREATE flag: the study makes the file, the test only looks.
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE,
    )?;
    c.busy_timeout(Duration::from_secs(10))?;
    let runs = c
        .prepare("SELECT id, state, updated FROM runs ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let evals = c
        .prepare("SELECT run_id, epoch, updated FROM evals ORDER BY run_id, epoch")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok((runs, evals))
}

/// Every METRICS.json the study recorded (the base's included), parsed.
fn metrics_of(dir: &Path) -> Vec<serde_json::Value> {
    let c = rusqlite::Connection::open(dir.join("ledger.sqlite")).unwrap();
    let mut q = c.prepare("SELECT metrics FROM evals").unwrap();
    let rows = q.query_map([], |r| r.get::<_, String>(0)).unwrap();
    rows.map(|m| serde_json::from_str(&m.unwrap()).unwrap())
        .collect()
}

#[test]
fn a_study_killed_with_sigkill_resumes_to_the_same_results() {
    let tmp = tempfile::tempdir().unwrap();
    tiny_model(tmp.path());
    let spec = tmp.path().join("study.toml");
    std::fs::write(&spec, SPEC).unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    triad(&[
        "study",
        "run",
        spec.to_str().unwrap(),
        "--dir",
        a.to_str().unwrap(),
    ]);
    let want = results(&a);
    assert_eq!(want.len(), 7, "the base reference row + 2 runs × 3 epochs");
    assert_eq!(want[0][0], "@base");
    let head = kept_columns(&std::fs::read_to_string(a.join("results.csv")).unwrap());
    let col = |name: &str| head.iter().position(|(_, h)| h == name).unwrap();
    assert_eq!(want[0][col("privacy_loss")], "0.000000");
    assert_eq!(want[0][col("mia_auc_reference")], "0.500000");

    // Kill once the first checkpoint's evaluation is in the ledger (the base reference comes
    // before it): one run part-way, evaluations pending.
    let mut child = Command::new(env!("CARGO_BIN_EXE_triad"))
        .args([
            "study",
            "run",
            spec.to_str().unwrap(),
            "--dir",
            b.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    loop {
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "no evaluation recorded"
        );
        if try_ledger(&b).is_ok_and(|(_, evals)| evals.iter().any(|e| e.0 != "@base")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let (runs_before, evals_before) = ledger(&b);
    println!(
        "killed with {} evaluation(s) recorded, runs {runs_before:?}",
        evals_before.len()
    );
    assert!(
        evals_before.len() < 7,
        "the study finished before it was killed"
    );

    let out = triad(&[
        "study",
        "run",
        spec.to_str().unwrap(),
        "--dir",
        b.to_str().unwrap(),
    ]);
    let (runs_after, evals_after) = ledger(&b);
    // Finished work is not redone: its ledger rows were not touched again.
    for e in &evals_before {
        assert!(evals_after.contains(e), "evaluation {e:?} was redone");
    }
    for r in runs_before.iter().filter(|r| r.1 == "done") {
        assert!(runs_after.contains(r), "run {r:?} was redone");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    for (run, epoch, _) in &evals_before {
        assert!(
            !stderr.contains(&format!("eval {run} epoch {epoch}: started")),
            "{run} epoch {epoch} evaluated again"
        );
    }
    assert!(
        same_results(&results(&b), &want),
        "resumed study differs from the uninterrupted one:\n{:?}\n{want:?}",
        results(&b)
    );
}

/// Equal cell by cell; numbers to 1e-7 relative or one unit of the CSV's sixth decimal. Libtorch's CPU thread count follows how many
/// jobs share the cores (docs/studies.md, "Sharing the CPU"), and sums split over another number
/// of threads differ in their last bits: a perplexity of 35,237.8556 may print as …5577 or
/// …5621. A resume that lost or repeated a step moves these numbers by far more.
fn same_results(a: &[Vec<String>], b: &[Vec<String>]) -> bool {
    let cell = |x: &str, y: &str| match (x.parse::<f64>(), y.parse::<f64>()) {
        (Ok(x), Ok(y)) => (x - y).abs() <= 1.5e-6 + 1e-7 * x.abs().max(y.abs()),
        _ => x == y,
    };
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(r, s)| r.len() == s.len() && r.iter().zip(s).all(|(x, y)| cell(x, y)))
}

#[test]
fn remote_mode_against_separate_trainer_and_evaluator_processes() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path().canonicalize().unwrap();
    tiny_model(&r);
    let spec = r.join("study.toml");
    std::fs::write(
        &spec,
        SPEC.replace("epochs = 3", "epochs = 1")
            .replace(
                "[[method]]\nmethod = \"dp-lora\"",
                "[[method]]\nmethod = \"lora\"",
            )
            .replace("target_epsilon = [8.0]\n", "")
            .replace("train.dp.reproducible_noise = true\n", ""),
    )
    .unwrap();
    let root_arg = r.to_str().unwrap();
    let t1 = triad_tests::Service::start(
        triad_tests::binary("triad-trainer").to_str().unwrap(),
        &["--data-root", root_arg],
    );
    let t2 = triad_tests::Service::start(
        triad_tests::binary("triad-trainer").to_str().unwrap(),
        &["--data-root", root_arg],
    );
    let ev = triad_tests::Service::start(
        triad_tests::binary("triad-evaluator").to_str().unwrap(),
        &["--data-root", root_arg],
    );
    let dir = r.join("studies/remote");
    let out = triad(&[
        "study",
        "run",
        spec.to_str().unwrap(),
        "--dir",
        dir.to_str().unwrap(),
        "--trainer",
        &t1.addr,
        "--trainer",
        &t2.addr,
        "--evaluator",
        &ev.addr,
        "--data-root",
        root_arg,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Both runs ran, one on each trainer.
    for addr in [&t1.addr, &t2.addr] {
        assert!(stderr.contains(&format!("started on {addr}")), "{stderr}");
    }
    let rows = results(&dir);
    assert_eq!(rows.len(), 3, "the base reference and two runs: {rows:?}");
    assert_eq!(rows[0][0], "@base");
    let head = kept_columns(&std::fs::read_to_string(dir.join("results.csv")).unwrap());
    let col = |name: &str| head.iter().position(|(_, h)| h == name).unwrap();
    for row in &rows {
        // privacy loss and utility NLL are numbers.
        assert!(
            row[col("privacy_loss")].parse::<f64>().is_ok()
                && row[col("utility_nll")].parse::<f64>().is_ok(),
            "{row:?}"
        );
    }
    // The evaluator cached base scores inside its own data root.
    assert!(r.join(".triad/base-scores").is_dir());
    // A trainer that is not there is a clear error naming it, not a hang.
    let t = Instant::now();
    let bad = Command::new(env!("CARGO_BIN_EXE_triad"))
        .args([
            "study",
            "run",
            spec.to_str().unwrap(),
            "--dir",
            r.join("studies/unreachable").to_str().unwrap(),
            "--trainer",
            "127.0.0.1:1",
            "--evaluator",
            &ev.addr,
            "--data-root",
            root_arg,
        ])
        .output()
        .unwrap();
    let msg = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(
        msg.contains("trainer at 127.0.0.1:1: cannot connect"),
        "{msg}"
    );
    assert!(t.elapsed() < Duration::from_secs(60));
}

#[test]
fn a_study_with_seeds_repeats_each_run_and_reports_across_seeds() {
    let tmp = tempfile::tempdir().unwrap();
    tiny_model(tmp.path());
    let text = SPEC
        .replace("name = \"tiny\"\n", "name = \"tiny\"\nseeds = [0, 1]\n")
        .replace("epochs = 3", "epochs = 1");
    // One method, so the study is two runs: lora at one grid point, under seeds 0 and 1.
    let one = text[..text.find("[[method]]").unwrap()].to_string()
        + "[[method]]\nmethod = \"lora\"\nlora_r = [4]\nlr = [1e-2]\n";
    let dir = run_study(tmp.path(), &one);
    let (runs, _) = ledger(&dir);
    let ids: Vec<&str> = runs.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids[0].starts_with("lora-lr0.01-r4-seed0-"), "{ids:?}");
    assert!(ids[1].starts_with("lora-lr0.01-r4-seed1-"), "{ids:?}");
    // The seed reached the trainer: the two runs learned different weights.
    let rows = results(&dir);
    let head = kept_columns(&std::fs::read_to_string(dir.join("results.csv")).unwrap());
    let col = |name: &str| head.iter().position(|(_, h)| h == name).unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    let nll = col("utility_nll");
    assert_ne!(rows[1][nll], rows[2][nll], "seeds 0 and 1 trained alike");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let section = &md[md.find("## Across seeds").expect("no Across seeds section")..];
    assert!(
        section.contains("| lora | lr=0.01 r=4 | 0, 1 | 2 |"),
        "{md}"
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<h2>Across seeds</h2>"));
}

#[test]
fn the_report_renders_in_headless_chromium() {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("Debian chromium is missing: `make setup` installs it");
    let tmp = tempfile::tempdir().unwrap();
    tiny_model(tmp.path());
    // With a one-run audit: the formal-against-audit ε chart and the audit column.
    let audited = SPEC.replace("epochs = 3", "epochs = 2").replace(
        "canary_repeats = 4\n",
        "canary_repeats = 4\naudit_canaries = 20\n",
    );
    let dir = run_study(tmp.path(), &audited);
    let html = dir.join("report.html");
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ];
    let profile = tmp.path().join("chromium-profile");
    let url = format!("file://{}", html.display());
    let dom = Command::new(chromium)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", &url])
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    // Chromium parsed the page: its SVG charts and every run's row are in the live DOM.
    assert!(dom.matches("<svg").count() >= 7, "{dom}");
    assert!(dom.contains("full") && dom.contains("dp-lora") && dom.contains("★"));
    assert!(
        dom.contains("base (before fine-tuning)"),
        "no base reference row"
    );
    // The evaluator's 95% intervals reach the page: error bars in the charts, and in the
    // table under the values.
    assert!(
        metrics_of(&dir)
            .iter()
            .all(|m| m["privacy_loss_ci95"].is_array()),
        "METRICS without privacy_loss_ci95"
    );
    // Every evaluation, the base's included, was audited at the study's δ.
    for m in metrics_of(&dir) {
        assert_eq!(m["audit"]["m"], 20, "{m}");
        assert_eq!(m["audit"]["delta"], 1e-5, "{m}");
    }
    assert!(dom.contains("Formal against empirical ε") && dom.contains("audit ε"));
    assert_eq!(dom.matches(r#"class="diagonal""#).count(), 1);
    let bars = dom.matches(r#"class="errbar""#).count();
    // At least a whisker per epoch of each of the two runs on both trajectories (the scatter
    // and the bars add more).
    assert!(bars >= 2 * 2 * 2, "{bars} error bars: {dom}");
    assert!(
        dom.contains(r#"<span class="ci">["#),
        "no intervals in the table"
    );
    // "What this study shows" comes first, its sentences generated from the paired intervals:
    // each run's decomposition, each run against the base and the two runs against each
    // other, each with its interval; the pairs table marks what the intervals distinguish.
    let findings = &dom[dom
        .find(r#"<section id="findings">"#)
        .expect("no findings section")..];
    let findings = &findings[..findings.find("</section>").unwrap()];
    assert!(dom.find(r#"id="findings""#) < dom.find("<table><thead>"));
    let sentences: Vec<&str> = findings
        .split(r#"<li class="finding">"#)
        .skip(1)
        .map(|s| &s[..s.find("</li>").unwrap()])
        .collect();
    assert!(sentences.len() >= 2 + 3, "{findings}");
    for run in ["full", "dp-lora"] {
        assert!(
            sentences
                .iter()
                .any(|s| s.starts_with(&format!("{run}: privacy loss"))
                    && s.contains("learnt about secrets in general")),
            "{run}: {sentences:?}"
        );
        assert!(
            sentences
                .iter()
                .any(|s| s.starts_with(&format!("{run} vs base:"))),
            "{run}: {sentences:?}"
        );
    }
    assert!(
        sentences.iter().any(|s| s.starts_with("full vs dp-lora:")),
        "{sentences:?}"
    );
    for s in &sentences[2..] {
        assert!(s.contains(" ["), "a sentence without its interval: {s}");
    }
    assert!(findings.contains(r#"<table class="pairs">"#), "{findings}");
    // The runs table fits a 1,280-pixel window or scrolls inside its own box: the page itself
    // never scrolls sideways.
    let probe = tmp.path().join("probe.html");
    std::fs::write(
        &probe,
        std::fs::read_to_string(&html).unwrap().replace(
            "</body>",
            "<script>document.body.setAttribute('data-overflow', document.documentElement.scrollWidth - document.documentElement.clientWidth)</script></body>",
        ),
    )
    .unwrap();
    let probed = Command::new(chromium)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--window-size=1280,900", "--dump-dom"])
        .arg(format!("file://{}", probe.display()))
        .output()
        .unwrap();
    let probed = String::from_utf8_lossy(&probed.stdout);
    assert!(
        probed.contains(r#"data-overflow="0""#),
        "the page scrolls sideways at 1,280 px: {}",
        &probed[probed.find("<body").unwrap_or(0)..][..200.min(probed.len())]
    );
    // A study evaluated before per-record statistics were kept re-renders without rescoring:
    // its findings say why there is no paired comparison, its runs are all there.
    rusqlite::Connection::open(dir.join("ledger.sqlite"))
        .unwrap()
        .execute_batch("DROP TABLE records;")
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_triad"))
        .args(["report", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("## What this study shows"), "{md}");
    assert!(md.contains("No paired comparison"), "{md}");
    assert!(
        md.contains("full: privacy loss") && md.contains("| dp-lora"),
        "{md}"
    );
    let png = tmp.path().join("report.png");
    let shot = Command::new(chromium)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .args(["--window-size=1200,2400", &url])
        .output()
        .unwrap();
    assert!(png.exists(), "{}", String::from_utf8_lossy(&shot.stderr));
    let bytes = std::fs::read(&png).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 50_000,
        "{} bytes",
        bytes.len()
    );
    if let Some(dest) = std::env::var_os("TRIAD_REPORT_SCREENSHOT") {
        std::fs::copy(&png, dest).unwrap();
    }
}

#[test]
fn a_study_over_two_models_runs_every_method_on_each_and_reports_each_front() {
    let tmp = tempfile::tempdir().unwrap();
    let tok = triad_tests::neox_tokenizer();
    for (name, family) in [("small-llama", "llama"), ("small-gemma", "gemma3_text")] {
        triad_tests::run_oracle(
            "tiny_lm_with_tokenizer.py",
            &[
                tmp.path().join(name).to_str().unwrap(),
                tok.to_str().unwrap(),
                family,
            ],
        );
    }
    let text = SPEC
        .replace(
            "[model]\npath = \"tiny\"\n",
            "[[model]]\npath = \"small-llama\"\n[[model]]\nname = \"gemma\"\npath = \"small-gemma\"\n",
        )
        .replace("epochs = 3", "epochs = 1");
    let two = text[..text.find("[[method]]\nmethod = \"full\"").unwrap()].to_string()
        + "[[method]]\nmethod = \"full\"\nlr = [1e-3]\n[[method]]\nmethod = \"lora\"\nlora_r = [4]\nlr = [1e-2]\n";
    let dir = run_study(tmp.path(), &two);
    let (runs, evals) = ledger(&dir);
    let ids: Vec<&str> = runs.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(ids.len(), 4, "{ids:?}");
    for model in ["small-llama", "gemma"] {
        let of = ids
            .iter()
            .filter(|i| i.contains(&format!("-model{model}-")));
        assert_eq!(of.count(), 2, "{model}: {ids:?}");
    }
    // Each model was evaluated as its own reference, and its runs against it.
    let eval_ids: Vec<&str> = evals.iter().map(|e| e.0.as_str()).collect();
    for base in ["@base:small-llama", "@base:gemma"] {
        assert!(eval_ids.contains(&base), "{eval_ids:?}");
    }
    assert!(dir.join("models/gemma/config.json").is_file());
    assert!(dir.join("data/small-llama/train.jsonl").is_file());
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let llama = md
        .find("## Model `small-llama`")
        .expect("no small-llama part");
    let gemma = md.find("## Model `gemma`").expect("no gemma part");
    assert!(llama < gemma);
    // A front in each part: runs of one model do not dominate the other's.
    assert!(md[llama..gemma].contains("| **"), "{md}");
    assert!(md[gemma..].contains("| **"), "{md}");
    assert!(md.contains("Gemma Terms of Use"), "{md}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert_eq!(html.matches("<h2 class=\"model\">").count(), 2);
    assert!(html.matches("<svg").count() >= 6, "charts for each model");
    let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    assert!(
        csv.contains("@base:gemma") && csv.contains("@base:small-llama"),
        "{csv}"
    );
}

/// `eval.nonmembers`: a study evaluates on more held-out records than it trains on (forward
/// passes only), and a TPR at 1% FPR becomes reportable once there are 100 of them.
#[test]
fn a_study_evaluates_on_more_nonmembers_than_it_trains_on() {
    let tmp = tempfile::tempdir().unwrap();
    tiny_model(tmp.path());
    let text = SPEC.replace("epochs = 3", "epochs = 1").replace(
        "exposure_samples = 100\n",
        "exposure_samples = 100\nnonmembers = 120\n",
    );
    let one = text[..text.find("[[method]]").unwrap()].to_string()
        + "[[method]]\nmethod = \"lora\"\nlora_r = [4]\nlr = [1e-2]\n"
        + &text[text.find("[eval]").unwrap()..];
    let dir = run_study(tmp.path(), &one);
    let test = std::fs::read_to_string(dir.join("data/test.jsonl")).unwrap();
    let non = std::fs::read_to_string(dir.join("data/nonmembers.jsonl")).unwrap();
    assert_eq!(test.lines().count(), 16);
    assert_eq!(non.lines().count(), 120);
    // The test split's records are the first of the non-members.
    assert!(
        non.starts_with(&test),
        "test.jsonl is not a prefix of nonmembers.jsonl"
    );
    let metrics = metrics_of(&dir);
    assert_eq!(metrics.len(), 2, "the base row and the run");
    for m in metrics {
        let mia = &m["membership_inference"];
        assert_eq!(mia["non_members"], 120, "{m}");
        assert!(mia["reference"]["tpr_at_1pct_fpr"].is_number(), "{mia}");
        assert!(mia["reference"]["tpr_at_01pct_fpr"].is_null(), "{mia}");
    }
}

/// Scrubbing and redact-then-DP as grid axes: the study plans one run per scrub, runs them
/// (resuming after a SIGKILL), and every row states its guarantee in results.csv, report.md
/// and report.html, where scrubbed and redact-then-DP runs have their own markers.
#[test]
fn a_study_with_scrub_axes_and_redact_then_dp_runs_resumes_and_reports_guarantees() {
    let tmp = tempfile::tempdir().unwrap();
    tiny_model(tmp.path());
    let text = SPEC.replace("epochs = 3", "epochs = 2");
    let spec = text[..text.find("[[method]]").unwrap()].to_string()
        + "[[method]]\nmethod = \"full\"\nlr = [1e-3]\nscrub = [\"none\", \"mask\", \"pseudonymise:tagger\"]\n\
           [[method]]\nmethod = \"redact-dp\"\nlr = [1e-2]\ntarget_epsilon = [8.0]\nscrub = [\"mask\"]\n\
           train.redact = { epochs = 1, lr = 1e-3 }\ntrain.dp.reproducible_noise = true\n"
        + &text[text.find("[eval]").unwrap()..];
    let path = tmp.path().join("study.toml");
    std::fs::write(&path, &spec).unwrap();
    let dir = tmp.path().join("s");
    let run = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_triad"));
        c.args(["study", "run", path.to_str().unwrap(), "--dir"])
            .arg(&dir);
        c
    };
    // Killed once the first run's evaluation is in, then resumed to the end.
    let mut child = run()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !try_ledger(&dir).is_ok_and(|(_, e)| e.iter().any(|e| e.0 != "@base")) {
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "no evaluation recorded"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        ledger(&dir).1.len() < 9,
        "the study finished before it was killed"
    );
    let out = run().output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (runs, evals) = ledger(&dir);
    assert_eq!(runs.len(), 4, "{runs:?}");
    assert!(runs.iter().all(|r| r.1 == "done"), "{runs:?}");
    assert_eq!(evals.len(), 9, "the base and 4 runs × 2 epochs");
    let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    let mut rows: Vec<Vec<String>> = csv.lines().map(csv_fields).collect();
    let head = rows.remove(0);
    assert!(rows.iter().all(|r| r.len() == head.len()), "{csv}");
    let kcol = |name: &str| head.iter().position(|h| h == name).unwrap();
    let by_run = |prefix: &str| -> Vec<&Vec<String>> {
        rows.iter().filter(|r| r[0].starts_with(prefix)).collect()
    };
    let last = |prefix: &str| by_run(prefix).last().copied().unwrap().clone();
    let g = |r: &Vec<String>| r[kcol("guarantee")].clone();
    assert_eq!(g(&rows[0]), "base model: saw no training data");
    assert_eq!(g(&last("full-lr0.001-scrubnone-")), "none");
    assert_eq!(
        g(&last("full-lr0.001-scrubmask-")),
        "scrubbed (mask, labelled)"
    );
    let tagged = g(&last("full-lr0.001-scrubpseudonymise-tagger-"));
    assert!(
        tagged.starts_with("scrubbed (pseudonymise, tagger, span recall 0."),
        "{tagged}"
    );
    let redact = last("redact-dp-");
    assert!(
        g(&redact).starts_with("selective: ε 7.9") || g(&redact).starts_with("selective: ε 8.00"),
        "{}",
        g(&redact)
    );
    assert!(g(&redact).ends_with("on labelled spans"), "{}", g(&redact));
    assert_eq!(redact[kcol("method")], "redact-dp");
    assert_eq!(last("full-lr0.001-scrubmask-")[kcol("scrub")], "mask");
    let recall: f64 = last("full-lr0.001-scrubpseudonymise-tagger-")[kcol("scrub_span_recall")]
        .parse()
        .unwrap();
    assert!((0.5..=1.0).contains(&recall), "{recall}");
    // The evaluator read the original records: every run's privacy loss is measured on them.
    assert!(rows
        .iter()
        .all(|r| r[kcol("privacy_loss")].parse::<f64>().is_ok()));

    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("| guarantee |"), "{md}");
    assert!(
        md.contains("scrubbed (pseudonymise, tagger, span recall") && md.contains("selective: ε")
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("mark-square") && html.contains("mark-diamond"));
    assert!(html.contains(">scrubbed</text>") && html.contains(">redact-then-DP</text>"));
    assert!(html.contains("<span class=\"guarantee\">selective: ε"));
}

/// One CSV line's fields, quotes undone (`"a, b"` is one field).
fn csv_fields(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted) = (vec![], String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

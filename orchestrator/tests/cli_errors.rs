//! Bad input ends with exit code 1 and one `error:` line naming the file (and line) and the
//! problem — never a panic (exit 101) or a backtrace.

use std::path::Path;
use std::process::Command;

/// Run triad, expect failure, return stderr.
fn fails(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_triad"))
        .args(args)
        .env_remove("TRIAD_LOG")
        .output()
        .expect("run triad");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "triad {args:?} should exit 1; stderr:\n{err}"
    );
    assert!(!err.contains("panicked"), "panic on {args:?}:\n{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(
        errors.len(),
        1,
        "expected one error line for {args:?}, got:\n{err}"
    );
    errors[0].to_string()
}

fn must_contain(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "message lacks {p:?}: {msg}");
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_string()
}

const LLAMA_CONFIG: &str = r#"{"model_type": "llama", "hidden_size": 8, "intermediate_size": 16,
  "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 10}"#;

#[test]
fn missing_and_corrupt_model_files() {
    let tmp = tempfile::tempdir().unwrap();
    let texts = write(tmp.path(), "in.jsonl", b"{\"id\": 1, \"text\": \"hi\"}\n");
    let out = tmp.path().join("out.jsonl");
    let out = out.to_str().unwrap();
    let score = |model: &str| {
        fails(&[
            "model", "score", "--model", model, "--input", &texts, "--output", out, "--device",
            "cpu",
        ])
    };

    let missing = tmp.path().join("no-such-model");
    must_contain(
        &score(missing.to_str().unwrap()),
        &["no-such-model", "model folder does not exist"],
    );

    let m = tmp.path().join("m");
    std::fs::create_dir(&m).unwrap();
    std::fs::copy(
        triad_tests::workspace_root().join("tests/oracles/tiny_tokenizer.json"),
        m.join("tokenizer.json"),
    )
    .unwrap();
    must_contain(
        &score(m.to_str().unwrap()),
        &["config.json", "No such file"],
    );

    write(&m, "config.json", b"{\"model_type\": ");
    must_contain(
        &score(m.to_str().unwrap()),
        &["config.json", "invalid JSON"],
    );

    write(
        &m,
        "config.json",
        br#"{"model_type": "mamba", "hidden_size": 8}"#,
    );
    must_contain(
        &score(m.to_str().unwrap()),
        &["config.json", "unsupported architecture `mamba`"],
    );

    write(
        &m,
        "config.json",
        br#"{"model_type": "llama", "hidden_size": -3}"#,
    );
    must_contain(&score(m.to_str().unwrap()), &["config.json", "hidden_size"]);

    write(&m, "config.json", LLAMA_CONFIG.as_bytes());
    must_contain(&score(m.to_str().unwrap()), &["no model.safetensors"]);

    write(
        &m,
        "model.safetensors",
        b"\x08\x00\x00\x00\x00\x00\x00\x00garbage!",
    );
    must_contain(
        &score(m.to_str().unwrap()),
        &["model.safetensors", "not a valid safetensors file"],
    );

    write(&m, "tokenizer.json", b"{\"not\": \"a tokenizer\"}");
    must_contain(
        &score(m.to_str().unwrap()),
        &["tokenizer.json", "tokenizer"],
    );
}

#[test]
fn bad_jsonl_lines_name_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.jsonl");
    let run = |name: &str, content: &[u8]| {
        let input = write(tmp.path(), name, content);
        fails(&[
            "model",
            "score",
            "--model",
            "/nonexistent",
            "--input",
            &input,
            "--output",
            out.to_str().unwrap(),
        ])
    };
    must_contain(
        &run("a.jsonl", b"{\"id\":1,\"text\":\"ok\"}\nthis is not json\n"),
        &["a.jsonl:2:", "not valid JSON"],
    );
    must_contain(
        &run("b.jsonl", b"{\"id\":1}\n"),
        &["b.jsonl:1:", "missing field `text`"],
    );
    must_contain(
        &run("c.jsonl", b"\n\n{\"id\":1,\"text\":\"\xc3\x28\"}\n"),
        &["c.jsonl:3:", "invalid UTF-8"],
    );
    must_contain(&run("d.jsonl", b"[1, 2]\n"), &["d.jsonl:1:", "JSON object"]);
    let missing = tmp.path().join("missing.jsonl");
    let e = fails(&[
        "model",
        "score",
        "--model",
        "/x",
        "--input",
        missing.to_str().unwrap(),
        "--output",
        "/tmp/o.jsonl",
    ]);
    must_contain(&e, &["missing.jsonl", "No such file"]);
    assert!(!out.exists(), "no output may be written on failure");
}

#[test]
fn bad_gguf_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let import = |file: &str| fails(&["model", "import-gguf", file, out.to_str().unwrap()]);

    must_contain(
        &import(&write(tmp.path(), "x.gguf", b"PK\x03\x04 this is a zip")),
        &["x.gguf", "not a GGUF file"],
    );
    must_contain(
        &import(tmp.path().join("nope.gguf").to_str().unwrap()),
        &["nope.gguf", "No such file"],
    );

    let real = std::fs::read(triad_tests::smollm2_gguf()).unwrap();
    // Cut inside the metadata (the vocabulary array) and inside the tensor data.
    must_contain(
        &import(&write(tmp.path(), "head.gguf", &real[..200_000])),
        &["head.gguf", "truncated"],
    );
    must_contain(
        &import(&write(tmp.path(), "body.gguf", &real[..real.len() / 2])),
        &["body.gguf", "truncated", "tensor"],
    );
    // A wrong architecture in an otherwise valid file.
    let mut arch = real.clone();
    let pos = arch.windows(5).position(|w| w == b"llama").unwrap();
    arch[pos..pos + 5].copy_from_slice(b"mamba");
    must_contain(
        &import(&write(tmp.path(), "arch.gguf", &arch)),
        &["arch.gguf", "mamba"],
    );
    assert!(
        !out.join("model.safetensors").exists(),
        "nothing written for a bad file"
    );
}

#[test]
fn a_cuda_study_without_cuda_stops_before_any_work() {
    if Path::new("/dev/nvidia0").exists() {
        return; // a GPU machine: CUDA is there
    }
    let tmp = tempfile::tempdir().unwrap();
    let spec = write(
        tmp.path(),
        "s.toml",
        b"name = \"s\"\n[model]\npath = \"m\"\n[data]\ngenerate = \"customer-support\"\n[[method]]\nmethod = \"lora\"\n",
    );
    let dir = tmp.path().join("out");
    let e = fails(&[
        "study",
        "run",
        &spec,
        "--dir",
        dir.to_str().unwrap(),
        "--device",
        "cuda",
    ]);
    must_contain(&e, &["device cuda", "no CUDA device", "--device cpu"]);
    assert!(
        !dir.join("data").exists(),
        "data was generated before the check"
    );
}

#[test]
fn a_study_with_a_bad_canaries_file_stops_at_planning() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("m")).unwrap();
    write(
        &tmp.path().join("m"),
        "config.json",
        LLAMA_CONFIG.as_bytes(),
    );
    write(
        tmp.path(),
        "train.jsonl",
        b"{\"id\": \"a\", \"text\": \"hello there\", \"spans\": []}\n",
    );
    write(
        tmp.path(),
        "test.jsonl",
        b"{\"id\": \"b\", \"text\": \"good day\", \"spans\": []}\n",
    );
    let good = r#"{"id": "c0", "text": "PIN 0123.", "prefix": "PIN ", "secret": "0123", "suffix": ".", "label": "PIN", "alphabet": "0123456789", "length": 4, "space_size": 10000, "repeats": 1}"#;
    let bad = good.replace("c0", "c1").replace("10000", "100");
    write(tmp.path(), "c.jsonl", format!("{good}\n{bad}\n").as_bytes());
    let spec = write(
        tmp.path(),
        "s.toml",
        b"name = \"s\"\n[model]\npath = \"m\"\n[data]\ntrain_file = \"train.jsonl\"\ntest_file = \"test.jsonl\"\ncanaries_file = \"c.jsonl\"\n[[method]]\nmethod = \"lora\"\n",
    );
    let dir = tmp.path().join("out");
    let e = fails(&["study", "run", &spec, "--dir", dir.to_str().unwrap()]);
    must_contain(&e, &["canaries.jsonl:2:", "space_size"]);
    assert!(!dir.join("runs").exists(), "a run started before the check");
}

#[test]
fn report_refuses_a_ledger_it_cannot_read_and_keeps_the_old_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "report.html", b"the real report");
    for (ledger, why) in [
        (&b""[..], "no table `runs`"),
        (
            &b"garbage, not SQLite at all, but long enough to look like a header...."[..],
            "not a study ledger",
        ),
    ] {
        write(dir, "ledger.sqlite", ledger);
        let e = fails(&["report", dir.to_str().unwrap()]);
        must_contain(&e, &["ledger.sqlite", why]);
        assert_eq!(
            std::fs::read(dir.join("report.html")).unwrap(),
            b"the real report"
        );
    }
    // A readable ledger whose metrics are garbage: named by run and epoch, no report of NaNs.
    std::fs::remove_file(dir.join("ledger.sqlite")).unwrap();
    let conn = rusqlite::Connection::open(dir.join("ledger.sqlite")).unwrap();
    conn.execute_batch(
        "CREATE TABLE runs(id TEXT PRIMARY KEY, label TEXT NOT NULL, method TEXT NOT NULL,
             params TEXT NOT NULL, run_toml TEXT NOT NULL, position INTEGER NOT NULL,
             state TEXT NOT NULL, trainer TEXT, attempts INTEGER NOT NULL DEFAULT 0,
             record TEXT, error TEXT, updated REAL);
         CREATE TABLE evals(run_id TEXT NOT NULL, epoch INTEGER NOT NULL, checkpoint TEXT NOT NULL,
             metrics TEXT NOT NULL, updated REAL, PRIMARY KEY(run_id, epoch));
         CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
         INSERT INTO runs VALUES('full-1', 'full', 'full', '{}', '', 0, 'done', NULL, 1, NULL, NULL, 0);
         INSERT INTO meta VALUES('current_runs', '[\"full-1\"]');
         INSERT INTO evals VALUES('full-1', 2, 'c', '{\"privacy_loss\": \"x\"}', 0);",
    )
    .unwrap();
    drop(conn);
    let e = fails(&["report", dir.to_str().unwrap()]);
    must_contain(&e, &["`full-1` epoch 2", "privacy_loss"]);
    assert_eq!(
        std::fs::read(dir.join("report.html")).unwrap(),
        b"the real report"
    );
}

//! `triad eval` against what the probe of issue 26 sent it: a 10 MB record (it used to run
//! quadratically or die with exit 101 and kilobytes of panic text) is refused before it is
//! tokenised, with its file and line; and no error line is longer than the CLI prints.

use std::process::Command;

fn line(id: &str, text: &str) -> String {
    serde_json::json!({"id": id, "text": text, "spans": []}).to_string() + "\n"
}

#[test]
fn a_ten_megabyte_record_is_refused_with_its_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let tiny = tmp.path().join("tiny");
    triad_tests::run_oracle(
        "tiny_lm_with_tokenizer.py",
        &[
            tiny.to_str().unwrap(),
            triad_tests::neox_tokenizer().to_str().unwrap(),
        ],
    );
    let short = line("a", "a short record") + &line("b", "another one");
    let (train, test) = (
        tmp.path().join("train.jsonl"),
        tmp.path().join("test.jsonl"),
    );
    std::fs::write(&train, short.clone() + &line("huge", &"x".repeat(10 << 20))).unwrap();
    std::fs::write(&test, &short).unwrap();
    let t = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_triad"))
        .args(["eval", "--device", "cpu", "--cache-dir", "none", "--base"])
        .arg(&tiny)
        .arg("--checkpoint")
        .arg(&tiny)
        .arg("--train")
        .arg(&train)
        .arg("--test")
        .arg(&test)
        .arg("--out")
        .arg(tmp.path().join("m.json"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("train.jsonl:3: the text has 10485760 characters"),
        "{err}"
    );
    assert!(err.len() < 1000, "{} bytes of stderr", err.len());
    assert!(!err.contains("panicked"), "{err}");
    assert!(t.elapsed().as_secs() < 60, "took {:?}", t.elapsed());
}

#[test]
fn an_error_quoting_a_huge_argument_is_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let device = "d".repeat(100_000);
    let out = Command::new(env!("CARGO_BIN_EXE_triad"))
        .args(["eval", "--base", "b", "--checkpoint", "c", "--train", "t"])
        .args(["--test", "t", "--out"])
        .arg(tmp.path().join("m.json"))
        .args(["--device", &device])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", &err[..err.len().min(300)]);
    assert!(
        err.starts_with("error: device `ddd"),
        "{}",
        &err[..err.len().min(300)]
    );
    assert!(err.len() < 4200, "{} bytes of stderr", err.len());
    assert!(
        err.contains("(error cut: 100"),
        "{}",
        &err[err.len().saturating_sub(200)..]
    );
}

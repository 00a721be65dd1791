//! `triad data generate | check | tag` end to end through the binary.

use std::path::Path;
use std::process::{Command, Output};

fn triad(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_triad"))
        .args(args)
        .output()
        .expect("run triad")
}

fn ok(args: &[&str]) -> String {
    let out = triad(args);
    assert!(
        out.status.success(),
        "triad {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn generate(dir: &Path, generator: &str, seed: &str) {
    ok(&[
        "data",
        "generate",
        generator,
        "--train",
        "200",
        "--test",
        "50",
        "--canaries",
        "4",
        "--canary-repeats",
        "3",
        "--seed",
        seed,
        "--out",
        dir.to_str().unwrap(),
    ]);
}

#[test]
fn generated_data_is_valid_and_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    for generator in ["customer-support", "biographies"] {
        let (a, b, c) = (
            tmp.path().join(format!("{generator}-a")),
            tmp.path().join(format!("{generator}-b")),
            tmp.path().join(format!("{generator}-c")),
        );
        generate(&a, generator, "11");
        generate(&b, generator, "11");
        generate(&c, generator, "12");
        for f in [
            "train.jsonl",
            "test.jsonl",
            "canaries.jsonl",
            "dataset.json",
        ] {
            let (x, y) = (
                std::fs::read(a.join(f)).unwrap(),
                std::fs::read(b.join(f)).unwrap(),
            );
            assert!(
                x == y,
                "{generator}/{f} differs between two runs with the same seed"
            );
        }
        assert_ne!(
            std::fs::read(a.join("train.jsonl")).unwrap(),
            std::fs::read(c.join("train.jsonl")).unwrap()
        );
        for f in ["train.jsonl", "test.jsonl"] {
            let out = ok(&["data", "check", a.join(f).to_str().unwrap()]);
            assert!(out.contains(": ok"), "{out}");
        }
        // Token statistics with a real tokenizer (GPT-NeoX's).
        let model = tmp.path().join("neox-tokenizer");
        std::fs::create_dir_all(&model).unwrap();
        std::fs::copy(triad_tests::neox_tokenizer(), model.join("tokenizer.json")).unwrap();
        let stats = ok(&[
            "data",
            "check",
            a.join("train.jsonl").to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
        ]);
        assert!(
            stats.contains("sensitive:") && stats.contains("NAME") && stats.contains("EMAIL"),
            "{stats}"
        );
        let train = std::fs::read_to_string(a.join("train.jsonl")).unwrap();
        assert_eq!(train.lines().count(), 200 + 4 * 3);
        let canaries = std::fs::read_to_string(a.join("canaries.jsonl")).unwrap();
        for line in canaries.lines() {
            let c: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(c["space_size"], 1_000_000);
            let text = c["text"].as_str().unwrap();
            assert_eq!(
                train
                    .matches(&format!(
                        "\"text\":{}",
                        serde_json::to_string(text).unwrap()
                    ))
                    .count(),
                3
            );
        }
    }
}

#[test]
fn check_reports_every_problem_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.jsonl");
    let lines: Vec<&[u8]> = vec![
        br#"{"id":"a","text":"fine","spans":[]}"#,
        b"{\"id\":\"b\",\"text\":\"\xff\xfe\",\"spans\":[]}",
        br#"{"id":"c","text":"x","spans":["#,
        br#"{"id":"d","spans":[]}"#,
        br#"{"id":"e","text":"short","spans":[{"start":2,"end":40,"label":"NAME"}]}"#,
        br#"{"id":"f","text":"abcdefgh","spans":[{"start":0,"end":5,"label":"A"},{"start":3,"end":7,"label":"B"}]}"#,
    ];
    std::fs::write(&bad, lines.join(&b'\n')).unwrap();
    let out = triad(&["data", "check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for (line, what) in [
        (2, "invalid UTF-8"),
        (3, "bad JSON"),
        (4, "missing field `text`"),
        (5, "out of range"),
        (6, "overlaps"),
    ] {
        assert!(
            err.lines()
                .any(|l| l.contains(&format!("bad.jsonl:{line}: ")) && l.contains(what)),
            "no {what:?} on line {line}:\n{err}"
        );
    }
    assert!(!err.contains("bad.jsonl:1:"), "{err}");
    assert!(
        err.contains("error: ") && err.contains("5 problems"),
        "{err}"
    );
}

#[test]
fn tag_writes_spans_and_scores_itself_on_labelled_input() {
    let tmp = tempfile::tempdir().unwrap();
    generate(tmp.path(), "customer-support", "99");
    let out_file = tmp.path().join("tagged.jsonl");
    let report = ok(&[
        "data",
        "tag",
        tmp.path().join("test.jsonl").to_str().unwrap(),
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert!(report.contains("overall"), "{report}");
    ok(&["data", "check", out_file.to_str().unwrap()]);
    let unlabelled = tmp.path().join("raw.jsonl");
    std::fs::write(
        &unlabelled,
        "{\"id\": \"1\", \"text\": \"Write to ann.lee@example.com or call (415) 555-0187.\"}\n",
    )
    .unwrap();
    ok(&[
        "data",
        "tag",
        unlabelled.to_str().unwrap(),
        "--out",
        out_file.to_str().unwrap(),
    ]);
    let tagged: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&out_file).unwrap().trim()).unwrap();
    let labels: Vec<&str> = tagged["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["EMAIL", "PHONE"]);
}

/// Twenty thousand dialogues finish (plain names run out near 15,600; middle initials take
/// over), every full name belongs to one record; past the generator's limit it fails at once.
#[test]
fn twenty_thousand_dialogues_have_distinct_people_and_too_many_fail_fast() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("big");
    let t = std::time::Instant::now();
    ok(&[
        "data",
        "generate",
        "customer-support",
        "--train",
        "20000",
        "--test",
        "0",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(t.elapsed().as_secs() < 120, "{:?}", t.elapsed());
    let text = std::fs::read_to_string(out.join("train.jsonl")).unwrap();
    let mut owner: std::collections::HashMap<String, usize> = Default::default();
    for (i, line) in text.lines().enumerate() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        // Span offsets count characters.
        let body: Vec<char> = r["text"].as_str().unwrap().chars().collect();
        for s in r["spans"].as_array().unwrap() {
            let (a, b) = (
                s["start"].as_u64().unwrap() as usize,
                s["end"].as_u64().unwrap() as usize,
            );
            let name: String = body[a..b].iter().collect();
            if s["label"] == "NAME" && name.contains(' ') {
                let first = *owner.entry(name.clone()).or_insert(i);
                assert_eq!(first, i, "`{name}` is in records {first} and {i}");
            }
        }
    }
    assert!(owner.len() >= 20_000, "{} full names", owner.len());
    let t = std::time::Instant::now();
    let out = triad(&[
        "data",
        "generate",
        "customer-support",
        "--train",
        "400000",
        "--out",
        tmp.path().join("huge").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("at most 300000 distinct people"),
        "{err}"
    );
    assert!(t.elapsed().as_secs() < 10 && !tmp.path().join("huge").exists());
}

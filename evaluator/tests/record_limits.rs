//! What one record may cost an evaluation (issue 26): a record over the text cap is refused
//! before it is tokenised, naming its file and line; without a `max_length` a record is scored
//! to the model's context, never whole; and a base-score cache that cannot be written costs
//! the cache, not the evaluation.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use triad_evaluator::eval::evaluate;
use triad_evaluator::limits::MAX_TEXT_CHARS;
use triad_evaluator::spec::EvalSpec;
use triad_lm::tch::Device;

/// A tiny random model (context 256 tokens), made once for this file's tests.
fn tiny() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap().keep();
        triad_tests::run_oracle(
            "tiny_lm_with_tokenizer.py",
            &[
                d.join("tiny").to_str().unwrap(),
                triad_tests::neox_tokenizer().to_str().unwrap(),
            ],
        );
        d.join("tiny")
    })
}

fn line(id: &str, text: &str) -> String {
    serde_json::json!({"id": id, "text": text, "spans": []}).to_string() + "\n"
}

/// train.jsonl and test.jsonl in `dir`, each three short records and then `last`.
fn data(dir: &Path, last: &str) -> (PathBuf, PathBuf) {
    let mut text: String = (0..3)
        .map(|i| line(&format!("r{i}"), &format!("record {i} says hello")))
        .collect();
    text.push_str(&line("last", last));
    let (train, test) = (dir.join("train.jsonl"), dir.join("test.jsonl"));
    std::fs::write(&train, &text).unwrap();
    std::fs::write(&test, &text).unwrap();
    (train, test)
}

fn spec(train: PathBuf, test: PathBuf) -> EvalSpec {
    let mut s = EvalSpec::new(tiny().to_path_buf(), train, test, Device::Cpu);
    s.checkpoint = Some(tiny().to_path_buf());
    s
}

#[test]
fn a_record_over_the_text_cap_is_refused_naming_its_line() {
    let d = tempfile::tempdir().unwrap();
    let long: String = (0..=MAX_TEXT_CHARS / 8)
        .map(|i| format!("w{:06} ", i % 1_000_000))
        .collect();
    assert!(long.chars().count() > MAX_TEXT_CHARS);
    let (train, test) = data(d.path(), &long);
    let e = evaluate(&spec(train, test), &mut |_, _, _| {}).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("train.jsonl:4: "), "{msg}");
    assert!(msg.contains("at most 100000 are scored"), "{msg}");
    assert!(msg.len() < 300, "{msg}");
}

#[test]
fn without_a_max_length_records_are_scored_to_the_models_context() {
    let d = tempfile::tempdir().unwrap();
    let (train, test) = data(d.path(), &"many words ".repeat(400));
    let m = evaluate(&spec(train, test), &mut |_, _, _| {}).unwrap();
    assert_eq!(m.max_length, Some(256));
    // Three short records and one of 256 tokens, in each split.
    assert!(m.timing.tokens <= 2 * (256 + 3 * 16), "{}", m.timing.tokens);
    assert!(m.timing.tokens > 2 * 256, "{}", m.timing.tokens);
}

#[test]
fn a_cache_that_cannot_be_written_does_not_fail_the_evaluation() {
    let d = tempfile::tempdir().unwrap();
    let (train, test) = data(d.path(), "the last record");
    let blocked = d.path().join("not-a-folder");
    std::fs::write(&blocked, "a file where the cache folder would go").unwrap();
    let mut s = spec(train, test);
    s.cache_dir = Some(blocked.join("scores"));
    let m = evaluate(&s, &mut |_, _, _| {}).unwrap();
    assert!(!m.base_scores_cached);
}

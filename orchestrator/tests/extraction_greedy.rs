//! Extraction rates are read off the teacher-forced scoring pass (every token of a secret was the
//! top-1 choice). This checks that against real KV-cache greedy decoding from the text before
//! each secret, on SmolLM2, with secrets it can copy (repeated in the text) and secrets it cannot.

mod common;
use common::smollm2;
use triad_data::tokenizer::Tokenizer;
use triad_evaluator::metrics::extraction;
use triad_evaluator::scoring::{score, tokenise_file};
use triad_lm::tch::{Device, Kind};
use triad_lm::CausalLm;

/// A record whose text is `parts` joined; parts given as `(text, Some(label))` are spans.
fn record(id: usize, parts: &[(&str, Option<&str>)]) -> serde_json::Value {
    let (mut text, mut spans) = (String::new(), vec![]);
    for (p, label) in parts {
        if let Some(l) = label {
            let start = text.chars().count();
            spans.push(
                serde_json::json!({"start": start, "end": start + p.chars().count(), "label": l}),
            );
        }
        text.push_str(p);
    }
    serde_json::json!({"id": format!("r{id}"), "text": text, "spans": spans})
}

#[test]
fn top1_extraction_equals_greedy_decoding() {
    let tmp = tempfile::tempdir().unwrap();
    let secrets = [
        ("anna.lee@example.com", "EMAIL"),
        ("Jonathan Whitfield", "NAME"),
        ("4821-9930-1172", "ACCOUNT"),
        ("+44 20 7946 0958", "PHONE"),
        ("17 Larch Crescent, Bristol", "ADDRESS"),
        ("qv7#Lm2!", "PASSWORD"),
    ];
    let mut lines = vec![];
    for (i, (s, l)) in secrets.iter().enumerate() {
        // First mention: unpredictable. Second: the model can copy it from the context.
        lines.push(record(
            i,
            &[
                ("Customer: Hello, my details are ", None),
                (s, Some(l)),
                (". Agent: Thanks. To confirm, I have ", None),
                (s, Some(l)),
                (" on file. Customer: Yes, that is ", None),
                (s, Some(l)),
                (".", None),
            ],
        ));
    }
    let path = tmp.path().join("secrets.jsonl");
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, body).unwrap();

    let dir = smollm2();
    let tok = Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    let model = CausalLm::load(&dir, Kind::Float, Device::Cpu).unwrap();
    let (_, data) = tokenise_file(&path, &tok, None).unwrap();
    let scores = score(&model, &data, 4, |_, _| {});

    let (mut hits, mut misses) = (0, 0);
    for (t, top1) in data.iter().zip(&scores.top1) {
        let mut k = 0;
        while let Some(first) = t.span_of.iter().position(|s| *s == Some(k)) {
            let last = t.span_of.iter().rposition(|s| *s == Some(k)).unwrap();
            // span_of/top1 index i belongs to token i + 1.
            let by_top1 = top1[first..=last].iter().all(|&x| x);
            let want = &t.ids[first + 1..=last + 1];
            let decoded = triad_lm::generate::greedy(&model, &t.ids[..first + 1], want.len(), &[]);
            let by_greedy = decoded == want;
            assert_eq!(
                by_top1,
                by_greedy,
                "{} secret {k}: top-1 says {by_top1}, greedy decoded {:?} for {:?}",
                t.id,
                tok.decode(&decoded, false).unwrap(),
                tok.decode(want, false).unwrap()
            );
            if by_greedy {
                hits += 1
            } else {
                misses += 1
            }
            k += 1;
        }
    }
    println!(
        "SmolLM2 greedy-extracts {hits} of {} secrets",
        hits + misses
    );
    assert!(hits >= 2 && misses >= 3, "hits {hits}, misses {misses}");
    // The rate the evaluator reports counts the same secrets.
    let rate = extraction::split(&data, &scores.top1, &scores.top1);
    assert_eq!(rate.all.secrets, (hits + misses) as u64);
    assert_eq!(rate.all.extracted, hits as u64);
}

//! Token-level sensitivity masks on real tokenizers — SmolLM2's (Llama, byte-level BPE with
//! single digits, rebuilt from its GGUF) and GPT-NeoX-20B's (Pythia) — for multi-byte text and
//! tokens that straddle a span edge.

use triad_data::mask::{sensitive_spans, sensitivity_mask};
use triad_data::tokenizer::Tokenizer;
use triad_data::Span;
use triad_lm::gguf::{tokenizer, GgufFile};

fn smollm2() -> (tempfile::TempDir, Tokenizer) {
    let g = GgufFile::open(triad_tests::smollm2_gguf()).unwrap();
    let info = tokenizer::build(&g).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tokenizer.json");
    std::fs::write(&p, serde_json::to_vec(&info.json).unwrap()).unwrap();
    let t = Tokenizer::from_file(&p).unwrap();
    (dir, t)
}

fn neox() -> Tokenizer {
    Tokenizer::from_file(triad_tests::neox_tokenizer()).unwrap()
}

/// `(text, [(span text, label)])`: spans located by their text's first occurrence.
const CASES: &[(&str, &[&str])] = &[
    (
        "Call me at 555-0123, email jane.doe@example.com",
        &["555-0123", "jane.doe@example.com"],
    ),
    ("Zoë Müller paid 42€ in Zürich", &["Zoë Müller", "Zürich"]),
    (
        "住所は東京都港区です。名前は山田太郎",
        &["東京都港区", "山田太郎"],
    ),
    ("PIN:482913!", &["482913"]),
    ("ok 🙂 then Søren🙂Lindqvist wrote", &["Søren🙂Lindqvist"]),
    (
        "order #A83-1192 and card 4111111111111111.",
        &["A83-1192", "4111111111111111"],
    ),
    // A span starting inside a multi-digit token ("15" of GPT-NeoX's "+ 49 15 112 …").
    ("mobile tel+4915112345678 ok", &["5112345"]),
];

fn spans_for(text: &str, values: &[&str]) -> Vec<Span> {
    let mut spans: Vec<Span> = values
        .iter()
        .map(|v| {
            let byte = text.find(v).unwrap();
            let start = text[..byte].chars().count();
            Span {
                start,
                end: start + v.chars().count(),
                label: "X".into(),
            }
        })
        .collect();
    spans.sort_by_key(|s| s.start);
    spans
}

/// The definition, by brute force over characters.
fn brute(offsets: &[(usize, usize)], spans: &[Span], n_chars: usize) -> Vec<bool> {
    let mut inside = vec![false; n_chars];
    for s in spans {
        inside[s.start..s.end].iter_mut().for_each(|c| *c = true);
    }
    offsets
        .iter()
        .map(|&(s, e)| (s..e.min(n_chars)).any(|i| inside[i]))
        .collect()
}

fn check_tokenizer(name: &str, tok: &Tokenizer) -> (usize, usize) {
    let (mut straddling, mut multibyte_split) = (0, 0);
    for (text, values) in CASES {
        let spans = spans_for(text, values);
        let enc = tok.encode(text).unwrap();
        let n = text.chars().count();
        let mask = sensitivity_mask(&enc.offsets, &spans);
        assert_eq!(mask, brute(&enc.offsets, &spans, n), "{name}: {text:?}");
        let chars: Vec<char> = text.chars().collect();
        for s in &spans {
            // Every character of the span is covered by sensitive tokens (whitespace aside:
            // tokenizers with trim_offsets leave a token's leading space out of its range).
            for c in (s.start..s.end).filter(|&c| !chars[c].is_whitespace()) {
                assert!(
                    enc.offsets
                        .iter()
                        .zip(&mask)
                        .any(|(&(a, b), &m)| m && a <= c && c < b),
                    "{name}: char {c} ({:?}) of a span in {text:?} is in no sensitive token",
                    chars[c]
                );
            }
        }
        for (k, (&(a, b), &m)) in enc.offsets.iter().zip(&mask).enumerate() {
            let overlaps = spans.iter().any(|s| a < s.end && s.start < b);
            assert_eq!(
                m,
                overlaps && a < b,
                "{name}: token {k} {a}..{b} in {text:?}"
            );
            // A token reaching outside the span it overlaps straddles the edge.
            if m && spans
                .iter()
                .any(|s| a < s.end && s.start < b && (a < s.start || b > s.end))
            {
                straddling += 1;
                println!(
                    "{name}: straddling token {:?} in {text:?}",
                    chars[a..b].iter().collect::<String>()
                );
            }
            // Byte-level BPE may cut a multi-byte character into several tokens that share its range.
            if k > 0 && enc.offsets[k - 1] == (a, b) && b == a + 1 && chars[a].len_utf8() > 1 {
                multibyte_split += 1;
                assert_eq!(mask[k - 1], m, "{name}: pieces of one character disagree");
            }
        }
        let labels = sensitive_spans(&enc.offsets, &spans);
        assert!(labels.iter().flatten().all(|&i| i < spans.len()));
    }
    println!("{name}: {straddling} straddling sensitive tokens, {multibyte_split} split multi-byte characters");
    (straddling, multibyte_split)
}

#[test]
fn masks_on_llama_tokenizer() {
    let (_dir, tok) = smollm2();
    let (straddling, split) = check_tokenizer("smollm2", &tok);
    assert!(
        straddling > 0,
        "the cases must include a token straddling a span edge"
    );
    assert!(
        split > 0,
        "the cases must include a multi-byte character split across tokens"
    );
}

#[test]
fn masks_on_gpt_neox_tokenizer() {
    let (straddling, split) = check_tokenizer("gpt-neox", &neox());
    assert!(straddling > 0);
    assert!(split > 0);
}

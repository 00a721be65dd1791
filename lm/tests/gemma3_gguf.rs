//! The real Gemma-3-270M (Q4_K_M GGUF: Q5_0, Q4_K, Q6_K, Q8_0 and F32 tensors) through
//! `import_gguf`, against one transformers load of the same GGUF (tests/oracles/gemma3_reference.py):
//! every tensor equal to transformers' state dict, config.json equal to the config transformers
//! derives, token ids equal to SentencePiece's, and Triad's forward pass giving the same per-token
//! log-probs and greedy continuation. The model is under the Gemma Terms of Use
//! (https://ai.google.dev/gemma/terms).

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;
use tch::{Device, Kind};
use triad_data::tokenizer::Tokenizer;
use triad_lm::gguf::{dequant, import_gguf, plan, GgufFile};
use triad_lm::weights::Weights;
use triad_lm::CausalLm;

const TEXTS: &[&str] = &[
    "The capital of France is",
    "Marie Curie was a physicist and chemist who conducted pioneering research on radioactivity. She was the first woman to win a Nobel Prize, the first person to win it twice, and the only person to win it in two scientific fields. Her husband, Pierre Curie, shared her first prize.",
    "Call me at 555-0123 or +44 20 7946 0958, email jane.doe@example.com, IBAN DE89 3704 0044 0532 0130 00. My name is John Smith, born 1984-03-12, and I live at 42 Elm Street, Springfield, IL 62704. SSN 078-05-1120.",
    "Die Größe des Zimmers in München beträgt 20 m². 東京は日本の首都です。 Emoji: 😀🎉 — naïve café, résumé, Ελληνικά, русский текст, العربية, हिन्दी.",
];

/// Max |Δ| per GGUF block type between our tensors and transformers' state dict (every tensor
/// of the plan must be in both, with the same shape).
fn weight_diffs(gguf: &Path, ours: &Path, theirs: &Path) -> BTreeMap<String, (usize, f64)> {
    let g = GgufFile::open(gguf).unwrap();
    let hp = plan::hparams(&g, plan::GgufArch::Gemma3).unwrap();
    let mut ours = Weights::load_dir(ours, Kind::Float, Device::Cpu).unwrap();
    let mut theirs_w = Weights::empty(theirs);
    theirs_w
        .extend_from_file(theirs, Kind::Float, Device::Cpu, "")
        .unwrap();
    let mut by_type: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    for p in plan::plan_tensors(&hp, 262_144, true) {
        let shape: Vec<i64> = p.shape.iter().map(|&d| d as i64).collect();
        let a = ours.take(&p.hf, &shape).unwrap();
        let b = theirs_w
            .take(&p.hf, &shape)
            .unwrap_or_else(|e| panic!("{}: {e}", p.hf));
        let d = (a - b).abs().max().double_value(&[]);
        let ty = dequant::type_name(g.tensor(&p.gguf).unwrap().ggml_type);
        let e = by_type.entry(ty).or_insert((0, 0.0));
        *e = (e.0 + 1, e.1.max(d));
    }
    assert!(ours.leftover().is_empty(), "{:?}", ours.leftover());
    assert!(theirs_w.leftover().is_empty(), "{:?}", theirs_w.leftover());
    by_type
}

/// Our config.json agrees with the config transformers derives from the GGUF, key by key.
fn check_config(dir: &Path, reference: &Value) {
    let ours: Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(ours["model_type"], "gemma3_text");
    assert_eq!(
        ours["architectures"],
        serde_json::json!(["Gemma3ForCausalLM"])
    );
    let theirs = &reference["config"];
    for (k, v) in ours.as_object().unwrap() {
        if ["architectures", "dtype", "triad_source"].contains(&k.as_str()) {
            continue;
        }
        assert_eq!(v, &theirs[k], "config.json `{k}`");
    }
    let tc: Value =
        serde_json::from_slice(&std::fs::read(dir.join("tokenizer_config.json")).unwrap()).unwrap();
    assert_eq!(tc["add_bos_token"], true);
    assert_eq!(tc["bos_token"], "<bos>");
}

fn floats(v: &Value) -> Vec<Option<f32>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().map(|f| f as f32))
        .collect()
}

/// Mean and max |Δ| between two log-prob lists (the first entry of each is null).
fn logprob_diff(a: &[Option<f32>], b: &[Option<f32>]) -> (f64, f64) {
    assert_eq!(a.len(), b.len());
    let d: Vec<f64> = a
        .iter()
        .zip(b)
        .skip(1)
        .map(|(x, y)| (x.unwrap() as f64 - y.unwrap() as f64).abs())
        .collect();
    let mean = d.iter().sum::<f64>() / d.len() as f64;
    (mean, d.iter().cloned().fold(0.0, f64::max))
}

/// Ids, log-probs (ours against transformers' on the GGUF and on our folder) and greedy text.
fn check_model(dir: &Path, reference: &Value) {
    let tok = Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    let t = Instant::now();
    let model = CausalLm::load(dir, Kind::Float, Device::Cpu).unwrap();
    let texts = reference["texts"].as_array().unwrap();
    let ids: Vec<Vec<u32>> = TEXTS.iter().map(|t| tok.encode(t).unwrap().ids).collect();
    assert_eq!(ids[0], [2, 818, 5279, 529, 7001, 563]);
    for (i, r) in texts.iter().enumerate() {
        let want: Vec<u32> = serde_json::from_value(r["ids"].clone()).unwrap();
        assert_eq!(ids[i], want, "SentencePiece ids of text {i}");
    }
    let ours = triad_lm::score::score_sequences(&model, &ids, 4, |_, _| {});
    for (i, r) in texts.iter().enumerate() {
        let (mean, max) = logprob_diff(&ours[i], &floats(&r["logprobs"]));
        let (fmean, _) = logprob_diff(&ours[i], &floats(&r["folder_logprobs"]));
        eprintln!(
            "text {i} ({} tokens): mean |Δ log-prob| {mean:.2e} (max {max:.2e}) vs transformers on the GGUF, {fmean:.2e} vs transformers on our folder",
            ids[i].len()
        );
        assert!(mean <= 1e-3 && fmean <= 1e-3, "text {i}: {mean} / {fmean}");
    }
    let greedy = triad_lm::generate::greedy(&model, &ids[0], 8, &[1]);
    let text = tok.decode(&greedy, true).unwrap();
    eprintln!(
        "greedy: \"The capital of France is{text}\" ({:.1}s with the load)",
        t.elapsed().as_secs_f64()
    );
    let want: Vec<u32> = serde_json::from_value(reference["greedy"]["ids"].clone()).unwrap();
    assert_eq!(greedy, want, "greedy continuation {text:?}");
    assert!(
        text.contains("France") || text.contains("Paris"),
        "{text:?}"
    );
}

#[test]
fn gemma3_gguf_imports_like_transformers_loads_it() {
    let gguf = triad_tests::gemma3_gguf();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("gemma3");
    let t = Instant::now();
    let s = import_gguf(&gguf, &dir).unwrap();
    eprintln!("import: {:.1}s, {s:?}", t.elapsed().as_secs_f64());
    assert_eq!(
        (
            s.architecture.as_str(),
            s.tensors,
            s.parameters,
            s.vocab_size
        ),
        ("gemma3", 236, 268_098_176, 262_144)
    );
    assert_eq!(s.quant_types.values().sum::<usize>(), 236);
    assert_eq!(s.terms, Some(triad_lm::gguf::GEMMA_TERMS));
    let notice = std::fs::read_to_string(dir.join("NOTICE")).unwrap();
    assert!(notice.contains("ai.google.dev/gemma/terms"), "{notice}");
    assert!(
        dir.join("GEMMA_TERMS.html").is_file(),
        "fetched beside the GGUF"
    );

    let out = tmp.path().join("reference");
    let texts = tmp.path().join("texts.json");
    std::fs::write(&texts, serde_json::to_vec(TEXTS).unwrap()).unwrap();
    let t = Instant::now();
    let args = [&gguf, &texts, &out, &dir].map(|p| p.to_str().unwrap().to_string());
    triad_tests::run_oracle(
        "gemma3_reference.py",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    eprintln!("transformers reference: {:.1}s", t.elapsed().as_secs_f64());
    let reference: Value =
        serde_json::from_slice(&std::fs::read(out.join("reference.json")).unwrap()).unwrap();

    check_config(&dir, &reference);
    let diffs = weight_diffs(&gguf, &dir, &out.join("state_dict.safetensors"));
    for (ty, (n, d)) in &diffs {
        eprintln!("{ty}: {n} tensors, max |Δ| vs transformers {d:e}");
        assert!(*d <= 1e-6, "{ty}: max |Δ| {d}");
    }
    assert_eq!(
        diffs.keys().collect::<Vec<_>>(),
        ["F32", "Q4_K", "Q5_0", "Q6_K", "Q8_0"]
    );
    check_model(&dir, &reference);
}

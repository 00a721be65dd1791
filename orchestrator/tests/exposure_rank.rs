//! Canary exposure against brute force: on a space small enough to enumerate (4 digits), every
//! candidate is scored through `triad model score` (an independent path: whole texts, the
//! secret's tokens summed from the written offsets) and ranked; `triad eval`, forced off
//! enumeration, must give that rank exactly where it says `exact-*`, and an interval holding
//! it where it says `sampled` — for a model that memorised the canaries and one that did not.
//! Each canary is ranked among the candidates less the other canaries' secrets.

use std::path::Path;

mod common;
use common::triad;

const PREFIX: &str = "Customer: For verification, my account PIN is ";

fn canary(id: &str, secret: &str, repeats: usize) -> serde_json::Value {
    serde_json::json!({
        "id": id, "text": format!("{PREFIX}{secret}."), "prefix": PREFIX, "secret": secret,
        "suffix": ".", "label": "PIN", "alphabet": "0123456789", "length": 4,
        "space_size": 10_000, "repeats": repeats,
    })
}

fn write_jsonl(path: &Path, lines: &[serde_json::Value]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(path, text).unwrap();
}

/// `log p(secret | prefix)` of every 4-digit candidate, by scoring each whole text.
fn brute_force(model: &Path, dir: &Path) -> Vec<f64> {
    std::fs::create_dir_all(dir).unwrap();
    let input = dir.join("candidates.jsonl");
    let lines: Vec<serde_json::Value> = (0..10_000)
        .map(|i| serde_json::json!({"id": i.to_string(), "text": format!("{PREFIX}{i:04}.")}))
        .collect();
    write_jsonl(&input, &lines);
    let output = dir.join("candidates.scores.jsonl");
    triad(&[
        "model",
        "score",
        "--model",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--device",
        "cpu",
        "--batch-size",
        "64",
    ]);
    let (start, end) = (PREFIX.chars().count(), PREFIX.chars().count() + 4);
    std::fs::read_to_string(output)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let offsets = v["offsets"].as_array().unwrap();
            let lps = v["logprobs"].as_array().unwrap();
            offsets
                .iter()
                .zip(lps)
                .filter(|(o, _)| {
                    let (a, b) = (
                        o[0].as_u64().unwrap() as usize,
                        o[1].as_u64().unwrap() as usize,
                    );
                    a < end && b > start
                })
                .map(|(_, lp)| lp.as_f64().expect("the first token is never in the secret"))
                .sum()
        })
        .collect()
}

/// Check each canary of METRICS.json against the brute-force ranking; returns the methods used
/// and how many sampled intervals missed the true rank.
fn check(metrics: &serde_json::Value, all: &[f64], what: &str) -> (Vec<String>, usize) {
    let mut methods = vec![];
    let mut missed = 0;
    let canaries = metrics["exposure"]["canaries"].as_array().unwrap();
    let secret_of =
        |c: &serde_json::Value| -> usize { c["id"].as_str().unwrap()[1..].parse().unwrap() };
    // Every canary's secret: the canary itself and its rivals, none of them counted.
    let secrets: Vec<usize> = canaries.iter().map(secret_of).collect();
    for c in canaries {
        let secret = secret_of(c);
        let own = all[secret];
        let others = || all.iter().enumerate().filter(|(i, _)| !secrets.contains(i));
        let better = others().filter(|&(_, &x)| x > own).count();
        let truth = 1.0 + better as f64;
        // Candidates within float noise of the canary can fall either way.
        let near = others().filter(|&(_, &x)| (x - own).abs() < 1e-4).count() as f64;
        assert_eq!(
            c["space_size"].as_u64().unwrap(),
            all.len() as u64 + 1 - secrets.len() as u64
        );
        let method = c["method"].as_str().unwrap().to_string();
        let rank = c["rank"].as_f64().unwrap();
        let [lo, hi] = [
            c["rank_ci95"][0].as_f64().unwrap(),
            c["rank_ci95"][1].as_f64().unwrap(),
        ];
        println!(
            "{what} {}: true rank {truth}, {method} {rank} [{lo}, {hi}]",
            c["id"]
        );
        if method.starts_with("exact") {
            assert!(
                (rank - truth).abs() <= near,
                "{what} {}: exact rank {rank}, brute force {truth}",
                c["id"]
            );
            assert_eq!((lo, hi), (rank, rank));
        } else {
            assert_eq!(method, "sampled");
            assert!(lo <= rank && rank <= hi, "{what} {}: {c}", c["id"]);
            if !(lo - near <= truth && truth <= hi + near) {
                println!("  (outside its 95% interval)");
                missed += 1;
            }
        }
        methods.push(method);
    }
    (methods, missed)
}

#[test]
fn exposure_ranks_agree_with_brute_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Dialogues for training (with the canaries below) and testing.
    triad(&[
        "data",
        "generate",
        "customer-support",
        "--train",
        "16",
        "--test",
        "16",
        "--seed",
        "9",
        "--out",
        dir.join("data").to_str().unwrap(),
    ]);
    // A tiny random model with a small byte-level BPE that gives each digit its own token, as
    // SmolLM2's does: fast to train and to score all 10,000 candidates with.
    let tok = dir.join("tokenizer.json");
    triad_tests::run_oracle(
        "digit_tokenizer.py",
        &[
            tok.to_str().unwrap(),
            dir.join("data/train.jsonl").to_str().unwrap(),
        ],
    );
    let tiny = dir.join("tiny");
    triad_tests::run_oracle(
        "tiny_lm_with_tokenizer.py",
        &[tiny.to_str().unwrap(), tok.to_str().unwrap()],
    );
    let secrets = ["0417", "5203", "8861", "3390", "7125", "2648"];
    let canaries: Vec<serde_json::Value> = secrets
        .iter()
        .map(|s| canary(&format!("c{s}"), s, 16))
        .collect();
    write_jsonl(&dir.join("canaries.jsonl"), &canaries);
    let mut train = std::fs::read_to_string(dir.join("data/train.jsonl")).unwrap();
    for c in &canaries {
        for k in 0..16 {
            let start = PREFIX.chars().count();
            let r = serde_json::json!({"id": format!("{}-r{k}", c["id"].as_str().unwrap()),
                "text": c["text"], "spans": [{"start": start, "end": start + 4, "label": "PIN"}]});
            train.push_str(&format!("{r}\n"));
        }
    }
    std::fs::write(dir.join("train.jsonl"), train).unwrap();
    let cfg = dir.join("full.toml");
    std::fs::write(
        &cfg,
        format!(
            "model = \"{}\"\ntrain_file = \"train.jsonl\"\nmethod = \"full\"\nepochs = 12\nbatch_size = 8\nmax_length = 128\ndevice = \"cpu\"\ncheckpoint.every_epoch = false\n[optimizer]\nlr = 1e-2\n",
            tiny.display()
        ),
    )
    .unwrap();
    let run = dir.join("run");
    triad(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("run.json")).unwrap()).unwrap();
    let trained = std::path::PathBuf::from(record["final_checkpoint"].as_str().unwrap());

    let eval = |checkpoint: &Path, out: &str| -> serde_json::Value {
        let out = dir.join(out);
        triad(&[
            "eval",
            "--base",
            tiny.to_str().unwrap(),
            "--checkpoint",
            checkpoint.to_str().unwrap(),
            "--train",
            dir.join("train.jsonl").to_str().unwrap(),
            "--test",
            dir.join("data/test.jsonl").to_str().unwrap(),
            "--canaries",
            dir.join("canaries.jsonl").to_str().unwrap(),
            // Off enumeration: the search and the sample are what is under test.
            "--exposure-exact-max",
            "0",
            "--exposure-samples",
            "1000",
            "--out",
            out.to_str().unwrap(),
            "--device",
            "cpu",
            "--cache-dir",
            "none",
        ]);
        serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap()
    };
    let m = eval(&trained, "trained.json");
    let all = brute_force(&trained, &dir.join("brute-trained"));
    let (methods, missed_a) = check(&m, &all, "memorised");
    assert!(
        methods.iter().any(|x| x == "exact-search"),
        "the memorised canaries must be searched exactly: {methods:?}"
    );
    let m = eval(&tiny, "base.json");
    let all = brute_force(&tiny, &dir.join("brute-base"));
    let (methods, missed_b) = check(&m, &all, "never seen");
    assert!(
        methods.iter().any(|x| x == "sampled"),
        "unseen canaries rank too low to search: {methods:?}"
    );
    // A 95% interval misses 1 time in 20: of the (at most 12) sampled canaries, more than 2
    // misses has probability < 2% for honest intervals.
    assert!(
        missed_a + missed_b <= 2,
        "{} sampled intervals missed the true rank",
        missed_a + missed_b
    );
}

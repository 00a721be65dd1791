//! Model cards end to end: a study on a tiny model (full, LoRA, record- and user-level DP,
//! user-level DP-LoRA; data with repeat customers and audit canaries) leaves a card in every
//! checkpoint folder; the Hub's own reader (huggingface_hub.ModelCard) and a YAML 1.2 parser
//! read its front matter; each card states the ledger's numbers of its checkpoint exactly; and
//! no card holds a seed, a noise key, a secret of the data, an id or a path.

mod common;
use common::{tiny_model, triad};
use serde_json::Value;
use std::path::{Path, PathBuf};
use triad_tests::card::{front_matter, leaks, Private};
use yaml_rust2::{Yaml, YamlLoader};

const SPEC: &str = r#"
name = "cards"
[model]
path = "tiny"
[data]
generate = "customer-support"
train = 16
test = 16
canaries = 1
canary_repeats = 4
records_per_user = "2"
audit_canaries = 16
audit_copies = 2
[train]
epochs = 2
batch_size = 4
max_length = 128
device = "cpu"
seed = 73914082
[[method]]
method = "full"
lr = [1e-3]
[[method]]
method = "lora"
lora_r = [4]
lr = [1e-2]
[[method]]
method = "dp"
target_epsilon = [8.0]
dp_unit = ["record", "user"]
lr = [1e-3]
[[method]]
method = "dp-lora"
lora_r = [4]
target_epsilon = [8.0]
dp_unit = ["user"]
lr = [1e-2]
[eval]
exposure_samples = 50
every_epoch = true
"#;

/// (run id, epoch, checkpoint, metrics) of every evaluation but the base model's.
fn evals(dir: &Path) -> Vec<(String, u64, String, Value)> {
    let c = rusqlite::Connection::open(dir.join("ledger.sqlite")).unwrap();
    let mut q = c
        .prepare("SELECT run_id, epoch, checkpoint, metrics FROM evals WHERE run_id NOT LIKE '@%'")
        .unwrap();
    q.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)? as u64,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })
    .unwrap()
    .map(|r| {
        let (id, e, c, m) = r.unwrap();
        (id, e, c, serde_json::from_str(&m).unwrap())
    })
    .collect()
}

/// Every checkpoint folder of the study: (run id, epoch, folder).
fn checkpoints(dir: &Path) -> Vec<(String, u64, PathBuf)> {
    let mut out = vec![];
    for run in std::fs::read_dir(dir.join("runs")).unwrap() {
        let run = run.unwrap().path();
        let id = run.file_name().unwrap().to_str().unwrap().to_string();
        for c in std::fs::read_dir(run.join("checkpoints")).unwrap() {
            let c = c.unwrap().path();
            let name = c.file_name().unwrap().to_str().unwrap();
            if let Some(e) = name.strip_prefix("epoch-") {
                out.push((id.clone(), e.parse().unwrap(), c));
            }
        }
    }
    out.sort();
    out
}

/// The most records one user has in the study's training file.
fn largest_user(dir: &Path) -> usize {
    let text = std::fs::read_to_string(dir.join("data/train.jsonl")).unwrap();
    let mut count = std::collections::HashMap::<String, usize>::new();
    for line in text.lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        *count
            .entry(r["user"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    count.into_values().max().unwrap()
}

/// A YAML number as f64 (`.nan` too); `None` for null.
fn num(y: &Yaml) -> Option<f64> {
    match y {
        Yaml::Real(s) => Some(match s.as_str() {
            ".nan" | ".NaN" => f64::NAN,
            _ => s.parse().unwrap(),
        }),
        Yaml::Integer(i) => Some(*i as f64),
        Yaml::Null => None,
        other => panic!("not a number: {other:?}"),
    }
}

/// Both equal, NaN equal to NaN (a number the card had to state as it was).
fn same(card: Option<f64>, ledger: &Value) -> bool {
    match (card, ledger.as_f64()) {
        (Some(a), Some(b)) => a == b || (a.is_nan() && b.is_nan()),
        (None, None) => true,
        (a, b) => {
            eprintln!("card {a:?}, ledger {b:?}");
            false
        }
    }
}

fn check_metric(card: &Yaml, value: &Value, ci: &Value, what: &str) {
    assert!(same(num(&card["value"]), value), "{what}: value");
    let ci: Vec<&Value> = ci
        .as_array()
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    match card["ci95"].as_vec() {
        Some(c) => {
            assert_eq!(c.len(), ci.len(), "{what}: interval");
            for (a, b) in c.iter().zip(ci) {
                assert!(same(num(a), b), "{what}: interval");
            }
        }
        None => assert!(ci.is_empty(), "{what}: interval missing"),
    }
}

/// The card's `triad.measured` against the ledger's METRICS.json.
fn check_measured(m: &Yaml, metrics: &Value, what: &str) {
    check_metric(
        &m["privacy_loss"],
        &metrics["privacy_loss"],
        &metrics["privacy_loss_ci95"],
        what,
    );
    let mia = &metrics["membership_inference"];
    for (key, attack) in [("reference", "reference"), ("loss", "loss")] {
        check_metric(
            &m["membership_auc"][key],
            &mia[attack]["auc"],
            &mia[attack]["auc_ci95"],
            what,
        );
    }
    check_metric(
        &m["utility_nll"],
        &metrics["utility"]["nll"],
        &metrics["utility"]["nll_ci95"],
        what,
    );
    let exposure = &metrics["exposure"];
    check_metric(
        &m["canary_exposure"],
        &exposure["mean_exposure"],
        &exposure["mean_exposure_ci95"],
        what,
    );
    let audit = &metrics["audit"];
    for key in ["epsilon_lower_bound", "confidence", "delta"] {
        assert!(
            same(num(&m["audit"][key]), &audit[key]),
            "{what}: audit {key}"
        );
    }
}

/// What no card may hold: every run's seed and noise key (if still there), the data's secret
/// values and ids, and this machine's paths.
fn private(dir: &Path, tmp: &Path) -> Private {
    let mut p = Private {
        paths: vec![
            tmp.to_string_lossy().into_owned(),
            std::env::var("HOME").unwrap_or_default(),
        ],
        ..Default::default()
    };
    for run in std::fs::read_dir(dir.join("runs")).unwrap() {
        let run = run.unwrap().path();
        if let Ok(hex) = std::fs::read_to_string(run.join("state/noise.key")) {
            let hex = hex.trim();
            p.keys.push(
                (0..hex.len() / 2)
                    .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
                    .collect(),
            );
        }
        let record: Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
        // The base's identity is a digest of public weights, which a card may state.
        if let Some(d) = record["base_model_sha256"].as_str() {
            p.digests.push(d.to_string());
        }
        if let Some(s) = record["config"]["seed"].as_u64() {
            p.seed = Some(p.seed.map_or(s, |x: u64| x.max(s)));
        }
    }
    for file in ["train.jsonl", "test.jsonl", "canaries.jsonl", "audit.jsonl"] {
        let Ok(text) = std::fs::read_to_string(dir.join("data").join(file)) else {
            continue;
        };
        for line in text.lines() {
            let r: Value = serde_json::from_str(line).unwrap();
            // Offsets count characters.
            let t: Vec<char> = r["text"].as_str().unwrap_or_default().chars().collect();
            for s in r["spans"].as_array().into_iter().flatten() {
                let (a, b) = (s["start"].as_u64().unwrap(), s["end"].as_u64().unwrap());
                p.secrets.push(t[a as usize..b as usize].iter().collect());
            }
            for key in ["id", "user"] {
                if let Some(v) = r[key].as_str() {
                    p.secrets.push(v.to_string());
                }
            }
        }
    }
    p
}

#[test]
fn every_checkpoint_of_a_study_has_a_card_with_the_ledgers_numbers_and_nothing_private() {
    let tmp = tempfile::tempdir().unwrap();
    tiny_model(tmp.path());
    let path = tmp.path().join("study.toml");
    std::fs::write(&path, SPEC).unwrap();
    let dir = tmp.path().join("s");
    triad(&[
        "study",
        "run",
        path.to_str().unwrap(),
        "--dir",
        dir.to_str().unwrap(),
    ]);

    let all = checkpoints(&dir);
    // 5 runs (full, LoRA, DP per record, DP and DP-LoRA per user), 2 epochs each.
    assert_eq!(all.len(), 10, "{all:?}");
    let evals = evals(&dir);
    assert_eq!(evals.len(), 10, "every epoch of each run");
    let cards: Vec<PathBuf> = all.iter().map(|(_, _, c)| c.join("README.md")).collect();
    let hub = triad_tests::run_oracle(
        "read_model_card.py",
        &cards
            .iter()
            .map(|c| c.to_str().unwrap())
            .collect::<Vec<_>>(),
    );
    let hub: Vec<Value> = hub
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(hub.len(), all.len());
    let private = private(&dir, tmp.path());
    // A DP run's noise key is deleted when it completes (the trainer's unit tests scan a card
    // written while the key exists: trainer/src/card/tests.rs).
    assert_eq!(private.seed, Some(73914082));
    assert!(private.secrets.len() > 50, "{}", private.secrets.len());

    for ((id, epoch, folder), hub) in all.iter().zip(&hub) {
        let what = format!("{id} epoch {epoch}");
        let text = std::fs::read_to_string(folder.join("README.md")).unwrap();
        let y = &YamlLoader::load_from_str(front_matter(&text).expect("front matter")).unwrap()[0];
        // The Hub reads the keys it knows; a study's staged base folder has no Hub id, so the
        // card names it under `triad:` only.
        assert!(hub.get("base_model").is_none(), "{what}");
        assert_eq!(
            y["triad"]["base_model_name"].as_str(),
            Some("base"),
            "{what}"
        );
        let lora = id.starts_with("lora") || id.starts_with("dp-lora");
        assert_eq!(
            hub["library_name"],
            if lora { "peft" } else { "transformers" },
            "{what}"
        );
        assert!(hub["tags"].as_array().unwrap().contains(&"triad".into()));
        assert_eq!(num(&y["triad"]["epoch"]), Some(*epoch as f64));

        // The guarantee is run.json's, at this epoch, in the run's unit.
        let record: Value =
            serde_json::from_str(&std::fs::read_to_string(folder.join("../../run.json")).unwrap())
                .unwrap();
        let at = record["epochs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["epoch"] == *epoch)
            .unwrap();
        let g = &y["triad"]["guarantee"];
        if id.starts_with("dp") {
            assert_eq!(g["kind"].as_str(), Some("differential-privacy"), "{what}");
            assert!(same(num(&g["epsilon"]), &at["epsilon"]), "{what}: ε");
            assert!(same(num(&g["delta"]), &record["delta"]), "{what}: δ");
            let unit = if id.contains("-unituser-") {
                "user"
            } else {
                "record"
            };
            assert_eq!(g["unit"].as_str(), Some(unit), "{what}");
            assert!(
                text.contains(&format!("-differential privacy per {unit}")),
                "{what}"
            );
            if unit == "record" {
                // Data with users: the record-level run says what it means per user.
                assert_eq!(
                    num(&g["largest_user_records"]),
                    Some(largest_user(&dir) as f64),
                    "{what}"
                );
            }
        } else {
            assert_eq!(g["kind"].as_str(), Some("none"), "{what}");
        }

        // The measured part: the ledger's numbers (the study evaluates every checkpoint).
        let (_, _, checkpoint, metrics) = evals
            .iter()
            .find(|(i, e, _, _)| i == id && e == epoch)
            .unwrap_or_else(|| panic!("{what}: not evaluated"));
        assert!(checkpoint.ends_with(&format!("checkpoints/epoch-{epoch}")));
        check_measured(&y["triad"]["measured"], metrics, &what);
        assert!(!text.contains("Not evaluated yet."), "{what}");
        assert_eq!(
            leaks(&text, &private),
            Vec::<String>::new(),
            "{what}:\n{text}"
        );
    }

    // A rerun finds nothing to train or evaluate, leaves every card as it was, and writes
    // the card of an evaluated checkpoint that lost its card whole again.
    let before: Vec<String> = cards
        .iter()
        .map(|c| std::fs::read_to_string(c).unwrap())
        .collect();
    // The last epoch's: run.json's running totals (tokens seen, the bound per user) are that
    // checkpoint's, so the card rendered from it is the one the trainer wrote.
    let (id, epoch, _, _) = evals
        .iter()
        .find(|e| e.0.contains("-unitrecord-") && e.1 == 2)
        .unwrap();
    let lost = dir.join(format!("runs/{id}/checkpoints/epoch-{epoch}/README.md"));
    std::fs::remove_file(&lost).unwrap();
    triad(&[
        "study",
        "run",
        path.to_str().unwrap(),
        "--dir",
        dir.to_str().unwrap(),
    ]);
    let after: Vec<String> = cards
        .iter()
        .map(|c| std::fs::read_to_string(c).unwrap())
        .collect();
    for ((b, a), c) in before.iter().zip(&after).zip(&cards) {
        assert_eq!(b, a, "{}", c.display());
    }
}

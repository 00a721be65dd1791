//! The card of every kind of run: its front matter parses (yaml-rust2, a YAML 1.2 parser; the
//! study's end-to-end test reads cards with the Hub's own client too), states run.json's numbers
//! exactly and no count run.json withholds, takes a study's measurements with every digit, and
//! holds nothing private.

use super::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use triad_tests::card::{front_matter, leaks, Private};
use yaml_rust2::{Yaml, YamlLoader};

const SEED: u64 = 73914082;
const BASE_SHA: &str = "5db23b362244e98f50dd9cfea5ad49cee14e5b5a9a57f00bd0d74d16dfc85ad7";

/// A base model folder, a run folder and a checkpoint in it, in a temporary folder.
struct Fixture {
    tmp: tempfile::TempDir,
    base: PathBuf,
    out: PathBuf,
}

impl Fixture {
    fn new(gemma: bool) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("models/tiny-base");
        std::fs::create_dir_all(&base).unwrap();
        let mut config = if gemma {
            json!({"model_type": "gemma3_text", "head_dim": 8, "sliding_window": 512,
                   "query_pre_attn_scalar": 8, "rope_theta": 1e6})
        } else {
            json!({"model_type": "llama"})
        };
        for (k, v) in json!({"hidden_size": 32, "num_attention_heads": 4,
            "num_key_value_heads": 2, "intermediate_size": 48, "num_hidden_layers": 2,
            "vocab_size": 64,
            "triad_source": {"gguf": "tiny.Q4_1.gguf", "general.license": "apache-2.0"}})
        .as_object()
        .unwrap()
        {
            config[k] = v.clone();
        }
        std::fs::write(base.join("config.json"), config.to_string()).unwrap();
        let out = tmp.path().join("runs/r1");
        Fixture { tmp, base, out }
    }

    /// The checkpoint folder of `epoch`, holding what `checkpoint::write` puts there.
    fn checkpoint(&self, epoch: u64, adapter: bool, terms_copy: bool) -> PathBuf {
        let dir = crate::run::checkpoint_dir(&self.out, epoch);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let weights = if adapter {
            "adapter_config.json"
        } else {
            "model.safetensors"
        };
        std::fs::write(dir.join(weights), "{}").unwrap();
        if terms_copy {
            std::fs::write(dir.join(base::GEMMA_TERMS_COPY), "<html>terms</html>").unwrap();
        }
        dir
    }

    /// A record of `method` with `extra_toml` in its RUN.toml and `extra` over its JSON form;
    /// two epochs, both checkpointed.
    fn record(&self, method: &str, extra_toml: &str, extra: Value) -> RunRecord {
        let toml = format!(
            "model = \"{}\"\ntrain_file = \"{}\"\nmethod = \"{method}\"\nseed = {SEED}\n\
             epochs = 2\nbatch_size = 4\nmax_length = 128\n{extra_toml}\n[optimizer]\nlr = 1e-3\n",
            self.base.display(),
            self.tmp.path().join("data/train.jsonl").display()
        );
        let cfg = crate::RunConfig::from_toml(&toml, Path::new("run.toml")).unwrap();
        let private = cfg.method.is_private();
        let eps = |e: f64| private.then_some(e);
        let mut v = json!({
            "status": "completed", "config": cfg, "method": cfg.method, "device": "Cpu",
            "dtype": "Float", "examples": 16, "total_steps": 8, "steps_done": 8,
            "trainable_parameters": 10, "total_parameters": 100, "tokens_seen": 1234,
            "wall_time_s": 1.5, "tokens_per_second": 600.0, "peak_memory_bytes": 1024,
            "loss_curve": [],
            "epochs": [
                {"epoch": 1, "step": 4, "mean_loss": null, "checkpoint": "/abs/epoch-1",
                 "epsilon": eps(4.123456789012345), "epsilon_rdp": eps(5.5),
                 "epsilon_pld": eps(4.123456789012345)},
                {"epoch": 2, "step": 8, "mean_loss": null, "checkpoint": "/abs/epoch-2",
                 "epsilon": eps(7.99017784528704), "epsilon_rdp": eps(9.480209011646942),
                 "epsilon_pld": eps(7.99017784528704)}],
            "final_checkpoint": "/abs/epoch-2",
            "train_sha256": "3b2a13bc2de1fef2ec5548921d2f0be28d1aa0d772276fa90220d40d86744ff1",
            "base_model_sha256": BASE_SHA,
            "tokens_counted": if private { "expected" } else { "sampled" },
        });
        if private {
            for (k, x) in json!({"epsilon": 7.99017784528704, "accountant": "pld",
                "epsilon_rdp": 9.480209011646942, "epsilon_pld": 7.99017784528704,
                "delta": 1e-5, "noise_multiplier": 0.6085205078125, "sampling_rate": 0.25,
                "max_grad_norm": 1.0, "secure_rng": true, "dataset_size_source": "published",
                "privacy_unit": {"unit": "record"}})
            .as_object()
            .unwrap()
            {
                v[k] = x.clone();
            }
        }
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    /// What this fixture's cards must never hold.
    fn private(&self) -> Private {
        let mut paths = vec![
            self.tmp.path().display().to_string(),
            self.base.display().to_string(),
            self.out.display().to_string(),
        ];
        paths.extend(std::env::var("HOME").ok().filter(|h| h.len() > 1));
        Private {
            seed: Some(SEED),
            keys: vec![],
            secrets: vec![
                "Michael Moore".into(),
                "customer-support-train-000000".into(),
            ],
            paths,
            digests: vec![BASE_SHA.into()],
        }
    }
}

/// A card's front matter, parsed.
fn parse(card: &str) -> Yaml {
    let fm = front_matter(card).unwrap_or_else(|| panic!("no front matter:\n{card}"));
    let mut docs = YamlLoader::load_from_str(fm).unwrap_or_else(|e| panic!("{e}:\n{fm}"));
    assert_eq!(docs.len(), 1, "{fm}");
    docs.remove(0)
}

fn num(y: &Yaml) -> f64 {
    y.as_f64().unwrap_or_else(|| panic!("not a float: {y:?}"))
}

fn card_of(f: &Fixture, r: &RunRecord, epoch: u64) -> String {
    let dir = crate::run::checkpoint_dir(&f.out, epoch);
    Card::new(r, epoch, &f.base, &dir)
        .unwrap()
        .unwrap()
        .render(None)
}

#[test]
fn every_method_renders_a_card_whose_front_matter_parses_and_states_the_record() {
    let f = Fixture::new(false);
    let dp = "[dp]\ntarget_epsilon = 8.0\ndelta = 1e-5\n";
    let cases = [
        ("full", "full", "", "transformers", "none"),
        ("lora", "lora", "[lora]\nr = 4\n", "peft", "none"),
        ("dp", "dp", dp, "transformers", "differential-privacy"),
        (
            "dp-lora",
            "dp-lora",
            &format!("[lora]\nr = 4\n{dp}"),
            "peft",
            "differential-privacy",
        ),
        (
            "dp",
            "redact-dp",
            &format!("{dp}[redact]\nepochs = 1\nlr = 1e-3\n"),
            "transformers",
            "selective-differential-privacy",
        ),
    ];
    for (method, name, toml, library, kind) in cases {
        let r = f.record(method, toml, json!({}));
        f.checkpoint(2, library == "peft", false);
        let card = card_of(&f, &r, 2);
        let y = parse(&card);
        // A local folder is no Hub id: named under `triad:`, not as the Hub's `base_model`.
        assert!(y["base_model"].is_badvalue(), "{card}");
        assert_eq!(y["triad"]["base_model_name"].as_str(), Some("tiny-base"));
        assert_eq!(y["library_name"].as_str(), Some(library), "{card}");
        assert_eq!(y["license"].as_str(), Some("apache-2.0"));
        assert_eq!(y["pipeline_tag"].as_str(), Some("text-generation"));
        let tags: Vec<&str> = y["tags"]
            .as_vec()
            .unwrap()
            .iter()
            .filter_map(Yaml::as_str)
            .collect();
        assert!(tags.contains(&"triad"), "{tags:?}");
        assert_eq!(tags.contains(&"lora"), library == "peft", "{tags:?}");
        assert_eq!(
            tags.contains(&"differential-privacy"),
            r.method.is_private(),
            "{tags:?}"
        );
        let t = &y["triad"];
        assert_eq!(t["method"].as_str(), Some(name));
        assert_eq!(
            (t["epoch"].as_i64(), t["step"].as_i64()),
            (Some(2), Some(8))
        );
        assert_eq!(t["base_model_sha256"].as_str(), Some(BASE_SHA));
        assert_eq!(t["base_model_gguf"].as_str(), Some("tiny.Q4_1.gguf"));
        assert_eq!(t["data"]["records"].as_i64(), Some(16));
        assert_eq!(t["data"]["tokens"].as_i64(), Some(1234));
        assert_eq!(t["data"]["max_length"].as_i64(), Some(128));
        let g = &t["guarantee"];
        assert_eq!(g["kind"].as_str(), Some(kind), "{card}");
        if r.method.is_private() {
            assert_eq!(num(&g["epsilon"]), r.epochs[1].epsilon.unwrap());
            assert_eq!(num(&g["epsilon_rdp"]), 9.480209011646942);
            assert_eq!(num(&g["delta"]), 1e-5);
            assert_eq!(num(&g["noise_multiplier"]), 0.6085205078125);
            assert_eq!(g["unit"].as_str(), Some("record"));
            assert_eq!(g["accountant"].as_str(), Some("pld"));
            assert_eq!(g["noise"].as_str(), Some("secret-key"));
            assert!(card.contains("(ε = 7.99, δ = 1e-5)-differential privacy per record"));
        } else {
            assert!(g["epsilon"].is_badvalue(), "{card}");
            assert!(card.contains("**None.**"), "{card}");
        }
        assert!(t["measured"].is_null(), "{card}");
        assert!(card.contains("Not evaluated yet."), "{card}");
        assert_eq!(leaks(&card, &f.private()), Vec::<String>::new(), "{card}");
    }
}

#[test]
fn a_private_card_adds_no_count_its_record_withholds() {
    let f = Fixture::new(false);
    f.checkpoint(2, true, false);
    // N as a public constant: run.json has no record or token count of the file.
    let r = f.record(
        "dp-lora",
        "[dp]\ntarget_epsilon = 8.0\ndataset_size = 1000\n[scrub]\nmode = \"mask\"\n",
        json!({"examples": 1000, "dataset_size_source": "config", "tokens_counted": "withheld",
               "tokens_seen": 0,
               "scrub": {"mode": "mask", "spans": "labelled", "records": 0,
                         "spans_replaced": 0, "replaced_by_label": [], "tagger": null,
                         "counts_withheld": true}}),
    );
    let card = card_of(&f, &r, 2);
    let data = &parse(&card)["triad"]["data"];
    let keys: Vec<&str> = data
        .as_hash()
        .unwrap()
        .keys()
        .filter_map(Yaml::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "dataset_size",
            "tokens_counted",
            "max_length",
            "loss_on",
            "scrub"
        ],
        "{card}"
    );
    assert_eq!(data["dataset_size"].as_i64(), Some(1000));
    assert_eq!(data["tokens_counted"].as_str(), Some("withheld"));
    assert!(data["scrub"]["spans_replaced"].is_badvalue(), "{card}");
    assert!(card.contains("- Tokens: not published."), "{card}");
    assert!(card.contains("its counts are withheld"), "{card}");

    // Users only where run.json publishes them; the bound per user only at its own epoch.
    let unit = json!({"unit": "record", "users": 12, "largest_user_records": 3,
                      "user_epsilon_bound": 11.25});
    let r = f.record(
        "dp",
        "[dp]\ntarget_epsilon = 8.0\n",
        json!({"privacy_unit": unit}),
    );
    f.checkpoint(1, false, false);
    let latest = parse(&card_of(&f, &r, 2));
    assert_eq!(latest["triad"]["data"]["users"].as_i64(), Some(12));
    assert_eq!(
        num(&latest["triad"]["guarantee"]["user_epsilon_bound"]),
        11.25
    );
    let earlier_card = card_of(&f, &r, 1);
    let earlier = parse(&earlier_card);
    // The record's totals are the last epoch's: an earlier checkpoint's card leaves them out.
    assert!(earlier["triad"]["data"]["tokens"].is_badvalue());
    assert!(earlier["triad"]["guarantee"]["user_epsilon_bound"].is_badvalue());
    assert_eq!(
        num(&earlier["triad"]["guarantee"]["epsilon"]),
        4.123456789012345
    );
    assert!(earlier_card.contains("after 4 of 8 optimizer steps"));
}

#[test]
fn measurements_splice_in_with_every_digit() {
    let f = Fixture::new(false);
    f.checkpoint(2, false, false);
    let r = f.record("full", "", json!({}));
    let card = Card::new(&r, 2, &f.base, &crate::run::checkpoint_dir(&f.out, 2))
        .unwrap()
        .unwrap();
    let first = Measured {
        privacy_loss: Metric::new(0.1 + 0.2, &[1.5e-7, 0.987654321012345]),
        exposure: Some(Metric::new(12.345678901234567, &[])),
        auc_reference: Some(Metric::new(0.5, &[0.25, 0.75])),
        auc_loss: Some(Metric::new(f64::NAN, &[])),
        utility_nll: None,
        audit: Some(AuditBound {
            epsilon_lower_bound: 1e-17,
            confidence: 0.95,
            delta: 1e-5,
        }),
    };
    let unmeasured = card.render(None);
    let measured = splice_measured(&unmeasured, &first).unwrap();
    assert_eq!(measured, card.render(Some(&first)));
    let m = &parse(&measured)["triad"]["measured"];
    assert_eq!(num(&m["privacy_loss"]["value"]), 0.1 + 0.2);
    let ci = m["privacy_loss"]["ci95"].as_vec().unwrap();
    assert_eq!((num(&ci[0]), num(&ci[1])), (1.5e-7, 0.987654321012345));
    assert_eq!(num(&m["canary_exposure"]["value"]), 12.345678901234567);
    assert!(m["canary_exposure"]["ci95"].is_null());
    assert_eq!(num(&m["membership_auc"]["reference"]["value"]), 0.5);
    assert!(
        m["membership_auc"]["loss"]["value"].is_null(),
        "NaN is null"
    );
    assert!(m["utility_nll"].is_badvalue());
    assert_eq!(num(&m["audit"]["epsilon_lower_bound"]), 1e-17);
    assert!(!measured.contains("Not evaluated yet."));
    assert!(measured.contains("| Privacy loss"), "{measured}");

    // A second evaluation replaces the first; a card Triad did not write is left to render.
    let second = Measured {
        exposure: None,
        audit: None,
        ..first.clone()
    };
    assert_eq!(
        splice_measured(&measured, &second).unwrap(),
        card.render(Some(&second))
    );
    assert_eq!(splice_measured("# My own card\n", &second), None);
    assert_eq!(leaks(&measured, &f.private()), Vec::<String>::new());
}

#[test]
fn the_trainer_writes_the_card_of_the_epoch_it_recorded_and_no_key() {
    let f = Fixture::new(false);
    let key = crate::state::noise_key(&f.out, false).unwrap();
    let mut r = f.record(
        "dp-lora",
        "[lora]\nr = 4\n[dp]\ntarget_epsilon = 8.0\n",
        json!({}),
    );
    // Epoch 1 had no checkpoint: nothing to card.
    r.epochs[0].checkpoint = None;
    r.epochs.truncate(1);
    write_epoch(&f.out, &r).unwrap();
    assert!(!crate::run::checkpoint_dir(&f.out, 1).join(FILE).exists());

    let r = f.record(
        "dp-lora",
        "[lora]\nr = 4\n[dp]\ntarget_epsilon = 8.0\n",
        json!({}),
    );
    let dir = f.checkpoint(2, true, false);
    write_epoch(&f.out, &r).unwrap();
    let text = std::fs::read_to_string(dir.join(FILE)).unwrap();
    assert_eq!(text, card_of(&f, &r, 2));
    let private = Private {
        keys: vec![key.0.to_vec()],
        ..f.private()
    };
    assert_eq!(leaks(&text, &private), Vec::<String>::new(), "{text}");
    // The same card again leaves the file alone; no temp file is left beside it.
    let before = std::fs::metadata(dir.join(FILE))
        .unwrap()
        .modified()
        .unwrap();
    write_epoch(&f.out, &r).unwrap();
    let after = std::fs::metadata(dir.join(FILE))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
}

#[test]
fn a_gemma_card_carries_the_gemma_notice() {
    let f = Fixture::new(true);
    let r = f.record("lora", "", json!({}));
    f.checkpoint(2, true, true);
    let card = card_of(&f, &r, 2);
    let y = parse(&card);
    assert_eq!(y["license"].as_str(), Some("gemma"));
    assert!(card.contains(
        "Gemma is provided under and subject to the Gemma Terms of Use found at \
         ai.google.dev/gemma/terms"
    ));
    assert!(card.contains("A copy of the terms is in `GEMMA_TERMS.html`."));
    std::fs::remove_file(crate::run::checkpoint_dir(&f.out, 2).join(base::GEMMA_TERMS_COPY))
        .unwrap();
    let card = card_of(&f, &r, 2);
    assert!(card.contains("Read the terms at https://ai.google.dev/gemma/terms"));
    assert_eq!(leaks(&card, &f.private()), Vec::<String>::new());
}

#[test]
fn reproducible_noise_is_named_but_its_seed_is_not_given() {
    let f = Fixture::new(false);
    f.checkpoint(2, false, false);
    let r = f.record(
        "dp",
        "[dp]\ntarget_epsilon = 8.0\nreproducible_noise = true\n",
        json!({"secure_rng": false}),
    );
    let card = card_of(&f, &r, 2);
    assert_eq!(
        parse(&card)["triad"]["guarantee"]["noise"].as_str(),
        Some("seed")
    );
    assert!(card.contains("ε assumes the seed stays secret"), "{card}");
    assert_eq!(leaks(&card, &f.private()), Vec::<String>::new(), "{card}");
}

/// A study's splice: into the trainer's card; a missing card rendered whole from run.json; a
/// card that is a link replaced, its target untouched; a folder resolving outside the data
/// root refused.
#[test]
fn a_study_writes_measurements_into_the_card_and_never_through_a_link() {
    let f = Fixture::new(false);
    let r = f.record("full", "", json!({}));
    let dir = f.checkpoint(2, false, false);
    std::fs::write(
        f.out.join("run.json"),
        triad_proto::json::to_file_text(&r.to_message()),
    )
    .unwrap();
    let m = Measured {
        privacy_loss: Metric::new(0.25, &[0.125, 0.375]),
        exposure: None,
        auc_reference: Some(Metric::new(0.625, &[0.5, 0.75])),
        auc_loss: None,
        utility_nll: Some(Metric::new(3.5, &[])),
        audit: None,
    };
    let root = f.tmp.path();
    let want = card_of(&f, &r, 2);
    let want = splice_measured(&want, &m).unwrap();

    // No card yet: rendered from run.json; then nothing left to write.
    assert!(write_measured(root, &f.out, 2, &f.base, &m).unwrap());
    assert_eq!(read(&dir).unwrap().unwrap(), want);
    assert!(!write_measured(root, &f.out, 2, &f.base, &m).unwrap());
    // An epoch without a checkpoint folder: nothing.
    assert!(!write_measured(root, &f.out, 1, &f.base, &m).unwrap());

    // The trainer's unmeasured card: spliced.
    write(&dir, &card_of(&f, &r, 2)).unwrap();
    assert!(write_measured(root, &f.out, 2, &f.base, &m).unwrap());
    assert_eq!(read(&dir).unwrap().unwrap(), want);

    // README.md a link to a file elsewhere: never read or written through.
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("notes.md");
    std::fs::write(
        &target,
        "<!-- triad:measured -->x<!-- end of triad:measured -->",
    )
    .unwrap();
    std::fs::remove_file(dir.join(FILE)).unwrap();
    std::os::unix::fs::symlink(&target, dir.join(FILE)).unwrap();
    assert_eq!(read(&dir).unwrap(), None);
    assert!(write_measured(root, &f.out, 2, &f.base, &m).unwrap());
    assert!(!dir.join(FILE).is_symlink());
    assert_eq!(read(&dir).unwrap().unwrap(), want);
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "<!-- triad:measured -->x<!-- end of triad:measured -->"
    );

    // The checkpoints folder a link out of the data root: refused, nothing written there.
    let elsewhere = outside.path().join("checkpoints/epoch-2");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::remove_dir_all(f.out.join("checkpoints")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("checkpoints"),
        f.out.join("checkpoints"),
    )
    .unwrap();
    let e = write_measured(root, &f.out, 2, &f.base, &m).unwrap_err();
    assert!(e.to_string().contains("outside the data root"), "{e}");
    assert!(!elsewhere.join(FILE).exists());
}

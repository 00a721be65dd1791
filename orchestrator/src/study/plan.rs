//! A study's runs: each method's grid expanded into RUN.toml texts with stable ids.

use super::spec::{axis, parse_scrub, scrub_key, MethodSpec, StudySpec, REDACT_DP};
use super::StudyError;
use std::collections::BTreeMap;
use std::path::Path;
use triad_data::scrub::Scrub;

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRun {
    /// `label-param…-hash`: readable, and changes whenever the RUN.toml does.
    pub id: String,
    /// The model's name ([`Inputs::name`]; empty in a one-model study).
    pub model: String,
    pub label: String,
    pub method: String,
    /// The grid point (`lr`, `epochs`, `r`, `eps`), for reports.
    pub params: BTreeMap<String, String>,
    /// RUN.toml with paths relative to the data root.
    pub run_toml: String,
    pub epochs: u64,
}

/// δ of every DP run of an audited study that sets none, and of every audit of a run without
/// one (full, LoRA, the base): the conventional 1e-5, so all rows state (ε, δ) at one δ.
pub const AUDIT_DELTA: f64 = 1e-5;

/// Where a study's inputs sit, relative to the data root the services see.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The model's name in a study of several (empty when there is one).
    pub name: String,
    pub model: String,
    pub train: String,
    pub test: String,
    pub canaries: Option<String>,
    /// `audit.jsonl`, when the study audits its runs.
    pub audit: Option<String>,
}

fn merge(into: &mut toml::Table, from: &toml::Table) {
    for (k, v) in from {
        match (into.get_mut(k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

fn set(t: &mut toml::Table, path: &[&str], v: toml::Value) {
    let mut cur = t;
    for key in &path[..path.len() - 1] {
        cur = cur
            .entry(key.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()))
            .as_table_mut()
            .expect("table");
    }
    cur.insert(path[path.len() - 1].to_string(), v);
}

/// FNV-1a: a hash that stays the same across Rust versions (ids live in the ledger).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

fn short(x: f64) -> String {
    format!("{x}")
}

/// One grid point of a method (`None`: the axis is absent), and the seed of its repeat.
#[derive(Debug, Clone)]
struct Point {
    lr: Option<f64>,
    eps: Option<f64>,
    epochs: Option<u64>,
    r: Option<i64>,
    /// `Some(None)`: the axis lists `none` here.
    scrub: Option<Option<Scrub>>,
    unit: Option<String>,
    seed: Option<u64>,
}

/// An axis' values, or one `None` when it is absent.
fn values<T>(v: Vec<T>) -> Vec<Option<T>> {
    if v.is_empty() {
        vec![None]
    } else {
        v.into_iter().map(Some).collect()
    }
}

/// Every point of a method's grid, repeated per seed; the seed varies fastest, so the repeats
/// of a point are planned (and run) together.
fn points(m: &MethodSpec, seeds: &[Option<u64>]) -> Vec<Point> {
    let mut out = vec![];
    for lr in values(axis(&m.lr)) {
        for eps in values(axis(&m.target_epsilon)) {
            for epochs in values(axis(&m.epochs)) {
                for r in values(axis(&m.lora_r)) {
                    for scrub in values(axis(&m.scrub)) {
                        // Checked when the spec was read.
                        let scrub = scrub.map(|v| parse_scrub(&v).unwrap_or(None));
                        for unit in values(axis(&m.dp_unit)) {
                            out.extend(seeds.iter().map(|&seed| Point {
                                lr,
                                eps,
                                epochs,
                                r,
                                scrub: scrub.clone(),
                                unit: unit.clone(),
                                seed,
                            }));
                        }
                    }
                }
            }
        }
    }
    out
}

/// The RUN.toml table of one point, and the point's parameters for ids and reports.
fn run_table(
    spec: &StudySpec,
    m: &MethodSpec,
    inputs: &Inputs,
    p: Point,
) -> (toml::Table, BTreeMap<String, String>) {
    let mut t = spec.train.clone();
    merge(&mut t, &m.train);
    let mut params = BTreeMap::new();
    let method = m.method.get_ref().clone();
    let redact = method == REDACT_DP;
    set(
        &mut t,
        &["method"],
        if redact {
            "dp".to_string()
        } else {
            method.clone()
        }
        .into(),
    );
    if let Some(lr) = p.lr {
        set(&mut t, &["optimizer", "lr"], lr.into());
        params.insert("lr".into(), short(lr));
    }
    if let Some(e) = p.eps {
        set(&mut t, &["dp", "target_epsilon"], e.into());
        params.insert("eps".into(), short(e));
    }
    if let Some(ep) = p.epochs {
        set(&mut t, &["epochs"], (ep as i64).into());
        t.remove("steps");
        params.insert("epochs".into(), ep.to_string());
    }
    if let Some(r) = p.r {
        set(&mut t, &["lora", "r"], r.into());
        params.insert("r".into(), r.to_string());
    }
    if let Some(scrub) = p.scrub {
        // Redact-then-DP's scrub is its first phase's; the DP phase reads the original text.
        let at: &[&str] = if redact {
            &["redact", "scrub"]
        } else {
            &["scrub"]
        };
        if let Some(sc) = &scrub {
            set(&mut t, &[at, &["mode"]].concat(), sc.mode.name().into());
            set(&mut t, &[at, &["spans"]].concat(), sc.spans.name().into());
        } else {
            t.remove("scrub");
        }
        params.insert("scrub".into(), scrub_key(&scrub));
    }
    if let Some(unit) = p.unit {
        set(&mut t, &["dp", "unit"], unit.clone().into());
        params.insert("unit".into(), unit);
    }
    // Only with `seeds`: a study without them keeps its RUN.toml texts, hence its run ids.
    if let Some(seed) = p.seed {
        set(&mut t, &["seed"], (seed as i64).into());
        params.insert("seed".into(), seed.to_string());
    }
    if (method.starts_with("dp") || redact) && !t.contains_key("dp") {
        set(&mut t, &["dp", "max_grad_norm"], 1.0.into());
    }
    if let Some(toml::Value::Table(dp)) = t.get_mut("dp") {
        dp.entry("max_grad_norm").or_insert(1.0.into());
        // An audit states its bound at the run's δ, and the study must know it before the
        // run's record exists: audited studies fix δ (unless the spec does).
        if inputs.audit.is_some() {
            dp.entry("delta").or_insert(AUDIT_DELTA.into());
        }
    }
    set(
        &mut t,
        &["checkpoint", "every_epoch"],
        spec.eval.every_epoch.into(),
    );
    set(&mut t, &["model"], inputs.model.clone().into());
    set(&mut t, &["train_file"], inputs.train.clone().into());
    (t, params)
}

/// `label-param…-hash`: the grid point for people, the hash for any other change.
fn run_id(label: &str, params: &BTreeMap<String, String>, run_toml: &str) -> String {
    let point: Vec<String> = params.iter().map(|(k, v)| format!("{k}{v}")).collect();
    format!(
        "{}{}{}-{:06x}",
        label,
        if point.is_empty() { "" } else { "-" },
        point.join("-"),
        fnv1a(run_toml.as_bytes()) & 0xff_ffff
    )
}

/// Expand every method's grid (times `seeds`, when given). RUN.toml = study `[train]` <
/// method `train` < grid point < seed < the study's model and data; each is validated by the
/// trainer's own parser here, so a bad field fails before anything runs.
/// Every method's grid on every model, in spec order (models outermost).
pub fn plan(
    spec: &StudySpec,
    models: &[Inputs],
    path: &Path,
) -> Result<Vec<PlannedRun>, StudyError> {
    let mut runs = vec![];
    for inputs in models {
        runs.extend(plan_model(spec, inputs, path)?);
    }
    Ok(runs)
}

fn plan_model(
    spec: &StudySpec,
    inputs: &Inputs,
    path: &Path,
) -> Result<Vec<PlannedRun>, StudyError> {
    let seeds = values(axis(&spec.seeds));
    let mut runs = vec![];
    for m in &spec.methods {
        for p in points(m, &seeds) {
            let (t, mut params) = run_table(spec, m, inputs, p);
            if !inputs.name.is_empty() {
                // Part of the id, so equal grid points on two models are two runs.
                params.insert("model".into(), inputs.name.clone());
            }
            let run_toml = toml::to_string(&t).expect("toml");
            let cfg = triad_trainer::config::RunConfig::from_toml(
                &run_toml,
                Path::new(&format!("{} (method {})", path.display(), m.label())),
            )
            .map_err(|e| StudyError::Invalid(e.to_string()))?;
            runs.push(PlannedRun {
                id: run_id(&m.label(), &params, &run_toml),
                model: inputs.name.clone(),
                label: m.label(),
                method: m.method.get_ref().clone(),
                params,
                run_toml,
                epochs: cfg.epochs.unwrap_or(1),
            });
        }
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"
name = "s"
[model]
path = "m"
[data]
generate = "customer-support"
[train]
epochs = 1
seed = 7
[[method]]
method = "lora"
lora_r = [4, 8]
lr = [1e-3]
[[method]]
method = "dp"
target_epsilon = [8.0]
lr = [1e-4]
"#;

    fn planned(text: &str) -> Vec<PlannedRun> {
        let path = Path::new("study.toml");
        let spec = StudySpec::parse(text, path).unwrap();
        let inputs = Inputs {
            name: String::new(),
            model: "models/base".into(),
            train: "data/train.jsonl".into(),
            test: "data/test.jsonl".into(),
            canaries: None,
            audit: None,
        };
        plan(&spec, &[inputs], path).unwrap()
    }

    #[test]
    fn every_method_runs_on_every_model_under_distinct_ids() {
        let text = SPEC.replace(
            "[model]\npath = \"m\"\n",
            "[[model]]\nname = \"small\"\npath = \"m\"\n[[model]]\ngguf = \"x/gemma-3.gguf\"\n",
        );
        let path = Path::new("study.toml");
        let spec = StudySpec::parse(&text, path).unwrap();
        let names: Vec<String> = spec.models.all().iter().map(|m| m.display_name()).collect();
        assert_eq!(names, ["small", "gemma-3"]);
        let inputs: Vec<Inputs> = names
            .iter()
            .map(|n| Inputs {
                name: n.clone(),
                model: format!("models/{n}"),
                train: format!("data/{n}/train.jsonl"),
                test: format!("data/{n}/test.jsonl"),
                canaries: None,
                audit: None,
            })
            .collect();
        let runs = plan(&spec, &inputs, path).unwrap();
        let one = planned(SPEC);
        assert_eq!(runs.len(), 2 * one.len());
        let distinct: std::collections::HashSet<&str> = ids(&runs).into_iter().collect();
        assert_eq!(distinct.len(), runs.len());
        for (i, r) in runs.iter().enumerate() {
            let n = &names[i / one.len()];
            assert_eq!((&r.model, &r.params["model"]), (n, n));
            assert!(
                r.run_toml.contains(&format!("models/{n}")),
                "{}",
                r.run_toml
            );
        }
        // Two models under one name are refused, naming the field.
        let twice = text.replace("name = \"small\"\n", "name = \"gemma-3\"\n");
        let e = StudySpec::parse(&twice, path).unwrap_err().to_string();
        assert!(e.contains("model.name") && e.contains("gemma-3"), "{e}");
    }

    /// `dp_unit` is a grid axis of DP methods: each value sets `dp.unit` and is its own run id;
    /// a non-private method with it, or an unknown unit, is refused naming the field.
    #[test]
    fn a_dp_unit_axis_plans_record_and_user_level_runs() {
        let text = SPEC.replace(
            "method = \"dp\"\n",
            "method = \"dp\"\ndp_unit = [\"record\", \"user\"]\n",
        );
        let runs = planned(&text);
        let dp: Vec<&PlannedRun> = runs.iter().filter(|r| r.method == "dp").collect();
        assert_eq!(dp.len(), 2);
        assert_eq!(
            dp.iter()
                .map(|r| r.params["unit"].as_str())
                .collect::<Vec<_>>(),
            ["record", "user"]
        );
        assert!(
            dp[1].run_toml.contains("unit = \"user\""),
            "{}",
            dp[1].run_toml
        );
        assert!(dp[1].id.contains("-unituser-"), "{}", dp[1].id);
        let path = Path::new("s.toml");
        for (bad, what) in [
            ("dp_unit = [\"person\"]", "not record or user"),
            ("dp_unit = [\"user\", \"user\"]", "listed twice"),
        ] {
            let t = SPEC.replace("method = \"dp\"\n", &format!("method = \"dp\"\n{bad}\n"));
            let e = StudySpec::parse(&t, path).unwrap_err().to_string();
            assert!(e.contains("dp_unit") && e.contains(what), "{e}");
        }
        let t = SPEC.replace(
            "method = \"lora\"\n",
            "method = \"lora\"\ndp_unit = [\"user\"]\n",
        );
        let e = StudySpec::parse(&t, path).unwrap_err().to_string();
        assert!(
            e.contains("dp_unit") && e.contains("only DP methods"),
            "{e}"
        );
    }

    /// `scrub` is a grid axis like the others: `none` trains on the file as it is, the other
    /// values add a `[scrub]` table; every value is its own run id.
    #[test]
    fn a_scrub_axis_adds_scrubbed_runs_of_the_same_method() {
        let text = SPEC.replace(
            "method = \"dp\"\n",
            "method = \"dp\"\nscrub = [\"none\", \"mask\", \"mask:tagger\"]\n",
        );
        let runs = planned(&text);
        let dp: Vec<&PlannedRun> = runs.iter().filter(|r| r.method == "dp").collect();
        assert_eq!(dp.len(), 3);
        let keys: Vec<&str> = dp.iter().map(|r| r.params["scrub"].as_str()).collect();
        assert_eq!(keys, ["none", "mask", "mask-tagger"]);
        assert!(!dp[0].run_toml.contains("[scrub]"));
        assert!(dp[1]
            .run_toml
            .contains("[scrub]\nmode = \"mask\"\nspans = \"labelled\""));
        assert!(dp[2]
            .run_toml
            .contains("mode = \"mask\"\nspans = \"tagger\""));
        let distinct: std::collections::HashSet<&str> = ids(&runs).into_iter().collect();
        assert_eq!(distinct.len(), runs.len());
        assert!(
            dp[2].id.starts_with("dp-eps8-lr0.0001-scrubmask-tagger-"),
            "{}",
            dp[2].id
        );
        // A study without the axis keeps its ids.
        assert_eq!(
            ids(&runs
                .iter()
                .filter(|r| r.method == "lora")
                .cloned()
                .collect::<Vec<_>>()),
            ids(&planned(SPEC))[..2]
        );
    }

    fn ids(runs: &[PlannedRun]) -> Vec<&str> {
        runs.iter().map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn seeds_repeat_every_run_under_distinct_ids() {
        let one = planned(SPEC);
        // The ids this spec had before `seeds` existed: a study without them still resumes.
        assert_eq!(
            ids(&one),
            [
                "lora-lr0.001-r4-0142a5",
                "lora-lr0.001-r8-e0fd31",
                "dp-eps8-lr0.0001-0c60f9"
            ]
        );
        let three = planned(&SPEC.replace("name = \"s\"\n", "name = \"s\"\nseeds = [0, 1, 2]\n"));
        assert_eq!(three.len(), 3 * one.len());
        let distinct: std::collections::HashSet<&str> = ids(&three).into_iter().collect();
        assert_eq!(distinct.len(), three.len(), "{:?}", ids(&three));
        for (i, r) in three.iter().enumerate() {
            let seed = (i % 3) as u64;
            let cfg =
                triad_trainer::config::RunConfig::from_toml(&r.run_toml, Path::new("t")).unwrap();
            assert_eq!(cfg.seed, seed, "{}", r.run_toml);
            assert_eq!(r.params["seed"], seed.to_string());
            assert!(r.id.contains(&format!("-seed{seed}-")), "{}", r.id);
            // The same grid point as the run without seeds, seed aside.
            let mut point = r.params.clone();
            point.remove("seed");
            assert_eq!(point, one[i / 3].params);
        }
        // Stable: planning again gives the same ids.
        let again = planned(&SPEC.replace("name = \"s\"\n", "name = \"s\"\nseeds = [0, 1, 2]\n"));
        assert_eq!(ids(&again), ids(&three));
    }
}

//! A study's runs: each method's grid expanded into RUN.toml texts with stable ids.

use super::spec::{axis, StudySpec};
use super::StudyError;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRun {
    /// `label-param…-hash`: readable, and changes whenever the RUN.toml does.
    pub id: String,
    pub label: String,
    pub method: String,
    /// The grid point (`lr`, `epochs`, `r`, `eps`), for reports.
    pub params: BTreeMap<String, String>,
    /// RUN.toml with paths relative to the data root.
    pub run_toml: String,
    pub epochs: u64,
}

/// Where a study's inputs sit, relative to the data root the services see.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub model: String,
    pub train: String,
    pub test: String,
    pub canaries: Option<String>,
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

/// Expand every method's grid. RUN.toml = study `[train]` < method `train` < grid point <
/// the study's model and data; each is validated by the trainer's own parser here, so a bad
/// field fails before anything runs.
pub fn plan(spec: &StudySpec, inputs: &Inputs, path: &Path) -> Result<Vec<PlannedRun>, StudyError> {
    let mut runs = vec![];
    for m in &spec.methods {
        let opt = |v: Vec<f64>| -> Vec<Option<f64>> {
            if v.is_empty() {
                vec![None]
            } else {
                v.into_iter().map(Some).collect()
            }
        };
        let lrs = opt(axis(&m.lr));
        let epss = opt(axis(&m.target_epsilon));
        let epochs: Vec<Option<u64>> = match axis(&m.epochs) {
            v if v.is_empty() => vec![None],
            v => v.into_iter().map(Some).collect(),
        };
        let ranks: Vec<Option<i64>> = match axis(&m.lora_r) {
            v if v.is_empty() => vec![None],
            v => v.into_iter().map(Some).collect(),
        };
        for &lr in &lrs {
            for &eps in &epss {
                for &ep in &epochs {
                    for &r in &ranks {
                        let mut t = spec.train.clone();
                        merge(&mut t, &m.train);
                        let mut params = BTreeMap::new();
                        let method = m.method.get_ref().clone();
                        set(&mut t, &["method"], method.clone().into());
                        if let Some(lr) = lr {
                            set(&mut t, &["optimizer", "lr"], lr.into());
                            params.insert("lr".into(), short(lr));
                        }
                        if let Some(e) = eps {
                            set(&mut t, &["dp", "target_epsilon"], e.into());
                            params.insert("eps".into(), short(e));
                        }
                        if let Some(ep) = ep {
                            set(&mut t, &["epochs"], (ep as i64).into());
                            t.remove("steps");
                            params.insert("epochs".into(), ep.to_string());
                        }
                        if let Some(r) = r {
                            set(&mut t, &["lora", "r"], r.into());
                            params.insert("r".into(), r.to_string());
                        }
                        if method.starts_with("dp") && !t.contains_key("dp") {
                            set(&mut t, &["dp", "max_grad_norm"], 1.0.into());
                        }
                        if let Some(toml::Value::Table(dp)) = t.get_mut("dp") {
                            dp.entry("max_grad_norm").or_insert(1.0.into());
                        }
                        set(
                            &mut t,
                            &["checkpoint", "every_epoch"],
                            spec.eval.every_epoch.into(),
                        );
                        set(&mut t, &["model"], inputs.model.clone().into());
                        set(&mut t, &["train_file"], inputs.train.clone().into());
                        let run_toml = toml::to_string(&t).expect("toml");
                        let cfg = triad_trainer::config::RunConfig::from_toml(
                            &run_toml,
                            Path::new(&format!("{} (method {})", path.display(), m.label())),
                        )
                        .map_err(|e| StudyError::Invalid(e.to_string()))?;
                        let point: Vec<String> =
                            params.iter().map(|(k, v)| format!("{k}{v}")).collect();
                        let id = format!(
                            "{}{}{}-{:06x}",
                            m.label(),
                            if point.is_empty() { "" } else { "-" },
                            point.join("-"),
                            fnv1a(run_toml.as_bytes()) & 0xff_ffff
                        );
                        runs.push(PlannedRun {
                            id,
                            label: m.label(),
                            method,
                            params,
                            run_toml,
                            epochs: cfg.epochs.unwrap_or(1),
                        });
                    }
                }
            }
        }
    }
    Ok(runs)
}

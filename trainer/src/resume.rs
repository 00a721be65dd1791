//! What a resume may trust of an earlier attempt's run.json: nothing it has not checked. The
//! record must describe this very run (same config, same N, q, σ, δ, accountant, noise mode
//! and training file), and its epochs must be the ones this run's schedule gives — so a planted
//! or stale record can neither make a resume account old steps at a new sampling rate nor
//! replay the accountant for ever.

use crate::error::{Result, TrainError};
use crate::run::RunRecord;
use serde_json::Value;
use std::path::Path;

/// Config fields a resume may change: where it runs, and what it keeps on disk.
const MAY_CHANGE: [&str; 2] = ["device", "checkpoint"];

/// Longest quote of a recorded value in an error.
const QUOTE: usize = 120;

/// Refuse to continue `previous` (run.json) as the run `now` describes unless both are the same
/// run: every config field but [`MAY_CHANGE`], and what the privacy accounting assumed.
pub fn same_run(previous: &RunRecord, now: &RunRecord) -> Result<()> {
    let (a, b) = (to_value(&previous.config)?, to_value(&now.config)?);
    if let Some((field, was, is)) = first_difference(&a, &b, "") {
        return Err(refused(&field, &was, &is));
    }
    let opt = |x: Option<f64>| x.map_or(Value::Null, |v| v.into());
    let sha = |x: &Option<String>| x.clone().map_or(Value::Null, Value::String);
    let checks: [(&str, Value, Value); 10] = [
        (
            "train_sha256 (the training file's contents)",
            sha(&previous.train_sha256),
            sha(&now.train_sha256),
        ),
        (
            "base_model_sha256 (the base model's weights)",
            sha(&previous.base_model_sha256),
            sha(&now.base_model_sha256),
        ),
        (
            "examples (N)",
            previous.examples.into(),
            now.examples.into(),
        ),
        (
            "sampling_rate (q)",
            opt(previous.sampling_rate),
            opt(now.sampling_rate),
        ),
        (
            "noise_multiplier (σ)",
            opt(previous.noise_multiplier),
            opt(now.noise_multiplier),
        ),
        ("delta (δ)", opt(previous.delta), opt(now.delta)),
        (
            "accountant",
            previous.accountant.map(|a| a.name()).into(),
            now.accountant.map(|a| a.name()).into(),
        ),
        (
            "max_grad_norm",
            opt(previous.max_grad_norm),
            opt(now.max_grad_norm),
        ),
        (
            "secure_rng (secret noise key)",
            previous.secure_rng.into(),
            now.secure_rng.into(),
        ),
        (
            "total_steps",
            previous.total_steps.into(),
            now.total_steps.into(),
        ),
    ];
    for (field, was, is) in checks {
        if was != is {
            return Err(refused(field, &was, &is));
        }
    }
    Ok(())
}

fn to_value(cfg: &crate::RunConfig) -> Result<Value> {
    serde_json::to_value(cfg).map_err(|e| TrainError::Internal(format!("config to JSON: {e}")))
}

/// The first field (dotted path) where `a` and `b` differ, with both values.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<(String, Value, Value)> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter()
                .filter(|k| !(at.is_empty() && MAY_CHANGE.contains(&k.as_str())))
                .find_map(|k| {
                    let null = Value::Null;
                    let (u, v) = (x.get(k).unwrap_or(&null), y.get(k).unwrap_or(&null));
                    let path = if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    };
                    first_difference(u, v, &path)
                })
        }
        _ if a == b => None,
        _ => Some((at.to_string(), a.clone(), b.clone())),
    }
}

fn quote(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(QUOTE) {
        Some((i, _)) => format!("{}… ({} bytes)", &s[..i], s.len()),
        None => s,
    }
}

fn refused(field: &str, was: &Value, is: &Value) -> TrainError {
    TrainError::Invalid(format!(
        "cannot resume: this run started with `{field}` = {} and would continue with {}; a \
         resumed run must be the run it started as (for DP, the steps taken were accounted at \
         its own q, σ and δ). Set it back, or train into a new folder",
        quote(was),
        quote(is)
    ))
}

/// The schedule of this run, which an earlier attempt's epochs must follow.
pub struct Plan {
    pub steps_per_epoch: u64,
    pub total_steps: u64,
    pub epochs: u64,
}

impl Plan {
    /// Check every epoch record of `previous` (read from `file`) against the schedule.
    pub fn check(&self, previous: &RunRecord, file: &Path) -> Result<()> {
        let mut last_epoch = 0;
        for (i, e) in previous.epochs.iter().enumerate() {
            let expected = e
                .epoch
                .saturating_mul(self.steps_per_epoch)
                .min(self.total_steps);
            let problem = if e.epoch <= last_epoch || e.epoch > self.epochs {
                Some(format!(
                    "epoch {} is out of order or beyond the run's {} epochs",
                    e.epoch, self.epochs
                ))
            } else if e.step != expected {
                Some(format!(
                    "step {} is not the {expected} steps this run has taken by epoch {}",
                    e.step, e.epoch
                ))
            } else {
                None
            };
            if let Some(p) = problem {
                return Err(TrainError::config(
                    file,
                    format!(
                        "field `epochs[{i}]`: {p}; the record does not describe this run \
                         (move the folder away to train from scratch)"
                    ),
                ));
            }
            last_epoch = e.epoch;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::EpochRecord;

    fn record(cfg: &str) -> RunRecord {
        let cfg = crate::RunConfig::from_toml(cfg, Path::new("run.toml")).unwrap();
        let v = serde_json::json!({
            "status": "running", "config": cfg, "method": cfg.method, "device": "Cpu",
            "dtype": "Float", "examples": 64, "total_steps": 16, "steps_done": 8,
            "trainable_parameters": 1, "total_parameters": 1, "tokens_seen": 0,
            "wall_time_s": 0.0, "tokens_per_second": 0.0, "peak_memory_bytes": null,
            "epsilon": 1.0, "accountant": "pld", "delta": 1e-3, "noise_multiplier": 1.1,
            "sampling_rate": 0.125, "max_grad_norm": 1.0, "secure_rng": true,
            "loss_curve": [], "epochs": [], "final_checkpoint": null
        });
        serde_json::from_value(v).unwrap()
    }

    const DP: &str = "model = \"m\"\ntrain_file = \"d.jsonl\"\nmethod = \"dp\"\nepochs = 2\n\
                      [optimizer]\nlr = 1e-4\n[dp]\nnoise_multiplier = 1.1\n";

    #[test]
    fn a_changed_field_is_refused_by_name() {
        let a = record(DP);
        assert!(same_run(&a, &a).is_ok());
        let mut device = record(&DP.replace("epochs = 2", "epochs = 2\ndevice = \"cpu\""));
        device.config.checkpoint.every_epoch = false;
        assert!(
            same_run(&a, &device).is_ok(),
            "device and checkpoint may change"
        );
        for (text, field) in [
            (
                DP.replace("epochs = 2", "epochs = 2\nbatch_size = 16"),
                "`batch_size`",
            ),
            (DP.replace("d.jsonl", "other.jsonl"), "`train_file`"),
            (DP.replace("= 1.1", "= 1.1\ndelta = 1e-6"), "`dp.delta`"),
            (
                DP.replace("= 1.1", "= 1.1\naccountant = \"rdp\""),
                "`dp.accountant`",
            ),
            (
                DP.replace("= 1.1", "= 1.1\nreproducible_noise = true"),
                "reproducible_noise",
            ),
            (DP.replace("= 1.1", "= 1.2"), "`dp.noise_multiplier`"),
        ] {
            let e = same_run(&a, &record(&text)).unwrap_err().to_string();
            assert!(
                e.contains(field) && e.contains("cannot resume"),
                "{field}: {e}"
            );
        }
        // What the record says beside the config: q, σ, N.
        for (field, edit) in [
            (
                "sampling_rate",
                (|r: &mut RunRecord| r.sampling_rate = Some(0.25)) as fn(&mut _),
            ),
            ("noise_multiplier", |r| r.noise_multiplier = Some(0.9)),
            ("examples (N)", |r| r.examples = 65),
            ("accountant", |r| {
                r.accountant = Some(crate::dp::Accountant::Rdp)
            }),
        ] {
            let mut b = record(DP);
            edit(&mut b);
            let e = same_run(&a, &b).unwrap_err().to_string();
            assert!(e.contains(field), "{field}: {e}");
        }
    }

    #[test]
    fn epochs_must_follow_the_schedule() {
        let plan = Plan {
            steps_per_epoch: 8,
            total_steps: 16,
            epochs: 2,
        };
        let epoch = |epoch, step| EpochRecord {
            epoch,
            step,
            mean_loss: None,
            checkpoint: Some("/anywhere".into()),
            epsilon: None,
            epsilon_rdp: None,
            epsilon_pld: None,
        };
        let mut r = record(DP);
        r.epochs = vec![epoch(1, 8), epoch(2, 16)];
        assert!(plan.check(&r, Path::new("run.json")).is_ok());
        for bad in [
            vec![epoch(1, u64::MAX)],
            vec![epoch(1, 7)],
            vec![epoch(3, 16)],
            vec![epoch(1, 8), epoch(1, 8)],
        ] {
            r.epochs = bad;
            let e = plan
                .check(&r, Path::new("run.json"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("run.json") && e.contains("epochs["), "{e}");
        }
    }
}

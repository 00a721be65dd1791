//! The run record as its `triad.v1.RunRecord` message, field by field: every domain value is
//! destructured without `..` and every message built without `..Default::default()`, so a field
//! added on either side and not carried is a compile error (run.json is the message's JSON form).

use super::record::{EpochRecord, LossPoint, RunRecord};
use crate::config::{Checkpoints, DpConfig, LoraConfig, Optimizer, RunConfig, Schedule};
use crate::redact::{PhaseOne, Redact};
use serde::Serialize;
use triad_data::scrub::{Coverage, LabelCount, LabelRecall, Scrub, Stats};
use triad_proto::v1 as pb;

/// An enum as RUN.toml spells it (its serde name: `dp-lora`, `non_sensitive`, `pld`, …).
fn spelling<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        other => unreachable!("a unit enum serialises as a string, not {other:?}"),
    }
}

/// An optional number: a non-finite one is no number (the file writes it as null).
fn opt(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

impl From<&RunRecord> for pb::RunRecord {
    fn from(r: &RunRecord) -> Self {
        let RunRecord {
            status,
            config,
            method,
            device,
            dtype,
            examples,
            total_steps,
            steps_done,
            trainable_parameters,
            total_parameters,
            tokens_seen,
            wall_time_s,
            tokens_per_second,
            peak_memory_bytes,
            peak_device_memory_bytes,
            epsilon,
            accountant,
            epsilon_rdp,
            epsilon_pld,
            delta,
            noise_multiplier,
            sampling_rate,
            max_grad_norm,
            secure_rng,
            dataset_size_source,
            tokens_counted,
            loss_curve,
            epochs,
            final_checkpoint,
            train_sha256,
            base_model_sha256,
            scrub,
            redact,
            privacy_unit,
        } = r;
        pb::RunRecord {
            status: status.clone(),
            config: Some(config.into()),
            method: spelling(method),
            device: device.clone(),
            dtype: dtype.clone(),
            examples: *examples as u64,
            total_steps: *total_steps,
            steps_done: *steps_done,
            trainable_parameters: *trainable_parameters,
            total_parameters: *total_parameters,
            tokens_seen: *tokens_seen,
            wall_time_s: *wall_time_s,
            tokens_per_second: *tokens_per_second,
            peak_memory_bytes: *peak_memory_bytes,
            peak_device_memory_bytes: *peak_device_memory_bytes,
            epsilon: opt(*epsilon),
            accountant: accountant.as_ref().map(spelling),
            epsilon_rdp: opt(*epsilon_rdp),
            epsilon_pld: opt(*epsilon_pld),
            delta: opt(*delta),
            noise_multiplier: opt(*noise_multiplier),
            sampling_rate: opt(*sampling_rate),
            max_grad_norm: opt(*max_grad_norm),
            secure_rng: *secure_rng,
            loss_curve: loss_curve.iter().map(pb::LossPoint::from).collect(),
            epochs: epochs.iter().map(pb::EpochRecord::from).collect(),
            final_checkpoint: final_checkpoint.clone(),
            train_sha256: train_sha256.clone(),
            base_model_sha256: base_model_sha256.clone(),
            dataset_size_source: dataset_size_source.clone(),
            tokens_counted: tokens_counted.clone(),
            scrub: scrub.as_ref().map(scrubbing),
            redact: redact.as_ref().map(phase_one),
            privacy_unit: privacy_unit.as_ref().map(unit_message),
        }
    }
}

fn unit_message(u: &crate::dp::PrivacyUnit) -> pb::PrivacyUnit {
    let crate::dp::PrivacyUnit {
        unit,
        users,
        max_records_per_user,
        largest_user_records,
        user_epsilon_bound,
        group_epsilon,
        group_delta,
    } = u;
    pb::PrivacyUnit {
        unit: spelling(unit),
        users: *users,
        max_records_per_user: *max_records_per_user,
        largest_user_records: *largest_user_records,
        user_epsilon_bound: opt(*user_epsilon_bound),
        group_epsilon: opt(*group_epsilon),
        group_delta: opt(*group_delta),
    }
}

fn phase_one(p: &PhaseOne) -> pb::PhaseOne {
    let PhaseOne {
        method,
        steps,
        wall_time_s,
        mean_loss,
        scrub,
    } = p;
    pb::PhaseOne {
        method: spelling(method),
        steps: *steps,
        wall_time_s: *wall_time_s,
        mean_loss: opt(*mean_loss),
        scrub: scrub.as_ref().map(scrubbing),
    }
}

impl From<&Redact> for pb::RedactConfig {
    fn from(r: &Redact) -> Self {
        let Redact {
            method,
            epochs,
            lr,
            scrub,
            lora,
        } = r;
        pb::RedactConfig {
            method: spelling(method),
            epochs: *epochs,
            lr: *lr,
            scrub: Some(scrub_config(scrub)),
            lora: lora.as_ref().map(pb::LoraConfig::from),
        }
    }
}

/// Functions, not `From`: both types live in other crates.
fn scrubbing(s: &Stats) -> pb::Scrubbing {
    let Stats {
        mode,
        spans,
        records,
        spans_replaced,
        replaced_by_label,
        tagger,
        counts_withheld,
    } = s;
    pb::Scrubbing {
        mode: spelling(mode),
        spans: spelling(spans),
        records: *records,
        spans_replaced: *spans_replaced,
        replaced_by_label: replaced_by_label
            .iter()
            .map(|LabelCount { label, count }| pb::LabelCount {
                label: label.clone(),
                count: *count,
            })
            .collect(),
        tagger: tagger.as_ref().map(coverage),
        counts_withheld: *counts_withheld,
    }
}

fn coverage(c: &Coverage) -> pb::TaggerCoverage {
    let Coverage {
        spans_caught,
        spans_labelled,
        char_recall,
        char_precision,
        by_label,
    } = c;
    pb::TaggerCoverage {
        spans_caught: *spans_caught,
        spans_labelled: *spans_labelled,
        char_recall: *char_recall,
        char_precision: *char_precision,
        by_label: by_label
            .iter()
            .map(
                |LabelRecall {
                     label,
                     caught,
                     total,
                 }| pb::LabelRecall {
                    label: label.clone(),
                    caught: *caught,
                    total: *total,
                },
            )
            .collect(),
    }
}

fn scrub_config(s: &Scrub) -> pb::ScrubConfig {
    let Scrub {
        mode,
        spans,
        labels,
    } = s;
    pb::ScrubConfig {
        mode: spelling(mode),
        spans: spelling(spans),
        labels: labels.clone(),
    }
}

impl From<&LossPoint> for pb::LossPoint {
    fn from(p: &LossPoint) -> Self {
        let LossPoint {
            step,
            epoch,
            loss,
            lr,
        } = *p;
        pb::LossPoint {
            step,
            epoch,
            loss: opt(loss),
            lr,
        }
    }
}

impl From<&EpochRecord> for pb::EpochRecord {
    fn from(e: &EpochRecord) -> Self {
        let EpochRecord {
            epoch,
            step,
            mean_loss,
            checkpoint,
            epsilon,
            epsilon_rdp,
            epsilon_pld,
        } = e;
        pb::EpochRecord {
            epoch: *epoch,
            step: *step,
            mean_loss: opt(*mean_loss),
            checkpoint: checkpoint.clone(),
            epsilon: opt(*epsilon),
            epsilon_rdp: opt(*epsilon_rdp),
            epsilon_pld: opt(*epsilon_pld),
        }
    }
}

impl From<&RunConfig> for pb::RunConfig {
    fn from(c: &RunConfig) -> Self {
        let RunConfig {
            model,
            train_file,
            method,
            seed,
            epochs,
            steps,
            batch_size,
            grad_accum,
            max_length,
            loss_on,
            device,
            dtype,
            optimizer,
            schedule,
            lora,
            dp,
            checkpoint,
            scrub,
            redact,
        } = c;
        pb::RunConfig {
            model: model.to_string_lossy().into_owned(),
            train_file: train_file.to_string_lossy().into_owned(),
            method: spelling(method),
            seed: *seed,
            epochs: *epochs,
            steps: *steps,
            batch_size: *batch_size as u64,
            grad_accum: *grad_accum as u64,
            max_length: *max_length as u64,
            loss_on: spelling(loss_on),
            device: device.clone(),
            dtype: dtype.clone(),
            optimizer: Some(optimizer.into()),
            schedule: Some(schedule.into()),
            lora: lora.as_ref().map(pb::LoraConfig::from),
            dp: dp.as_ref().map(pb::DpConfig::from),
            checkpoint: Some(checkpoint.into()),
            scrub: scrub.as_ref().map(scrub_config),
            redact: redact.as_ref().map(pb::RedactConfig::from),
        }
    }
}

impl From<&Optimizer> for pb::OptimizerConfig {
    fn from(o: &Optimizer) -> Self {
        let Optimizer {
            name,
            lr,
            weight_decay,
            betas,
            eps,
            momentum,
        } = o;
        pb::OptimizerConfig {
            name: spelling(name),
            lr: *lr,
            weight_decay: *weight_decay,
            betas: betas.to_vec(),
            eps: *eps,
            momentum: *momentum,
        }
    }
}

impl From<&Schedule> for pb::ScheduleConfig {
    fn from(s: &Schedule) -> Self {
        let Schedule {
            warmup_steps,
            decay,
        } = s;
        pb::ScheduleConfig {
            warmup_steps: *warmup_steps,
            decay: spelling(decay),
        }
    }
}

impl From<&LoraConfig> for pb::LoraConfig {
    fn from(l: &LoraConfig) -> Self {
        let LoraConfig {
            r,
            alpha,
            dropout,
            target_modules,
            use_rslora,
        } = l;
        pb::LoraConfig {
            r: *r,
            alpha: *alpha,
            dropout: *dropout,
            target_modules: target_modules.clone(),
            use_rslora: *use_rslora,
        }
    }
}

impl From<&DpConfig> for pb::DpConfig {
    fn from(d: &DpConfig) -> Self {
        let DpConfig {
            max_grad_norm,
            noise_multiplier,
            target_epsilon,
            delta,
            secure_rng,
            reproducible_noise,
            dataset_size,
            accountant,
            unit,
            max_records_per_user,
        } = d;
        pb::DpConfig {
            max_grad_norm: *max_grad_norm,
            noise_multiplier: opt(*noise_multiplier),
            target_epsilon: opt(*target_epsilon),
            delta: opt(*delta),
            secure_rng: *secure_rng,
            accountant: spelling(accountant),
            reproducible_noise: *reproducible_noise,
            dataset_size: *dataset_size,
            unit: spelling(unit),
            max_records_per_user: max_records_per_user.map(|k| k as u64),
        }
    }
}

impl From<&Checkpoints> for pb::CheckpointConfig {
    fn from(c: &Checkpoints) -> Self {
        let Checkpoints {
            every_epoch,
            keep_optimizer_state,
        } = *c;
        pb::CheckpointConfig {
            every_epoch,
            keep_optimizer_state,
        }
    }
}

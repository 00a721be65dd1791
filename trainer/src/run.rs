//! One training run: load, train, checkpoint every epoch, write `run.json`; resumes from the
//! last checkpoint when its output folder already holds an unfinished run.

use crate::config::{Method, RunConfig};
use crate::data::{self, Example};
use crate::error::{Result, TrainError};
use crate::optim::{lr_at, Optimizer};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use triad_data::tokenizer::Tokenizer;
use triad_lm::device::{parse_device, resolve_kind};
use triad_lm::tch::{self, Device, Kind, Tensor};
use triad_lm::weights::{RawTensor, Weights};
use triad_lm::CausalLm;

/// What a run reports while it goes.
#[derive(Debug, Clone)]
pub enum Event {
    Started {
        total_steps: u64,
        examples: usize,
        trainable_parameters: i64,
    },
    Step {
        step: u64,
        total_steps: u64,
        epoch: u64,
        loss: f64,
        lr: f64,
        tokens_per_second: f64,
        epsilon: f64,
    },
    Checkpoint {
        epoch: u64,
        path: PathBuf,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LossPoint {
    pub step: u64,
    pub epoch: u64,
    /// Mean loss of the step's batch; `None` when a DP step's Poisson sample was empty (the
    /// update was noise alone).
    pub loss: Option<f64>,
    pub lr: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: u64,
    pub step: u64,
    /// Mean of the epoch's step losses; `None` when no step had a batch (DP: every Poisson
    /// sample empty). Never NaN: JSON has no NaN, and run.json must read back on resume.
    #[serde(default)]
    pub mean_loss: Option<f64>,
    pub checkpoint: Option<String>,
    pub epsilon: Option<f64>,
    /// ε at this epoch under each accountant (DP runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon_rdp: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon_pld: Option<f64>,
}

/// `run.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub status: String,
    pub config: RunConfig,
    pub method: Method,
    pub device: String,
    pub dtype: String,
    pub examples: usize,
    pub total_steps: u64,
    pub steps_done: u64,
    pub trainable_parameters: i64,
    pub total_parameters: i64,
    pub tokens_seen: u64,
    pub wall_time_s: f64,
    pub tokens_per_second: f64,
    /// Peak resident memory of the process (RSS high-water mark).
    pub peak_memory_bytes: Option<u64>,
    /// Peak bytes allocated by libtorch's CUDA allocator (on CUDA only).
    #[serde(default)]
    pub peak_device_memory_bytes: Option<u64>,
    /// ε spent, by `accountant`.
    pub epsilon: Option<f64>,
    /// The accountant of `epsilon` and of the σ search (`dp.accountant`).
    #[serde(default)]
    pub accountant: Option<crate::dp::Accountant>,
    /// ε under each accountant at the last epoch's end (the same steps, σ and q).
    #[serde(default)]
    pub epsilon_rdp: Option<f64>,
    #[serde(default)]
    pub epsilon_pld: Option<f64>,
    pub delta: Option<f64>,
    pub noise_multiplier: Option<f64>,
    pub sampling_rate: Option<f64>,
    pub max_grad_norm: Option<f64>,
    /// Whether the noise was seeded from the OS CSPRNG (`dp.secure_rng`).
    #[serde(default)]
    pub secure_rng: bool,
    pub loss_curve: Vec<LossPoint>,
    pub epochs: Vec<EpochRecord>,
    pub final_checkpoint: Option<String>,
}

fn write_record(out: &Path, r: &RunRecord) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(r).expect("serialisable");
    Ok(triad_data::fsutil::write_atomic(
        out.join("run.json"),
        &bytes,
    )?)
}

fn checkpoint_dir(out: &Path, epoch: u64) -> PathBuf {
    out.join("checkpoints").join(format!("epoch-{epoch}"))
}

/// Train as `cfg` says, writing into `out`. `cancel` stops the run between steps.
pub fn train(
    cfg: &RunConfig,
    out: &Path,
    cancel: Option<&AtomicBool>,
    mut on_event: impl FnMut(&Event),
) -> Result<RunRecord> {
    let _span = tracing::info_span!("run", out = %out.display(), method = ?cfg.method).entered();
    std::fs::create_dir_all(out).map_err(|e| TrainError::io(out, e))?;
    let previous = previous_record(out)?;
    if let Some(p) = &previous {
        if p.status == "completed" {
            tracing::info!("run already completed; nothing to do");
            return Ok(p.clone());
        }
    }
    let device = parse_device(&cfg.device)?;
    // Peaks per run, so a service's second run reports its own.
    crate::memory::reset_peaks(device);
    let kind = resolve_kind(&cfg.dtype).ok_or_else(|| {
        TrainError::Invalid(format!("dtype `{}`: expected auto, f32 or bf16", cfg.dtype))
    })?;
    let tok = Tokenizer::from_file(cfg.model.join("tokenizer.json"))?;
    let examples = data::load(&cfg.train_file, &tok, cfg.max_length, cfg.loss_on)?;
    tch::manual_seed(cfg.seed as i64);
    let mut model = CausalLm::load(&cfg.model, kind, device)?;
    let lora_cfg = cfg.lora_config();
    let named = crate::lora::trainable(&mut model, cfg.method, &lora_cfg, cfg.seed)?;
    let params: Vec<Tensor> = named.iter().map(|(_, t)| t.shallow_clone()).collect();
    let trainable: i64 = params.iter().map(|p| p.numel() as i64).sum();
    let total_params = model.num_parameters() + if cfg.method.uses_lora() { trainable } else { 0 };

    let batches_per_epoch = examples.len().div_ceil(cfg.batch_size) as u64;
    let steps_per_epoch = if cfg.method.is_private() {
        // Poisson sampling at q = batch_size / N: an epoch is 1/q steps in expectation.
        ((examples.len() as f64 / cfg.batch_size as f64).round() as u64).max(1)
    } else {
        batches_per_epoch.div_ceil(cfg.grad_accum as u64)
    };
    let total_steps = cfg
        .steps
        .unwrap_or(steps_per_epoch * cfg.epochs.unwrap_or(1));
    let epochs = total_steps.div_ceil(steps_per_epoch);
    let private = match (&cfg.dp, cfg.method.is_private()) {
        (Some(dp), true) => Some(crate::dp::plan::Private::new(
            dp,
            cfg.batch_size,
            examples.len(),
            total_steps,
            &|| cancel.is_some_and(|c| c.load(Ordering::Relaxed)),
        )?),
        _ => None,
    };
    let mut budget = private.as_ref().map(|p| {
        let kind = cfg.dp.as_ref().map(|d| d.accountant).unwrap_or_default();
        crate::dp::Budget::new(kind, p.delta)
    });
    if let Some(p) = &private {
        tracing::info!(
            sigma = p.sigma,
            q = p.q,
            delta = p.delta,
            steps = total_steps,
            "DP-SGD"
        );
    }
    let mut opt = Optimizer::new(cfg.optimizer.clone(), params);
    let secure = cfg.method.is_private() && cfg.dp.as_ref().is_some_and(|d| d.secure_rng);
    let rng = crate::rng::StepRng::new(cfg.seed, secure);

    let mut record = RunRecord {
        status: "running".into(),
        config: cfg.clone(),
        method: cfg.method,
        device: format!("{device:?}"),
        dtype: format!("{kind:?}"),
        examples: examples.len(),
        total_steps,
        steps_done: 0,
        trainable_parameters: trainable,
        total_parameters: total_params,
        tokens_seen: 0,
        wall_time_s: 0.0,
        tokens_per_second: 0.0,
        peak_memory_bytes: None,
        peak_device_memory_bytes: None,
        epsilon: None,
        accountant: private
            .as_ref()
            .map(|_| cfg.dp.as_ref().map(|d| d.accountant).unwrap_or_default()),
        epsilon_rdp: None,
        epsilon_pld: None,
        delta: private.as_ref().map(|p| p.delta),
        noise_multiplier: private.as_ref().map(|p| p.sigma),
        sampling_rate: private.as_ref().map(|p| p.q),
        max_grad_norm: private.as_ref().map(|p| p.max_grad_norm),
        secure_rng: rng.secure(),
        loss_curve: vec![],
        epochs: vec![],
        final_checkpoint: None,
    };
    let mut first_epoch = 1;
    if let Some(p) = previous.filter(|p| !p.epochs.is_empty()) {
        same_privacy(&p, &record)?;
        let last = p.epochs.last().expect("non-empty").clone();
        if let Some(ckpt) = &last.checkpoint {
            resume(&mut model, &mut opt, cfg.method, Path::new(ckpt), device)?;
            tracing::info!(
                epoch = last.epoch,
                step = last.step,
                "resuming from checkpoint"
            );
            first_epoch = last.epoch + 1;
            record.steps_done = last.step;
            record.loss_curve = p
                .loss_curve
                .into_iter()
                .filter(|l| l.step <= last.step)
                .collect();
            record.epochs = p.epochs;
            record.tokens_seen = p.tokens_seen;
            record.wall_time_s = p.wall_time_s;
            if let (Some(pr), Some(b)) = (&private, budget.as_mut()) {
                for _ in 0..last.step {
                    b.step(pr.sigma, pr.q);
                }
                record.epsilon = Some(b.epsilon());
            }
        }
    }
    on_event(&Event::Started {
        total_steps,
        examples: examples.len(),
        trainable_parameters: trainable,
    });

    let started = Instant::now();
    let wall_before = record.wall_time_s;
    let tokens_before = record.tokens_seen;
    model.set_training(true);
    for epoch in first_epoch..=epochs {
        // Non-private: shuffled fixed batches, `grad_accum` per step. Private: every step draws
        // its own Poisson sample, so an "epoch" is just `steps_per_epoch` steps.
        let groups: Vec<Vec<Vec<&Example>>> = if private.is_some() {
            (0..steps_per_epoch).map(|_| vec![]).collect()
        } else {
            let order = data::epoch_order(examples.len(), cfg.seed, epoch);
            let batches: Vec<Vec<&Example>> = order
                .chunks(cfg.batch_size)
                .map(|c| c.iter().map(|&i| &examples[i]).collect())
                .collect();
            batches.chunks(cfg.grad_accum).map(|g| g.to_vec()).collect()
        };
        let mut epoch_losses = vec![];
        for group in &groups {
            if record.steps_done >= total_steps {
                break;
            }
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                record.status = "cancelled".into();
                // Progress may show a PLD ε a few steps old; the record gets the exact one.
                if let Some(b) = &budget {
                    let (rdp, pld) = b.both();
                    (record.epsilon_rdp, record.epsilon_pld) = (Some(rdp), Some(pld));
                    record.epsilon = Some(b.epsilon());
                }
                write_record(out, &record)?;
                return Err(TrainError::Cancelled);
            }
            let lr = lr_at(
                cfg.optimizer.lr,
                &cfg.schedule,
                record.steps_done,
                total_steps,
            );
            // Every draw of this step (noise, sample, dropout) comes from this step's streams.
            let sample_seed = rng.begin_step(record.steps_done)?;
            let (loss_sum, grads) = match &private {
                None => nonprivate_step(&model, &opt, group, device, &mut record.tokens_seen),
                Some(p) => {
                    let sample = p.sample(&examples, sample_seed);
                    let r =
                        private_step(&model, &named, &sample, p, device, &mut record.tokens_seen);
                    if let Some(b) = budget.as_mut() {
                        b.step(p.sigma, p.q);
                    }
                    r
                }
            };
            opt.apply(&grads, lr);
            let epsilon = budget.as_mut().map(|b| b.epsilon_for_progress());
            record.epsilon = epsilon;
            record.steps_done += 1;
            let loss = Some(loss_sum).filter(|l| !l.is_nan());
            epoch_losses.extend(loss);
            record.loss_curve.push(LossPoint {
                step: record.steps_done,
                epoch,
                loss,
                lr,
            });
            let elapsed = wall_before + started.elapsed().as_secs_f64();
            on_event(&Event::Step {
                step: record.steps_done,
                total_steps,
                epoch,
                loss: loss_sum,
                lr,
                tokens_per_second: (record.tokens_seen - tokens_before) as f64
                    / started.elapsed().as_secs_f64(),
                epsilon: epsilon.unwrap_or(0.0),
            });
            record.wall_time_s = elapsed;
        }
        let last = epoch == epochs || record.steps_done >= total_steps;
        let checkpoint = if cfg.checkpoint.every_epoch || last {
            let dir = checkpoint_dir(out, epoch);
            model.set_training(false);
            crate::checkpoint::write(&model, cfg.method, &lora_cfg, &cfg.model, &dir, |tmp| {
                save_optimizer(&opt, tmp)
            })?;
            model.set_training(true);
            on_event(&Event::Checkpoint {
                epoch,
                path: dir.clone(),
            });
            Some(dir.to_string_lossy().into_owned())
        } else {
            None
        };
        if let Some(b) = &budget {
            let (rdp, pld) = b.both();
            (record.epsilon_rdp, record.epsilon_pld) = (Some(rdp), Some(pld));
            // Exact at every epoch end (progress may show a value a few steps old).
            record.epsilon = Some(match b.kind() {
                crate::dp::Accountant::Pld => pld,
                crate::dp::Accountant::Rdp => rdp,
            });
        }
        record.epochs.push(EpochRecord {
            epoch,
            step: record.steps_done,
            mean_loss: (!epoch_losses.is_empty())
                .then(|| epoch_losses.iter().sum::<f64>() / epoch_losses.len() as f64),
            checkpoint: checkpoint.clone(),
            epsilon: record.epsilon,
            epsilon_rdp: record.epsilon_rdp,
            epsilon_pld: record.epsilon_pld,
        });
        record.final_checkpoint = checkpoint.or(record.final_checkpoint.take());
        record.wall_time_s = wall_before + started.elapsed().as_secs_f64();
        record.tokens_per_second = record.tokens_seen as f64 / record.wall_time_s.max(1e-9);
        record.peak_memory_bytes = crate::memory::peak_rss_bytes();
        record.peak_device_memory_bytes = crate::memory::peak_device_bytes(device);
        write_record(out, &record)?;
        if !cfg.checkpoint.keep_optimizer_state {
            // run.json now names the newest checkpoint, the only one a resume reads.
            let newest = record.final_checkpoint.clone();
            prune_optimizer_state(&record, newest.as_deref());
        }
        if last {
            break;
        }
    }
    record.status = "completed".into();
    write_record(out, &record)?;
    if !cfg.checkpoint.keep_optimizer_state {
        prune_optimizer_state(&record, None);
    }
    Ok(record)
}

/// The record of an earlier attempt at this run, if any. One that does not parse is an error:
/// starting over would forget the steps it took (for DP, privacy already spent).
fn previous_record(out: &Path) -> Result<Option<RunRecord>> {
    let path = out.join("run.json");
    match std::fs::read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TrainError::io(&path, e)),
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            TrainError::config(
                path,
                format!(
                    "the record of an earlier attempt does not parse ({e}); move the folder \
                     away to train from scratch"
                ),
            )
        }),
    }
}

/// Remove `optimizer.safetensors` from the run's checkpoints except `keep`. A failure costs
/// only disk space, so it is logged, not raised.
fn prune_optimizer_state(record: &RunRecord, keep: Option<&str>) {
    for c in record.epochs.iter().filter_map(|e| e.checkpoint.as_deref()) {
        if Some(c) == keep {
            continue;
        }
        let file = Path::new(c).join("optimizer.safetensors");
        match std::fs::remove_file(&file) {
            Ok(()) => tracing::debug!(file = %file.display(), "optimizer state pruned"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(file = %file.display(), "could not prune optimizer state: {e}")
            }
        }
    }
}

/// Optimizer moments and step, next to the checkpoint (HF and PEFT ignore the extra file).
fn save_optimizer(opt: &Optimizer, dir: &Path) -> Result<()> {
    let mut t = std::collections::BTreeMap::new();
    for (k, (m, v)) in opt.moments().enumerate() {
        t.insert(format!("m.{k}"), RawTensor::from_tensor(m)?);
        if let Some(v) = v {
            t.insert(format!("v.{k}"), RawTensor::from_tensor(v)?);
        }
    }
    t.insert("step".into(), RawTensor::f32(vec![1], &[opt.step as f32]));
    triad_lm::weights::write_safetensors(&dir.join("optimizer.safetensors"), &t)?;
    Ok(())
}

fn resume(
    model: &mut CausalLm,
    opt: &mut Optimizer,
    method: Method,
    dir: &Path,
    device: Device,
) -> Result<()> {
    let kind = model.kind();
    tch::no_grad(|| -> Result<()> {
        if method.uses_lora() {
            let file = dir.join("adapter_model.safetensors");
            let mut w = Weights::empty(&file);
            w.extend_from_file(&file, kind, device, "base_model.model.")?;
            for lin in model.linears_mut() {
                if let Some(l) = &mut lin.lora {
                    let a = w.take(&format!("{}.lora_A.weight", lin.name), &l.a.size())?;
                    let b = w.take(&format!("{}.lora_B.weight", lin.name), &l.b.size())?;
                    l.a.copy_(&a);
                    l.b.copy_(&b);
                }
            }
        } else {
            let mut w = Weights::load_dir(dir, kind, device)?;
            for (name, p) in model.named_parameters() {
                let mut p = p.shallow_clone();
                p.copy_(&w.take(name, &p.size())?);
            }
        }
        let file = dir.join("optimizer.safetensors");
        let mut w = Weights::empty(&file);
        w.extend_from_file(&file, Kind::Float, device, "")?;
        let step = w.take("step", &[1])?.double_value(&[0]) as u64;
        opt.load_moments(&mut w, step)
    })
}

/// A resumed DP run must keep the noise and accountant it started with: the replayed steps are
/// accounted at today's σ, which would misstate ε if a changed default (the PLD accountant finds
/// a smaller σ for the same target) gave another one.
fn same_privacy(previous: &RunRecord, now: &RunRecord) -> Result<()> {
    // Records written before `accountant` existed were RDP's; σ tells them apart.
    let differs = previous.noise_multiplier.map(f64::to_bits)
        != now.noise_multiplier.map(f64::to_bits)
        || previous.accountant.is_some() && previous.accountant != now.accountant;
    if differs && previous.noise_multiplier.is_some() {
        return Err(TrainError::Invalid(format!(
            "this run started with accountant {} and σ = {} and would resume with {} and σ = {}; \
             set dp.accountant (and dp.noise_multiplier) as it started, or train into a new folder",
            previous.accountant.map_or("?", |a| a.name()),
            previous
                .noise_multiplier
                .map_or("?".into(), |s| s.to_string()),
            now.accountant.map_or("none", |a| a.name()),
            now.noise_multiplier
                .map_or("none".into(), |s| s.to_string()),
        )));
    }
    Ok(())
}

/// One non-private step over `group` (gradient accumulation); returns (mean loss, gradients).
fn nonprivate_step(
    model: &CausalLm,
    opt: &Optimizer,
    group: &[Vec<&Example>],
    device: Device,
    tokens: &mut u64,
) -> (f64, Vec<Tensor>) {
    let targets: usize = group
        .iter()
        .flatten()
        .map(|e| e.target.iter().filter(|&&t| t).count())
        .sum();
    let mut loss_sum = 0.0;
    for micro in group.iter().flat_map(|m| data::length_groups(m)) {
        let batch = data::collate(&micro, device);
        let logits = crate::amp::maybe_autocast(device, || model.forward(&batch.ids, None, None));
        let losses = data::token_losses(&logits, &batch.ids);
        let loss = (losses * &batch.mask).sum(Kind::Float) / targets.max(1) as f64;
        loss.backward();
        loss_sum += loss.double_value(&[]);
        *tokens += batch.tokens as u64;
    }
    let grads = opt
        .params()
        .iter()
        .map(|p| {
            let mut g = p.grad();
            if g.defined() {
                let out = g.copy();
                let _ = g.zero_();
                out
            } else {
                p.zeros_like()
            }
        })
        .collect();
    (loss_sum, grads)
}

/// One DP-SGD step on a Poisson sample: clipped per-example gradients, summed, noised, divided
/// by the expected batch size. Returns (mean per-example loss, gradients in `named` order).
fn private_step(
    model: &CausalLm,
    named: &[(String, Tensor)],
    sample: &[&Example],
    p: &crate::dp::plan::Private,
    device: Device,
    tokens: &mut u64,
) -> (f64, Vec<Tensor>) {
    let (sums, loss) = if sample.is_empty() {
        let zeros = named
            .iter()
            .map(|(n, t)| (n.clone(), t.zeros_like().to_kind(Kind::Float)))
            .collect();
        (zeros, f64::NAN)
    } else {
        // Clipping is per example, so summing the groups' clipped sums is the sample's.
        let (mut sums, mut loss) = (std::collections::BTreeMap::new(), 0.0);
        for group in data::length_groups(sample) {
            let batch = data::collate(&group, device);
            *tokens += batch.tokens as u64;
            let c = crate::dp::step::clipped_gradient(model, &batch, named, p.max_grad_norm);
            loss += c.loss * group.len() as f64 / sample.len() as f64;
            for (name, g) in c.sums {
                match sums.get_mut(&name) {
                    Some(acc) => *acc += g,
                    None => {
                        sums.insert(name, g);
                    }
                }
            }
        }
        (sums, loss)
    };
    let noisy = crate::dp::step::privatise(&sums, p.sigma, p.max_grad_norm, p.q * p.n as f64);
    let grads = named
        .iter()
        .map(|(n, t)| {
            noisy
                .get(n)
                .map(|g| g.shallow_clone())
                .unwrap_or_else(|| t.zeros_like())
        })
        .collect();
    (loss, grads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_without_a_batch_reads_back_and_a_broken_record_stops_the_run() {
        let e = EpochRecord {
            epoch: 1,
            step: 2,
            mean_loss: None,
            checkpoint: None,
            epsilon: Some(1.0),
            epsilon_rdp: None,
            epsilon_pld: None,
        };
        let json = serde_json::to_string(&e).unwrap();
        // Written as null (as a NaN mean was before), read back as no mean.
        assert!(json.contains("\"mean_loss\":null"), "{json}");
        let back: EpochRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back.mean_loss, None);

        let dir = tempfile::tempdir().unwrap();
        assert!(previous_record(dir.path()).unwrap().is_none());
        std::fs::write(dir.path().join("run.json"), "{\"status\": \"running\"").unwrap();
        let err = previous_record(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("run.json") && err.contains("does not parse"),
            "{err}"
        );
    }
}

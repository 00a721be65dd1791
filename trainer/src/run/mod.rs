//! One training run: load, train, checkpoint every epoch, write `run.json`; resumes from the
//! last checkpoint when its output folder already holds an unfinished run.

use crate::config::RunConfig;
use crate::data::{self, Example};
use crate::error::{Result, TrainError};
use crate::optim::{lr_at, Optimizer};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use triad_data::tokenizer::Tokenizer;
use triad_lm::device::{parse_device, resolve_kind};
use triad_lm::tch::{self, Device, Tensor};
use triad_lm::CausalLm;

mod message;
mod record;
mod restore;
mod step;

use record::write_record;
pub(crate) use record::{previous_record, read_bounded};
pub use record::{EpochRecord, LossPoint, RunRecord};
use restore::{prune_optimizer_state, resume, save_optimizer};
pub(crate) use step::zero_grads;
use step::{nonprivate_step, private_step, private_user_step};

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
        /// The step's mean loss; `None` for private runs (an unnoised statistic of the sample).
        loss: Option<f64>,
        lr: f64,
        tokens_per_second: f64,
        epsilon: f64,
    },
    /// A checkpoint written, with what an evaluation of it needs before run.json says it.
    Checkpoint {
        epoch: u64,
        path: PathBuf,
        /// Tokens of each record trained on (`max_length`).
        max_length: usize,
        /// The run's δ (private runs).
        delta: Option<f64>,
    },
}

pub(crate) fn checkpoint_dir(out: &Path, epoch: u64) -> PathBuf {
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
    let _lock = crate::lock::RunLock::acquire(out)?;
    let previous = previous_record(out)?;
    let stop = || cancel.is_some_and(|c| c.load(Ordering::Relaxed));
    let resuming = previous
        .as_ref()
        .and_then(|p| p.epochs.last())
        .is_some_and(|e| e.checkpoint.is_some());
    // Redact-then-DP: phase 1 first (done, resumed or run); this run starts from its weights.
    // A completed run needs no phase 1 (its record is checked against the config below).
    let done = previous.as_ref().is_some_and(|p| p.status == "completed");
    let (weights, phase_one) = match &cfg.redact {
        Some(r) if !done => {
            let (w, p) = crate::redact::run_phase_one(r, cfg, out, cancel, &mut on_event)?;
            (w, Some(p))
        }
        Some(_) => (
            cfg.model.clone(),
            previous.as_ref().and_then(|p| p.redact.clone()),
        ),
        None => (cfg.model.clone(), None),
    };
    let (examples, mut run) = Run::prepare(cfg, &weights, out, resuming, &stop)?;
    run.record.redact = phase_one;
    if let Some(p) = &previous {
        crate::resume::same_run(p, &run.record)?;
        if p.status == "completed" {
            tracing::info!("run already completed; nothing to do");
            return Ok(p.clone());
        }
    }
    let first_epoch = match previous.filter(|p| !p.epochs.is_empty()) {
        Some(p) => run.restore(p)?,
        None => 1,
    };
    on_event(&Event::Started {
        total_steps: run.total_steps,
        examples: run.record.examples, // N as published (dp.dataset_size when set)
        trainable_parameters: run.record.trainable_parameters,
    });
    let clock = Clock {
        started: Instant::now(),
        wall_before: run.record.wall_time_s,
        tokens_before: run.record.tokens_seen,
    };
    run.model.set_training(true);
    for epoch in first_epoch..=run.epochs {
        let epoch_losses = run.run_epoch(&examples, epoch, &clock, &stop, &mut on_event)?;
        if run.end_epoch(epoch, &epoch_losses, &clock, &mut on_event)? {
            break;
        }
    }
    run.record.status = "completed".into();
    write_record(out, &run.record)?;
    crate::state::forget_key(out);
    if !cfg.checkpoint.keep_optimizer_state {
        prune_optimizer_state(out, &run.record, None);
    }
    Ok(run.record)
}

/// When this attempt started, and what earlier attempts had done (for rates and wall time).
struct Clock {
    started: Instant,
    wall_before: f64,
    tokens_before: u64,
}

/// A run under way: the model, its optimizer, the DP plan and accountant, and the record.
struct Run<'a> {
    cfg: &'a RunConfig,
    out: &'a Path,
    device: Device,
    model: CausalLm,
    lora_cfg: crate::config::LoraConfig,
    named: Vec<(String, Tensor)>,
    opt: Optimizer,
    private: Option<crate::dp::plan::Private>,
    budget: Option<crate::dp::Budget>,
    rng: crate::rng::StepRng,
    steps_per_epoch: u64,
    total_steps: u64,
    epochs: u64,
    /// Tokens of the whole training file (a private run publishes the expected count).
    file_tokens: u64,
    record: RunRecord,
}

/// The accountant and the budget of a private run (logging its plan); `None` otherwise.
fn budget_for(
    cfg: &RunConfig,
    private: Option<&crate::dp::plan::Private>,
    total_steps: u64,
) -> (Option<crate::dp::Accountant>, Option<crate::dp::Budget>) {
    let Some(p) = private else {
        return (None, None);
    };
    let accountant = cfg.dp.as_ref().map(|d| d.accountant).unwrap_or_default();
    tracing::info!(
        sigma = p.sigma,
        q = p.q,
        delta = p.delta,
        steps = total_steps,
        "DP-SGD"
    );
    (
        Some(accountant),
        Some(crate::dp::Budget::new(accountant, p.delta)),
    )
}

/// The training examples (scrubbed when the run asks), and what the scrub did as the run may
/// publish it: counts of the data without noise would undo a per-record ε, so a private run
/// withholds them.
fn load_examples(cfg: &RunConfig) -> Result<(Vec<Example>, Option<triad_data::scrub::Stats>)> {
    let tok = Tokenizer::from_file(cfg.model.join("tokenizer.json"))?;
    let scrub = cfg.scrub.as_ref().map(|s| (s, cfg.seed));
    let (examples, scrubbed) =
        data::load(&cfg.train_file, &tok, cfg.max_length, cfg.loss_on, scrub)?;
    let private = cfg.method.is_private();
    Ok((
        examples,
        scrubbed.map(|s| if private { s.withheld() } else { s }),
    ))
}

/// What a private run's ε is per, with the user counts it may publish: none when
/// `dp.dataset_size` keeps the data's counts private.
fn privacy_unit(
    dp: &crate::config::DpConfig,
    users: &triad_data::users::Users,
) -> crate::dp::PrivacyUnit {
    let public = dp.dataset_size.is_none();
    let record_level_with_users = dp.unit == crate::dp::Unit::Record && users.named && public;
    crate::dp::PrivacyUnit {
        unit: dp.unit,
        users: (public && (users.named || dp.unit == crate::dp::Unit::User))
            .then_some(users.count() as u64),
        max_records_per_user: dp.max_records_per_user.map(|k| k as u64),
        largest_user_records: record_level_with_users.then_some(users.largest() as u64),
        user_epsilon_bound: None,
        group_epsilon: None,
        group_delta: None,
    }
}

/// Steps per epoch, total steps and epochs of a run over `n` examples.
fn schedule(cfg: &RunConfig, n: usize) -> (u64, u64, u64) {
    let batches_per_epoch = n.div_ceil(cfg.batch_size) as u64;
    let steps_per_epoch = if cfg.method.is_private() {
        // Poisson sampling at q = batch_size / N: an epoch is 1/q steps in expectation.
        ((n as f64 / cfg.batch_size as f64).round() as u64).max(1)
    } else {
        batches_per_epoch.div_ceil(cfg.grad_accum as u64)
    };
    let total_steps = cfg
        .steps
        .unwrap_or(steps_per_epoch * cfg.epochs.unwrap_or(1));
    (
        steps_per_epoch,
        total_steps,
        total_steps.div_ceil(steps_per_epoch),
    )
}

/// What `tokens_seen` counts: the sampled batches' tokens (non-private runs), their
/// expectation (private runs), or nothing where N itself is kept private.
fn tokens_counted(dp: Option<&crate::config::DpConfig>) -> &'static str {
    match dp {
        None => "sampled",
        Some(d) if d.dataset_size.is_some() => "withheld",
        Some(_) => "expected",
    }
}

/// A run's size and schedule, and for a private run its DP plan and unit.
struct Planned {
    /// N as the accountant sees it.
    n: usize,
    /// Steps per epoch, total steps, epochs.
    schedule: (u64, u64, u64),
    private: Option<crate::dp::plan::Private>,
    privacy_unit: Option<crate::dp::PrivacyUnit>,
}

/// N (a public constant from the config, or the file's count of records — of users, for
/// user-level privacy), the schedule over it, and the DP plan: σ for the target ε, and the
/// users to sample for user-level privacy.
fn plan(cfg: &RunConfig, examples: &[Example], stop: &dyn Fn() -> bool) -> Result<Planned> {
    let dp = cfg.dp.as_ref().filter(|_| cfg.method.is_private());
    let users = triad_data::users::Users::group(examples.iter().map(|e| e.user.as_deref()));
    let by_user = dp.is_some_and(|d| d.unit == crate::dp::Unit::User);
    let counted = if by_user {
        users.count()
    } else {
        examples.len()
    };
    let n = dp
        .and_then(|d| d.dataset_size)
        .map_or(counted, |s| s as usize);
    let schedule = schedule(cfg, n);
    let private = match dp {
        Some(dp) => {
            let mut p = crate::dp::plan::Private::new(dp, cfg.batch_size, n, schedule.1, stop)?;
            p.users = by_user.then(|| crate::dp::plan::UserSampling {
                members: users.members(),
                cap: dp.max_records_per_user,
            });
            Some(p)
        }
        None => None,
    };
    Ok(Planned {
        n,
        schedule,
        private,
        privacy_unit: dp.map(|d| privacy_unit(d, &users)),
    })
}

impl<'a> Run<'a> {
    /// Load data and model, make the trainable parameters, plan DP (σ for the target ε).
    /// `weights`: the folder the model starts from (`cfg.model`, or redact-then-DP's phase 1);
    /// the tokenizer and the base's identity are always `cfg.model`'s.
    fn prepare(
        cfg: &'a RunConfig,
        weights: &Path,
        out: &'a Path,
        resuming: bool,
        stop: &dyn Fn() -> bool,
    ) -> Result<(Vec<Example>, Run<'a>)> {
        let device = parse_device(&cfg.device)?;
        // Peaks per run, so a service's second run reports its own.
        crate::memory::reset_peaks(device);
        let kind = resolve_kind(&cfg.dtype).ok_or_else(|| {
            TrainError::Invalid(format!("dtype `{}`: expected auto, f32 or bf16", cfg.dtype))
        })?;
        let (examples, scrubbed) = load_examples(cfg)?;
        tch::manual_seed(cfg.seed as i64);
        let mut model = CausalLm::load(weights, kind, device)?;
        let lora_cfg = cfg.lora_config();
        let named = crate::lora::trainable(&mut model, cfg.method, &lora_cfg, cfg.seed)?;
        let params: Vec<Tensor> = named.iter().map(|(_, t)| t.shallow_clone()).collect();
        let dp = cfg.dp.as_ref().filter(|_| cfg.method.is_private());
        let Planned {
            n,
            schedule: (steps_per_epoch, total_steps, epochs),
            private,
            privacy_unit,
        } = plan(cfg, &examples, stop)?;
        let (accountant, budget) = budget_for(cfg, private.as_ref(), total_steps);
        let rng = match dp.filter(|d| !d.reproducible_noise) {
            Some(_) => crate::rng::StepRng::keyed(crate::state::noise_key(out, resuming)?),
            None => crate::rng::StepRng::seeded(cfg.seed),
        };
        let file_tokens = examples.iter().map(|e| e.ids.len() as u64).sum();
        let trainable: i64 = params.iter().map(|p| p.numel() as i64).sum();
        let record = RunRecord {
            status: "running".into(),
            config: cfg.clone(),
            method: cfg.method,
            device: format!("{device:?}"),
            dtype: format!("{kind:?}"),
            examples: n,
            total_steps,
            steps_done: 0,
            trainable_parameters: trainable,
            total_parameters: model.num_parameters()
                + if cfg.method.uses_lora() { trainable } else { 0 },
            tokens_seen: 0,
            wall_time_s: 0.0,
            tokens_per_second: 0.0,
            peak_memory_bytes: None,
            peak_device_memory_bytes: None,
            epsilon: None,
            accountant,
            epsilon_rdp: None,
            epsilon_pld: None,
            delta: private.as_ref().map(|p| p.delta),
            noise_multiplier: private.as_ref().map(|p| p.sigma),
            sampling_rate: private.as_ref().map(|p| p.q),
            max_grad_norm: private.as_ref().map(|p| p.max_grad_norm),
            secure_rng: rng.secret(),
            dataset_size_source: dp.map(|d| {
                if d.dataset_size.is_some() {
                    "config"
                } else {
                    "published"
                }
                .into()
            }),
            tokens_counted: Some(tokens_counted(dp).into()),
            loss_curve: vec![],
            epochs: vec![],
            final_checkpoint: None,
            train_sha256: Some(
                triad_data::fsutil::sha256_file(&cfg.train_file)
                    .map_err(|e| TrainError::io(&cfg.train_file, e))?,
            ),
            base_model_sha256: Some(triad_lm::weights::model_identity(&cfg.model)?),
            scrub: scrubbed,
            redact: None,
            privacy_unit,
        };
        let opt = Optimizer::new(cfg.optimizer.clone(), params);
        let run = Run {
            cfg,
            out,
            device,
            model,
            lora_cfg,
            named,
            opt,
            private,
            budget,
            rng,
            steps_per_epoch,
            total_steps,
            epochs,
            file_tokens,
            record,
        };
        Ok((examples, run))
    }

    /// Continue an earlier attempt from its last checkpoint: weights, optimizer, loss curve,
    /// and the accountant replayed over the steps already taken. Returns the next epoch.
    fn restore(&mut self, p: RunRecord) -> Result<u64> {
        let plan = crate::resume::Plan {
            steps_per_epoch: self.steps_per_epoch,
            total_steps: self.total_steps,
            epochs: self.epochs,
        };
        plan.check(&p, &self.out.join("run.json"))?;
        let last = p.epochs.last().expect("non-empty").clone();
        if last.checkpoint.is_none() {
            return Ok(1);
        }
        // The run's own checkpoint folder, from the epoch number: a path written in run.json
        // is never followed.
        resume(
            &mut self.model,
            &mut self.opt,
            self.cfg.method,
            &checkpoint_dir(self.out, last.epoch),
            self.device,
        )?;
        tracing::info!(
            epoch = last.epoch,
            step = last.step,
            "resuming from checkpoint"
        );
        let r = &mut self.record;
        r.steps_done = last.step;
        r.loss_curve = p
            .loss_curve
            .into_iter()
            .filter(|l| l.step <= last.step)
            .collect();
        // Each epoch's checkpoint named as this folder's own (a copied folder names the copy).
        r.epochs = p.epochs;
        for e in r.epochs.iter_mut() {
            if e.checkpoint.is_some() {
                e.checkpoint = Some(checkpoint_dir(self.out, e.epoch).to_string_lossy().into());
            }
        }
        r.tokens_seen = p.tokens_seen;
        r.wall_time_s = p.wall_time_s;
        if let (Some(pr), Some(b)) = (&self.private, self.budget.as_mut()) {
            for _ in 0..last.step {
                b.step(pr.sigma, pr.q);
            }
            r.epsilon = Some(b.epsilon());
        }
        Ok(last.epoch + 1)
    }

    /// The steps of one epoch. Non-private: shuffled fixed batches, `grad_accum` per step.
    /// Private: every step draws its own Poisson sample, so an "epoch" is just
    /// `steps_per_epoch` steps. Returns the losses of the steps that had a batch.
    fn run_epoch(
        &mut self,
        examples: &[Example],
        epoch: u64,
        clock: &Clock,
        stop: &dyn Fn() -> bool,
        on_event: &mut impl FnMut(&Event),
    ) -> Result<Vec<f64>> {
        let cfg = self.cfg;
        let groups: Vec<Vec<Vec<&Example>>> = if self.private.is_some() {
            (0..self.steps_per_epoch).map(|_| vec![]).collect()
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
            if self.record.steps_done >= self.total_steps {
                break;
            }
            if stop() {
                return Err(self.cancelled());
            }
            epoch_losses.extend(self.step(examples, group, epoch, clock, on_event)?);
        }
        Ok(epoch_losses)
    }

    /// Record a run that diverged (its last checkpoint stays) and return the error that ends it.
    fn diverged(&mut self, what: &str) -> TrainError {
        let step = self.record.steps_done + 1;
        self.record.status = "failed".into();
        let kept = match &self.record.final_checkpoint {
            Some(_) => "the last epoch's checkpoint is kept",
            None => "no checkpoint had been written",
        };
        let err = TrainError::Diverged(format!(
            "training diverged at step {step}: {what}; {kept}. Lower optimizer.lr (or check \
             lora.alpha, optimizer.eps, weight_decay, dp.noise_multiplier)"
        ));
        match write_record(self.out, &self.record) {
            Ok(()) => err,
            Err(e) => e,
        }
    }

    /// Record the exact ε of a cancelled run and return the error that ends it.
    fn cancelled(&mut self) -> TrainError {
        self.record.status = "cancelled".into();
        // Progress may show a PLD ε a few steps old; the record gets the exact one.
        if let Some(b) = &self.budget {
            let (rdp, pld) = b.both();
            (self.record.epsilon_rdp, self.record.epsilon_pld) = (Some(rdp), Some(pld));
            self.record.epsilon = Some(b.epsilon());
        }
        self.bound_users();
        match write_record(self.out, &self.record) {
            Ok(()) => TrainError::Cancelled,
            Err(e) => e,
        }
    }

    /// A record-level run on data with users: ε for the user with the most records over the
    /// steps taken so far (`crate::dp::unit`).
    fn bound_users(&mut self) {
        let (Some(p), Some(b)) = (&self.private, &self.budget) else {
            return;
        };
        let (steps, epsilon) = (self.record.steps_done, b.epsilon());
        if let Some(u) = self.record.privacy_unit.as_mut() {
            if let Some(k) = u.largest_user_records.filter(|&k| k > 1) {
                let kind = b.kind();
                u.user_epsilon_bound = Some(crate::dp::unit::group_epsilon(
                    kind, p.q, p.sigma, steps, p.delta, k,
                ));
                let (e, d) = crate::dp::unit::group_conversion(epsilon, p.delta, k);
                (u.group_epsilon, u.group_delta) = (Some(e), Some(d));
            }
        }
    }

    /// One optimizer step (a DP step accounted as it is taken); its loss when it had a batch.
    fn step(
        &mut self,
        examples: &[Example],
        group: &[Vec<&Example>],
        epoch: u64,
        clock: &Clock,
        on_event: &mut impl FnMut(&Event),
    ) -> Result<Option<f64>> {
        let r = &mut self.record;
        let lr = lr_at(
            self.cfg.optimizer.lr,
            &self.cfg.schedule,
            r.steps_done,
            self.total_steps,
        );
        // Every draw of this step (noise, sample, dropout) comes from this step's streams.
        let sample_seed = self.rng.begin_step(r.steps_done);
        let (loss_sum, grads) = match &self.private {
            None => nonprivate_step(
                &self.model,
                &self.opt,
                group,
                self.device,
                &mut r.tokens_seen,
            ),
            Some(p) => {
                // The sample's own token count stays here: it is a statistic of the sample.
                let out = match &p.users {
                    None => {
                        let sample = p.sample(examples, sample_seed);
                        private_step(&self.model, &self.named, &sample, p, self.device, &mut 0)
                    }
                    Some(u) => {
                        let sample = p.sample_users(u, examples, sample_seed);
                        private_user_step(&self.model, &self.named, &sample, p, self.device)
                    }
                };
                if let Some(b) = self.budget.as_mut() {
                    b.step(p.sigma, p.q);
                }
                out
            }
        };
        if self.private.is_none() && !loss_sum.is_finite() {
            return Err(self.diverged("the loss is not finite"));
        }
        self.opt.apply(&grads, lr);
        if self.private.is_none() {
            zero_grads(&self.opt);
        }
        if !crate::optim::all_finite(self.opt.params()) {
            return Err(self.diverged("the update made weights non-finite"));
        }
        let r = &mut self.record;
        let epsilon = self.budget.as_mut().map(|b| b.epsilon_for_progress());
        r.epsilon = epsilon;
        r.steps_done += 1;
        // A private run publishes no loss (unnoised) and only the expected token count.
        let loss = Some(loss_sum).filter(|_| self.private.is_none());
        if let Some(p) = &self.private {
            r.tokens_seen = match r.tokens_counted.as_deref() {
                Some("expected") => {
                    (r.steps_done as f64 * p.q * self.file_tokens as f64).round() as u64
                }
                _ => 0,
            };
        }
        r.loss_curve.push(LossPoint {
            step: r.steps_done,
            epoch,
            loss,
            lr,
        });
        on_event(&Event::Step {
            step: r.steps_done,
            total_steps: self.total_steps,
            epoch,
            loss,
            lr,
            tokens_per_second: (r.tokens_seen - clock.tokens_before) as f64
                / clock.started.elapsed().as_secs_f64(),
            epsilon: epsilon.unwrap_or(0.0),
        });
        r.wall_time_s = clock.wall_before + clock.started.elapsed().as_secs_f64();
        Ok(loss)
    }

    /// Checkpoint (every epoch or the last), exact ε under both accountants, the epoch's
    /// record, run.json. Returns whether this was the last epoch.
    fn end_epoch(
        &mut self,
        epoch: u64,
        epoch_losses: &[f64],
        clock: &Clock,
        on_event: &mut impl FnMut(&Event),
    ) -> Result<bool> {
        let cfg = self.cfg;
        let last = epoch == self.epochs || self.record.steps_done >= self.total_steps;
        let checkpoint = if cfg.checkpoint.every_epoch || last {
            let dir = checkpoint_dir(self.out, epoch);
            self.model.set_training(false);
            let opt = &self.opt;
            crate::checkpoint::write(
                &self.model,
                cfg.method,
                &self.lora_cfg,
                &cfg.model,
                &dir,
                |tmp| save_optimizer(opt, tmp),
            )?;
            self.model.set_training(true);
            on_event(&Event::Checkpoint {
                epoch,
                path: dir.clone(),
                max_length: cfg.max_length,
                delta: self.record.delta,
            });
            Some(dir.to_string_lossy().into_owned())
        } else {
            None
        };
        let r = &mut self.record;
        if let Some(b) = &self.budget {
            let (rdp, pld) = b.both();
            (r.epsilon_rdp, r.epsilon_pld) = (Some(rdp), Some(pld));
            // Exact at every epoch end (progress may show a value a few steps old).
            r.epsilon = Some(match b.kind() {
                crate::dp::Accountant::Pld => pld,
                crate::dp::Accountant::Rdp => rdp,
            });
        }
        self.bound_users();
        let r = &mut self.record;
        r.epochs.push(EpochRecord {
            epoch,
            step: r.steps_done,
            mean_loss: (!epoch_losses.is_empty())
                .then(|| epoch_losses.iter().sum::<f64>() / epoch_losses.len() as f64),
            checkpoint: checkpoint.clone(),
            epsilon: r.epsilon,
            epsilon_rdp: r.epsilon_rdp,
            epsilon_pld: r.epsilon_pld,
        });
        r.final_checkpoint = checkpoint.or(r.final_checkpoint.take());
        r.wall_time_s = clock.wall_before + clock.started.elapsed().as_secs_f64();
        r.tokens_per_second = r.tokens_seen as f64 / r.wall_time_s.max(1e-9);
        r.peak_memory_bytes = crate::memory::peak_rss_bytes();
        r.peak_device_memory_bytes = crate::memory::peak_device_bytes(self.device);
        write_record(self.out, r)?;
        if !cfg.checkpoint.keep_optimizer_state {
            // run.json now names the newest checkpoint, the only one a resume reads.
            let keep = r.epochs.last().filter(|e| e.checkpoint.is_some());
            prune_optimizer_state(self.out, r, keep.map(|e| e.epoch));
        }
        crate::card::write_epoch(self.out, &self.record)?;
        Ok(last)
    }
}

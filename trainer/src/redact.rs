//! Redact-then-DP (selective DP in the manner of Shi et al., "Just Fine-tune Twice"): phase 1
//! fine-tunes without noise on the scrubbed training text, phase 2 — the run itself — continues
//! from phase 1's weights with DP-SGD on the original text. Phase 1 saw no labelled span, so
//! phase 2's ε (its accountant alone) covers the spans the scrub replaced; it says nothing of
//! the rest of the text, which phase 1 learnt without noise.
//!
//! Phase 1 is an ordinary run in `OUT/phase1` (its own run.json, checkpoints and resume); a
//! kill in either phase resumes where it stopped.

use crate::config::{Checkpoints, LoraConfig, Method, RunConfig};
use crate::error::{Result, TrainError};
use crate::run::Event;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use triad_data::scrub::{Mode, Scrub, SpanSource};

/// `[redact]` of RUN.toml: phase 1.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redact {
    /// `full` or `lora` (no noise: that is phase 2's job).
    #[serde(default = "full")]
    pub method: Method,
    pub epochs: u64,
    pub lr: f64,
    /// Default: mask the labelled spans.
    #[serde(default = "mask_labelled")]
    pub scrub: Scrub,
    /// Phase 1's adapter (method `lora`; default: PEFT's defaults, as an absent `[lora]`),
    /// merged into the weights phase 2 starts from.
    pub lora: Option<LoraConfig>,
}

fn full() -> Method {
    Method::Full
}

fn mask_labelled() -> Scrub {
    Scrub::all(Mode::Mask, SpanSource::Labelled)
}

/// Phase 1 as the run record states it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseOne {
    pub method: Method,
    pub steps: u64,
    pub wall_time_s: f64,
    /// The last epoch's mean training loss (on scrubbed text).
    pub mean_loss: Option<f64>,
    pub scrub: Option<triad_data::scrub::Stats>,
}

impl Redact {
    /// `Err((field, message))`.
    pub(crate) fn validate(&self, run: &RunConfig) -> std::result::Result<(), (String, String)> {
        let bad = |f: &str, m: &str| Err((f.to_string(), m.to_string()));
        if run.method != Method::Dp {
            return bad(
                "method",
                "redact-then-DP continues with `dp` (DP-SGD on all weights); a `dp-lora` second \
                 phase would publish an adapter over phase 1's weights, which no evaluation reads",
            );
        }
        if !matches!(self.method, Method::Full | Method::Lora) {
            return bad("redact.method", "phase 1 is `full` or `lora` (no noise)");
        }
        if self.epochs == 0 || self.epochs > crate::config::MAX_EPOCHS {
            return bad("redact.epochs", "must be positive and at most 1,000,000");
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad("redact.lr", "must be positive and finite");
        }
        if run.scrub.is_some() {
            return bad(
                "scrub",
                "redact-then-DP's second phase trains on the original text: put the scrub in \
                 `redact.scrub`",
            );
        }
        if run.dp.as_ref().is_some_and(|d| d.dataset_size.is_some()) {
            return bad(
                "dp.dataset_size",
                "phase 1 runs without noise and publishes its steps, which follow the record \
                 count: the count cannot be kept hidden in redact-then-DP",
            );
        }
        if self.lora.is_some() && self.method != Method::Lora {
            return bad("redact.lora", "only phase-1 method `lora` takes an adapter");
        }
        if let Some(l) = &self.lora {
            l.check()
                .map_err(|(f, m)| (format!("redact.lora.{f}"), m))?;
        }
        if self.scrub.mode == Mode::Pseudonymise {
            return bad(
                "redact.scrub.mode",
                "phase 1 must see nothing of the spans ε covers: pseudonyms are drawn against \
                 every secret of the file, so use `mask`",
            );
        }
        Ok(())
    }

    /// Phase 1's RUN.toml: the run's model, data, batch and seed; its own method, epochs, lr
    /// and scrub; no noise.
    pub(crate) fn phase_one(&self, run: &RunConfig) -> RunConfig {
        let mut c = run.clone();
        c.method = self.method;
        c.epochs = Some(self.epochs);
        c.steps = None;
        c.optimizer.lr = self.lr;
        c.dp = None;
        c.lora = (self.method == Method::Lora).then(|| self.lora.clone().unwrap_or_default());
        c.scrub = Some(self.scrub.clone());
        // Every token of the scrubbed text: a `sensitive` loss would have no target left.
        c.loss_on = crate::config::LossOn::All;
        c.redact = None;
        c.schedule = Default::default();
        // Checkpoints every epoch where the run has them: phase 1 resumes from its last.
        c.checkpoint = Checkpoints {
            every_epoch: run.checkpoint.every_epoch,
            keep_optimizer_state: false,
        };
        c
    }
}

/// Run (or resume, or find done) phase 1 in `OUT/phase1`; the folder of full weights phase 2
/// starts from, and phase 1's summary.
pub(crate) fn run_phase_one(
    redact: &Redact,
    run: &RunConfig,
    out: &Path,
    cancel: Option<&AtomicBool>,
    on_event: &mut dyn FnMut(&Event),
) -> Result<(PathBuf, PhaseOne)> {
    let cfg = redact.phase_one(run);
    let dir = out.join("phase1");
    let _span = tracing::info_span!("phase1", method = ?cfg.method).entered();
    tracing::info!(out = %dir.display(), "redact-then-DP: phase 1 on scrubbed text");
    // Progress only (it keeps a service's heartbeat): no loss, and no checkpoint event, which
    // would be evaluated as this run's.
    let record = crate::run::train(&cfg, &dir, cancel, |e| {
        if let Event::Step {
            step,
            total_steps,
            epoch,
            lr,
            tokens_per_second,
            ..
        } = e
        {
            on_event(&Event::Step {
                step: *step,
                total_steps: *total_steps,
                epoch: *epoch,
                loss: None,
                lr: *lr,
                tokens_per_second: *tokens_per_second,
                epsilon: 0.0,
            });
        }
    })?;
    if record.status != "completed" {
        return Err(TrainError::Invalid(format!(
            "{}: phase 1 did not complete",
            dir.display()
        )));
    }
    // Phase 1's last epoch by its own schedule, in the trainer's layout: never an epoch or a
    // path read from its run.json.
    let checkpoint = crate::run::checkpoint_dir(&dir, redact.epochs);
    let weights = if cfg.method.uses_lora() {
        // Written anew from phase 1's adapter every time (a few seconds), never taken from
        // whatever a folder on disk holds.
        let merged = dir.join("merged");
        crate::checkpoint::write_merged(&cfg.model, &checkpoint, &merged)?;
        merged
    } else {
        checkpoint
    };
    let summary = PhaseOne {
        method: cfg.method,
        steps: record.steps_done,
        wall_time_s: record.wall_time_s,
        mean_loss: record.epochs.last().and_then(|e| e.mean_loss),
        // The tagger's coverage is measured against the labelled spans (their lengths): not a
        // function of the scrubbed text, so not published beside the DP checkpoint.
        scrub: record
            .scrub
            .clone()
            .map(|s| triad_data::scrub::Stats { tagger: None, ..s }),
    };
    Ok((weights, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: &str = "model = \"m\"\ntrain_file = \"d.jsonl\"\nmethod = \"dp\"\nepochs = 2\n\
                       [optimizer]\nlr = 1e-4\n[dp]\ntarget_epsilon = 8.0\n";

    fn parse(extra: &str) -> std::result::Result<RunConfig, String> {
        RunConfig::from_toml(&format!("{RUN}{extra}"), Path::new("run.toml"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn phase_one_is_a_plain_run_on_scrubbed_text() {
        let cfg = parse("[redact]\nepochs = 3\nlr = 1e-3\n").unwrap();
        let r = cfg.redact.as_ref().unwrap();
        assert_eq!(r.scrub, mask_labelled());
        let p = r.phase_one(&cfg);
        assert_eq!(
            (p.method, p.epochs, p.optimizer.lr),
            (Method::Full, Some(3), 1e-3)
        );
        assert!(p.dp.is_none() && p.redact.is_none() && p.lora.is_none());
        assert_eq!(p.scrub, Some(mask_labelled()));
        let cfg = parse("[redact]\nmethod = \"lora\"\nepochs = 1\nlr = 1e-3\nscrub = { mode = \"mask\", spans = \"tagger\" }\n").unwrap();
        let p = cfg.redact.as_ref().unwrap().phase_one(&cfg);
        assert_eq!(p.lora.map(|l| l.r), Some(8));
        assert_eq!(p.scrub.map(|s| s.spans), Some(SpanSource::Tagger));
    }

    #[test]
    fn a_bad_redact_table_names_its_field() {
        for (extra, field) in [
            ("[redact]\nepochs = 0\nlr = 1e-3\n", "redact.epochs"),
            ("[redact]\nepochs = 1\nlr = -1.0\n", "redact.lr"),
            (
                "[redact]\nmethod = \"dp\"\nepochs = 1\nlr = 1e-3\n",
                "redact.method",
            ),
            (
                "[redact]\nepochs = 1\nlr = 1e-3\n[scrub]\nmode = \"mask\"\n",
                "`scrub`",
            ),
            (
                "[redact]\nepochs = 1\nlr = 1e-3\n[redact.lora]\nr = 4\n",
                "redact.lora",
            ),
            (
                "dataset_size = 100\n[redact]\nepochs = 1\nlr = 1e-3\n",
                "dp.dataset_size",
            ),
            (
                "[redact]\nepochs = 1\nlr = 1e-3\nscrub = { mode = \"pseudonymise\" }\n",
                "redact.scrub.mode",
            ),
            (
                "[redact]\nmethod = \"lora\"\nepochs = 1\nlr = 1e-3\n[redact.lora]\nr = 0\n",
                "redact.lora.r",
            ),
            ("[scrub]\nmode = \"pseudonymise\"\n", "scrub.mode"),
        ] {
            let e = parse(extra).unwrap_err();
            assert!(e.contains(field), "{extra}: {e}");
        }
        let full = RUN
            .replace("method = \"dp\"", "method = \"full\"")
            .replace("[dp]\ntarget_epsilon = 8.0\n", "");
        let e = RunConfig::from_toml(
            &format!("{full}[redact]\nepochs = 1\nlr = 1e-3\n"),
            Path::new("run.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`method`") && e.contains("dp"), "{e}");
    }
}

//! `triad-trainer`: fine-tuning engine (full, LoRA, DP-SGD, DP-LoRA) and the `triad.v1.Trainer`
//! service. Built on `triad-lm`'s models. Architecture and conventions: docs/design.md.
//!
//! - [`config`] — RUN.toml.
//! - [`data`] — tokenised examples, loss masks, batches.
//! - [`lora`] — adapters and PEFT's file format.
//! - [`card`] — the model card (`README.md`) in every checkpoint folder.
//! - [`memory`] — peak resident and CUDA memory of a run.
//! - `optim` — AdamW / SGD and the learning-rate schedule.
//! - `run` — the training loop, checkpoints, `run.json`, resume.
//! - `rng` — per-step random streams (a private run's secret key, or the seed), so resumes
//!   redo exactly the noise they drew; `state` — the run's private state (the key).
//! - `resume` — what a resume checks of an earlier attempt's run.json; `lock` — one
//!   trainer per output folder.
//! - [`dp`] — the accountants (RDP, PLD), σ from a target ε, per-example clipping and noise.
//! - [`service`], `telemetry` — the gRPC service and its Prometheus series.

mod amp;
pub mod bench;
pub mod card;
mod checkpoint;
pub mod config;
pub mod data;
pub mod dp;
mod error;
mod heartbeat;
mod lock;
pub mod lora;
pub mod memory;
mod optim;
pub mod redact;
mod resume;
mod rng;
mod run;
pub mod service;
mod state;
mod telemetry;

pub use config::RunConfig;
pub use error::{Result, TrainError};
pub use run::{train, Event, RunRecord};

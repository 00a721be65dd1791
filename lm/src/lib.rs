//! `triad-lm`: the model — what Triad's trainer and evaluator share that touches tensors.
//! Architecture and conventions: docs/design.md.
//!
//! - [`config`] — `config.json` of Hugging Face folders, normalised across versions.
//! - [`weights`] — safetensors in and out (single file or sharded).
//! - [`models`] — Llama, Mistral, Qwen2/3, Phi-3, Gemma 1/2/3 and GPT-NeoX forward passes on
//!   libtorch.
//! - [`hub`] — `org/name[@revision]` found in the Hugging Face cache, offline.
//! - [`adapter`] — PEFT LoRA adapters, merged into base weights for scoring.
//! - [`score`] and [`generate`]: per-token log-probabilities and greedy decoding.
//!
//! Datasets, tokenizers and file helpers are `triad-data`'s (no tensors there).
//! - [`gguf`] — reading GGUF files and importing them as Hugging Face folders.
//! - [`threads`] — CPU threads shared between jobs that run at once in one process.

pub mod adapter;
pub mod config;
pub mod device;
pub mod error;
pub mod generate;
pub mod gguf;
pub mod hub;
pub mod models;
pub mod nn;
pub mod paths;
pub mod runtime;
pub mod score;
pub mod threads;
pub mod weights;

pub use config::{Arch, ModelConfig};
pub use error::{LmError, Result};
pub use models::CausalLm;
pub use tch;

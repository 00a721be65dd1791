//! `triad-trainer`: fine-tuning engine (full, LoRA, DP-SGD, DP-LoRA) and the `triad.v1.Trainer`
//! service. Built on `triad-lm`'s models; see DESIGN.md.
//!
//! - [`dp`]: the RDP accountant (ε from σ, σ from a target ε).

pub mod dp;

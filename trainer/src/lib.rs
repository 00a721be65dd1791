//! `triad-trainer`: fine-tuning engine (full, LoRA, DP-SGD, DP-LoRA) and the `triad.v1.Trainer`
//! service. Built on `triad-lm`'s models; see DESIGN.md. The engine lands with issue 4.

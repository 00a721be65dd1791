//! The metrics of DESIGN.md, from per-token losses under the checkpoint (θ) and the base (θ0).

pub mod cells;
pub mod exposure;
pub mod extraction;
pub mod mia;

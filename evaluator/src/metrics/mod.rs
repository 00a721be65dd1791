//! The metrics of docs/design.md, from per-token losses under the checkpoint (θ) and the base (θ0),
//! each with its interval (`interval`, `records`).

pub mod audit;
pub mod cells;
pub mod exposure;
pub mod extraction;
pub mod interval;
pub mod mia;
pub mod paired;
pub mod records;

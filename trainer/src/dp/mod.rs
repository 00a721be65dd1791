//! Differential privacy: the RDP accountant for the subsampled Gaussian mechanism.

pub mod accountant;
pub mod ghost;
pub mod plan;
mod special;
pub mod step;

pub use accountant::{epsilon, noise_multiplier, RdpAccountant, DEFAULT_ORDERS};

//! Differential privacy: the RDP accountant for the subsampled Gaussian mechanism.

pub mod accountant;
mod special;

pub use accountant::{epsilon, noise_multiplier, RdpAccountant, DEFAULT_ORDERS};

//! Differential privacy: the accountants for the Poisson-subsampled Gaussian mechanism (RDP as
//! Opacus computes it, PLD as dp_accounting does), the Poisson sampler and the private step.

pub mod accountant;
mod budget;
pub mod ghost;
pub mod plan;
pub mod pld;
mod special;
pub mod step;
pub mod unit;

pub use accountant::{epsilon, noise_multiplier, RdpAccountant, Search, DEFAULT_ORDERS};
pub use budget::Budget;
pub use pld::PldAccountant;
pub use unit::{PrivacyUnit, Unit};

use serde::{Deserialize, Serialize};

/// Which accountant turns (q, σ, T, δ) into ε. PLD is (up to its grid) the exact privacy curve
/// of the mechanism; RDP an upper bound on it, looser by 10–25% at typical settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accountant {
    /// The default: the tightest ε the mechanism allows, so the least noise for a target ε.
    #[default]
    Pld,
    Rdp,
}

impl Accountant {
    pub fn name(self) -> &'static str {
        match self {
            Accountant::Pld => "pld",
            Accountant::Rdp => "rdp",
        }
    }

    /// ε after `steps` steps at sampling rate `q` and noise multiplier `sigma`.
    pub fn epsilon(self, q: f64, sigma: f64, steps: u64, delta: f64) -> f64 {
        match self {
            Accountant::Pld => pld::epsilon(q, sigma, steps, delta),
            Accountant::Rdp => accountant::epsilon(q, sigma, steps, delta),
        }
    }

    /// The noise multiplier whose ε is at most `target_epsilon`. RDP: Opacus's search step for
    /// step (ε within `tolerance` below the target). PLD: ε within 0.5% (and at most
    /// `tolerance`) below 99.9% of the target, the 0.1% leaving room for the grid.
    pub fn noise_multiplier(
        self,
        target_epsilon: f64,
        delta: f64,
        q: f64,
        steps: u64,
        tolerance: f64,
    ) -> Option<f64> {
        self.search_noise(target_epsilon, delta, q, steps, tolerance, &|| false)
            .found()
    }

    /// [`Accountant::noise_multiplier`], asking `stop` between evaluations of ε.
    pub fn search_noise(
        self,
        target_epsilon: f64,
        delta: f64,
        q: f64,
        steps: u64,
        tolerance: f64,
        stop: &dyn Fn() -> bool,
    ) -> Search {
        match self {
            Accountant::Rdp => accountant::search_sigma(
                target_epsilon,
                tolerance,
                |s| accountant::epsilon(q, s, steps, delta),
                stop,
            ),
            Accountant::Pld => {
                let target = target_epsilon * 0.999;
                let tol = tolerance.min(0.005 * target_epsilon);
                accountant::search_sigma(target, tol, |s| pld::epsilon(q, s, steps, delta), stop)
            }
        }
    }
}

impl std::str::FromStr for Accountant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pld" => Ok(Accountant::Pld),
            "rdp" => Ok(Accountant::Rdp),
            other => Err(format!(
                "unknown accountant `{other}` (expected `pld` or `rdp`)"
            )),
        }
    }
}

impl std::fmt::Display for Accountant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

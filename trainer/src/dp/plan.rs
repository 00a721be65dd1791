//! A private run's parameters: sampling rate, noise multiplier (given or found for a target ε),
//! δ, clipping bound; and its Poisson sampler.

use crate::config::DpConfig;
use crate::data::Example;
use crate::dp::Search;
use crate::error::{Result, TrainError};
use triad_data::rng::Rng;

#[derive(Debug, Clone)]
pub struct Private {
    pub q: f64,
    pub sigma: f64,
    pub delta: f64,
    pub max_grad_norm: f64,
    /// Units (records, or users) as the accountant sees them.
    pub n: usize,
    /// User-level runs: each user's examples, and the per-step cap.
    pub users: Option<UserSampling>,
}

/// Who each sampled unit is under `dp.unit = "user"`.
#[derive(Debug, Clone)]
pub struct UserSampling {
    /// Example indices of each user.
    pub members: Vec<Vec<usize>>,
    pub cap: Option<usize>,
}

impl Private {
    /// `stop` ends a σ search early (a cancelled run) with [`TrainError::Cancelled`].
    pub fn new(
        dp: &DpConfig,
        batch_size: usize,
        n: usize,
        steps: u64,
        stop: &dyn Fn() -> bool,
    ) -> Result<Self> {
        let q = (batch_size as f64 / n as f64).min(1.0);
        let delta = dp.delta.unwrap_or(1.0 / (10.0 * n as f64));
        if !(delta > 0.0 && delta < 1.0) {
            return Err(TrainError::Invalid(format!(
                "dp.delta must be in (0, 1), got {delta}"
            )));
        }
        let sigma = match (dp.noise_multiplier, dp.target_epsilon) {
            (Some(s), _) => s,
            (None, Some(eps)) => match dp.accountant.search_noise(eps, delta, q, steps, 0.01, stop) {
                Search::Found(sigma) => sigma,
                Search::Stopped => return Err(TrainError::Cancelled),
                Search::Unreachable => return Err(TrainError::Invalid(format!(
                    "dp.target_epsilon = {eps} cannot be reached in {steps} steps at sampling rate {q:.4} (σ would exceed 1e6)"
                ))),
            },
            (None, None) => unreachable!("validated in RunConfig"),
        };
        Ok(Private {
            q,
            sigma,
            delta,
            max_grad_norm: dp.max_grad_norm,
            n,
            users: None,
        })
    }

    /// A Poisson sample: each example independently with probability q. `seed` is the step's
    /// own (`crate::rng::StepRng::begin_step`).
    pub fn sample<'a>(&self, examples: &'a [Example], seed: u64) -> Vec<&'a Example> {
        let mut rng = Rng::new(seed).fork("poisson");
        examples.iter().filter(|_| rng.chance(self.q)).collect()
    }

    /// A Poisson sample of users (each independently with probability q), each with their
    /// examples, or `cap` of them drawn without replacement from this step's own stream.
    pub fn sample_users<'a>(
        &self,
        users: &UserSampling,
        examples: &'a [Example],
        seed: u64,
    ) -> Vec<Vec<&'a Example>> {
        let root = Rng::new(seed);
        let (mut coins, mut picks) = (root.fork("poisson-users"), root.fork("user-records"));
        let mut out = vec![];
        for m in &users.members {
            if !coins.chance(self.q) {
                continue;
            }
            let mut mine = m.clone();
            if let Some(cap) = users.cap.filter(|&c| c < mine.len()) {
                picks.shuffle(&mut mine);
                mine.truncate(cap);
                mine.sort_unstable();
            }
            out.push(mine.into_iter().map(|i| &examples[i]).collect());
        }
        out
    }
}

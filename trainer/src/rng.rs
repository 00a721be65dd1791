//! The randomness of a run: every step seeds its own streams, so a resumed run draws exactly
//! what an uninterrupted one draws at the same step (noise, Poisson sample, LoRA dropout) and
//! no step ever reuses another step's noise.
//!
//! A private run keys those streams by a **secret per-run key** (256 bits from the operating
//! system's CSPRNG at the run's start), kept in the run's private state (`state/noise.key`, see
//! [`crate::state`]) and never in run.json, a checkpoint or a message: nobody holding what the
//! run publishes can recompute its noise or its samples, yet a resumed run (which reads the key
//! back) is bit-identical to an uninterrupted one. Each step's seeds are SHA-256(key, step).
//!
//! Reproducible mode (`dp.reproducible_noise = true`, and every non-private run) keys them by
//! `(seed, step)` instead: bit-identical across machines from the config alone, so a DP run's ε
//! then assumes the seed stays secret — run.json and the report say so. The generators fed by
//! the seeds (torch's mt19937 / Philox, our SplitMix64) are not CSPRNGs themselves.

use crate::error::{Result, TrainError};
use sha2::{Digest, Sha256};
use triad_data::rng::Rng;
use triad_lm::tch;

/// The secret key of a private run's noise.
#[derive(Clone, PartialEq, Eq)]
pub struct NoiseKey(pub(crate) [u8; 32]);

impl std::fmt::Debug for NoiseKey {
    // Never print the key (logs reach operators and clients' incident reports).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NoiseKey(..)")
    }
}

impl NoiseKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn fresh() -> Result<Self> {
        let mut b = [0u8; 32];
        getrandom::getrandom(&mut b).map_err(|e| {
            TrainError::Internal(format!("the operating system's random source failed: {e}"))
        })?;
        Ok(NoiseKey(b))
    }
}

#[derive(Debug, Clone)]
enum Source {
    Seed(u64),
    Key(NoiseKey),
}

#[derive(Debug, Clone)]
pub struct StepRng {
    source: Source,
}

impl StepRng {
    /// Streams keyed by the public `seed` (reproducible mode).
    pub fn seeded(seed: u64) -> Self {
        StepRng {
            source: Source::Seed(seed),
        }
    }

    /// Streams keyed by a secret key.
    pub fn keyed(key: NoiseKey) -> Self {
        StepRng {
            source: Source::Key(key),
        }
    }

    /// Whether the streams come from a secret key (not recomputable from the config).
    pub fn secret(&self) -> bool {
        matches!(self.source, Source::Key(_))
    }

    /// Seed torch's generators (CPU and CUDA: Gaussian noise, dropout) for step `step`
    /// (0-based) and return the seed of that step's Poisson sampler.
    pub fn begin_step(&self, step: u64) -> u64 {
        let (torch_seed, sample_seed) = self.seeds(step);
        // torch takes an i64 seed; the bits are what matter.
        tch::manual_seed(torch_seed as i64);
        sample_seed
    }

    fn seeds(&self, step: u64) -> (u64, u64) {
        match &self.source {
            Source::Seed(seed) => {
                let mut r = Rng::new(*seed).fork(&format!("step-{step}"));
                (r.next_u64(), r.next_u64())
            }
            Source::Key(NoiseKey(key)) => {
                let d = Sha256::new()
                    .chain_update(b"triad-step-noise-v1")
                    .chain_update(key)
                    .chain_update(step.to_le_bytes())
                    .finalize();
                let word = |i: usize| u64::from_le_bytes(d[i..i + 8].try_into().expect("8 bytes"));
                (word(0), word(8))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use triad_lm::tch::{Kind, Tensor};

    fn noise(r: &StepRng, step: u64) -> (Vec<f32>, u64) {
        let s = r.begin_step(step);
        let t = Tensor::randn([16], (Kind::Float, tch::Device::Cpu));
        (Vec::<f32>::try_from(&t).unwrap(), s)
    }

    #[test]
    fn steps_are_reproducible_and_distinct() {
        for r in [
            StepRng::seeded(7),
            StepRng::keyed(NoiseKey::fresh().unwrap()),
        ] {
            let (a0, s0) = noise(&r, 0);
            let (a1, s1) = noise(&r, 1);
            // The same step again, after other draws, gives the same noise: what a resume
            // relies on.
            let (b0, t0) = noise(&r, 0);
            assert_eq!((a0.clone(), s0), (b0, t0));
            assert_ne!(a0, a1);
            assert_ne!(s0, s1);
        }
        let (a0, _) = noise(&StepRng::seeded(7), 0);
        let (c0, _) = noise(&StepRng::seeded(8), 0);
        assert_ne!(a0, c0, "another seed, other noise");
    }

    #[test]
    fn a_fresh_key_gives_other_noise_and_is_never_printed() {
        let (k1, k2) = (NoiseKey::fresh().unwrap(), NoiseKey::fresh().unwrap());
        assert_ne!(k1, k2);
        let (a, _) = noise(&StepRng::keyed(k1.clone()), 0);
        let (b, _) = noise(&StepRng::keyed(k2), 0);
        assert_ne!(a, b);
        let shown = format!("{:?}", StepRng::keyed(k1.clone()));
        let hex: String = k1.0.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!shown.contains(&hex[..8]) && !shown.contains(&k1.0[0].to_string()));
    }
}

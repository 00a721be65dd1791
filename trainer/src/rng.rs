//! The randomness of a run: every step seeds its own streams, so a resumed run draws exactly
//! what an uninterrupted one draws at the same step (noise, Poisson sample, LoRA dropout) and
//! no step ever reuses another step's noise.
//!
//! Reproducible mode (the default) keys each step's streams by `(seed, step)`. Secure mode
//! (`dp.secure_rng = true`, Opacus's "secure mode" in spirit) seeds them from the operating
//! system's CSPRNG instead: the noise cannot be recomputed from the config, and a resumed run
//! is not bit-identical to an uninterrupted one — it is still fresh noise, so ε holds. The
//! generators fed by those seeds (torch's mt19937 / Philox, our SplitMix64) are not CSPRNGs;
//! what secure mode buys is that nobody holding the config can replay the noise.

use crate::error::{Result, TrainError};
use triad_data::rng::Rng;
use triad_lm::tch;

#[derive(Debug, Clone, Copy)]
pub struct StepRng {
    seed: u64,
    secure: bool,
}

impl StepRng {
    pub fn new(seed: u64, secure: bool) -> Self {
        StepRng { seed, secure }
    }

    pub fn secure(&self) -> bool {
        self.secure
    }

    /// Seed torch's generators (CPU and CUDA: Gaussian noise, dropout) for step `step`
    /// (0-based) and return the seed of that step's Poisson sampler.
    pub fn begin_step(&self, step: u64) -> Result<u64> {
        let (torch_seed, sample_seed) = if self.secure {
            (os_u64()?, os_u64()?)
        } else {
            let mut r = Rng::new(self.seed).fork(&format!("step-{step}"));
            (r.next_u64(), r.next_u64())
        };
        // torch takes an i64 seed; the bits are what matter.
        tch::manual_seed(torch_seed as i64);
        Ok(sample_seed)
    }
}

fn os_u64() -> Result<u64> {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).map_err(|e| {
        TrainError::Invalid(format!(
            "dp.secure_rng: the operating system's random source failed: {e}"
        ))
    })?;
    Ok(u64::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use triad_lm::tch::{Kind, Tensor};

    fn noise(r: &StepRng, step: u64) -> (Vec<f32>, u64) {
        let s = r.begin_step(step).unwrap();
        let t = Tensor::randn([16], (Kind::Float, tch::Device::Cpu));
        (Vec::<f32>::try_from(&t).unwrap(), s)
    }

    #[test]
    fn steps_are_reproducible_and_distinct() {
        let r = StepRng::new(7, false);
        let (a0, s0) = noise(&r, 0);
        let (a1, s1) = noise(&r, 1);
        // The same step again, after other draws, gives the same noise: what a resume relies on.
        let (b0, t0) = noise(&r, 0);
        assert_eq!((a0.clone(), s0), (b0, t0));
        assert_ne!(a0, a1);
        assert_ne!(s0, s1);
        let (c0, _) = noise(&StepRng::new(8, false), 0);
        assert_ne!(a0, c0, "another seed, other noise");
    }

    #[test]
    fn secure_mode_never_repeats() {
        let r = StepRng::new(7, true);
        let (a, sa) = noise(&r, 0);
        let (b, sb) = noise(&r, 0);
        assert_ne!(a, b);
        assert_ne!(sa, sb);
    }
}

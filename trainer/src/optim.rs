//! Optimizers and the learning-rate schedule, applied to plain tensors so DP-SGD can hand in
//! its own (clipped, noised) gradients.

use crate::config::{Decay, Optimizer as OptConfig, OptimizerName, Schedule};
use triad_lm::tch::{self, Tensor};

/// AdamW (decoupled weight decay, bias-corrected moments, as `torch.optim.AdamW`) or SGD with
/// optional momentum.
pub struct Optimizer {
    cfg: OptConfig,
    params: Vec<Tensor>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Holds each update's intermediates, sized to the largest parameter (made on first use).
    scratch: Option<Tensor>,
    pub step: u64,
}

impl Optimizer {
    pub fn new(cfg: OptConfig, params: Vec<Tensor>) -> Self {
        let zeros = |p: &Tensor| p.zeros_like();
        let m = params.iter().map(zeros).collect();
        let v = if cfg.name == OptimizerName::Adamw {
            params.iter().map(zeros).collect()
        } else {
            vec![]
        };
        Optimizer {
            cfg,
            params,
            m,
            v,
            scratch: None,
            step: 0,
        }
    }

    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// First and (AdamW) second moments per parameter, for checkpointing.
    pub fn moments(&self) -> impl Iterator<Item = (&Tensor, Option<&Tensor>)> {
        self.m.iter().enumerate().map(|(i, m)| (m, self.v.get(i)))
    }

    /// Restore moments saved by [`Self::moments`] (names `m.K`, `v.K`) and the step count.
    pub fn load_moments(
        &mut self,
        w: &mut triad_lm::weights::Weights,
        step: u64,
    ) -> crate::error::Result<()> {
        for i in 0..self.m.len() {
            let shape = self.m[i].size();
            self.m[i].copy_(&w.take(&format!("m.{i}"), &shape)?);
            if i < self.v.len() {
                self.v[i].copy_(&w.take(&format!("v.{i}"), &shape)?);
            }
        }
        self.step = step;
        Ok(())
    }

    /// One update with gradients `grads` (one per parameter) at learning rate `lr`.
    ///
    /// Every operation is in place or writes into one scratch buffer: on a 262k-vocabulary
    /// embedding each temporary is 0.7 GB, and fresh ones cost the peak memory and the page
    /// faults of allocating them on every step.
    pub fn apply(&mut self, grads: &[Tensor], lr: f64) {
        self.step += 1;
        tch::no_grad(|| {
            for (i, g) in grads.iter().enumerate().take(self.params.len()) {
                let g = g.to_kind(self.params[i].kind());
                let scratch = self.scratch_for(i);
                if self.cfg.name == OptimizerName::Adamw {
                    self.adamw(i, &g, &scratch, lr);
                } else {
                    self.sgd(i, &g, &scratch, lr);
                }
            }
        });
    }

    /// A view of the shared scratch buffer shaped like parameter `i` (or a fresh tensor where
    /// the parameter's kind or device differs from the buffer's).
    fn scratch_for(&mut self, i: usize) -> Tensor {
        let p = &self.params[i];
        let fits =
            |s: &Tensor| s.kind() == p.kind() && s.device() == p.device() && s.numel() >= p.numel();
        match &self.scratch {
            Some(s) if fits(s) => s.narrow(0, 0, p.numel() as i64).view(p.size().as_slice()),
            Some(_) => p.empty_like(),
            None => {
                let largest = self.params.iter().map(|q| q.numel()).max().unwrap_or(0);
                let s = Tensor::empty([largest as i64], (p.kind(), p.device()));
                self.scratch = Some(s);
                self.scratch_for(i)
            }
        }
    }

    /// `torch.optim.AdamW` (the single-tensor form): decoupled decay, bias-corrected moments.
    fn adamw(&mut self, i: usize, g: &Tensor, scratch: &Tensor, lr: f64) {
        let c = &self.cfg;
        let (b1, b2) = (c.betas[0], c.betas[1]);
        let t = self.step as i32;
        let mut p = self.params[i].shallow_clone();
        let mut scratch = scratch.shallow_clone();
        if c.weight_decay > 0.0 {
            let _ = p.g_mul_scalar_(1.0 - lr * c.weight_decay);
        }
        let _ = self.m[i].lerp_(g, 1.0 - b1);
        let _ = g.mul_out(&scratch, g);
        let _ = self.v[i].lerp_(&scratch, 1.0 - b2);
        // denominator sqrt(v / (1 - b2^t)) + eps, then the step m / denominator · lr / (1 - b1^t)
        let _ = self.v[i].sqrt_out(&scratch);
        let _ = scratch.g_div_scalar_((1.0 - b2.powi(t)).sqrt());
        let _ = scratch.g_add_scalar_(c.eps);
        let _ = self.m[i].div_out(&scratch, &scratch);
        let _ = scratch.g_mul_scalar_(lr / (1.0 - b1.powi(t)));
        let _ = p.g_sub_(&scratch);
    }

    /// `torch.optim.SGD`: coupled weight decay, optional momentum (no dampening, not Nesterov).
    fn sgd(&mut self, i: usize, g: &Tensor, scratch: &Tensor, lr: f64) {
        let c = &self.cfg;
        let mut p = self.params[i].shallow_clone();
        let mut d = scratch.shallow_clone();
        d.copy_(&p);
        let _ = d.g_mul_scalar_(c.weight_decay);
        let _ = d.g_add_(g);
        if c.momentum > 0.0 {
            let _ = self.m[i].g_mul_scalar_(c.momentum).g_add_(&d);
            d.copy_(&self.m[i]);
        }
        let _ = d.g_mul_scalar_(lr);
        let _ = p.g_sub_(&d);
    }
}

/// Learning rate at optimizer step `step` (0-based) of `total`.
pub fn lr_at(base: f64, s: &Schedule, step: u64, total: u64) -> f64 {
    if step < s.warmup_steps {
        return base * (step + 1) as f64 / s.warmup_steps as f64;
    }
    let span = total.saturating_sub(s.warmup_steps).max(1) as f64;
    let progress = ((step - s.warmup_steps) as f64 / span).min(1.0);
    match s.decay {
        Decay::Linear => base * (1.0 - progress),
        Decay::Cosine => base * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        Decay::Constant => base,
    }
}

/// Whether every element of `params` is finite (a diverged update is caught the step it
/// happens, not reported as a finished run).
pub fn all_finite(params: &[Tensor]) -> bool {
    params.iter().all(|p| {
        // One reduction per tensor: a sum is finite only if no element is NaN or ±∞ (or the
        // weights are beyond 1e38, which is divergence too).
        triad_lm::tch::no_grad(|| p.sum(triad_lm::tch::Kind::Float).double_value(&[])).is_finite()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use triad_lm::tch::{Device, Kind};

    fn cfg(name: OptimizerName, weight_decay: f64, momentum: f64) -> OptConfig {
        OptConfig {
            name,
            lr: 0.0,
            weight_decay,
            betas: [0.9, 0.99],
            eps: 1e-8,
            momentum,
        }
    }

    /// The update rules written out as the papers and torch.optim's docs state them.
    fn textbook(c: &OptConfig, p: &mut [Tensor], g: &[Vec<Tensor>], lr: f64) {
        let mut m: Vec<Tensor> = p.iter().map(|x| x.zeros_like()).collect();
        let mut v: Vec<Tensor> = p.iter().map(|x| x.zeros_like()).collect();
        for (t, gs) in g.iter().enumerate() {
            let t = t as i32 + 1;
            for i in 0..p.len() {
                let gi = &gs[i];
                if c.name == OptimizerName::Adamw {
                    let (b1, b2) = (c.betas[0], c.betas[1]);
                    let decayed = &p[i] * (1.0 - lr * c.weight_decay);
                    m[i] = &m[i] * b1 + gi * (1.0 - b1);
                    v[i] = &v[i] * b2 + gi * gi * (1.0 - b2);
                    let m_hat = &m[i] / (1.0 - b1.powi(t));
                    let v_hat = &v[i] / (1.0 - b2.powi(t));
                    p[i] = decayed - m_hat / (v_hat.sqrt() + c.eps) * lr;
                } else {
                    let d = gi + &p[i] * c.weight_decay;
                    // momentum buffer b_t = μ·b_{t-1} + d_t with b_0 = 0
                    m[i] = &m[i] * c.momentum + &d;
                    let step = if c.momentum > 0.0 {
                        m[i].shallow_clone()
                    } else {
                        d
                    };
                    p[i] = &p[i] - step * lr;
                }
            }
        }
    }

    fn check(c: OptConfig) {
        tch::manual_seed(3);
        let shapes: [&[i64]; 3] = [&[5, 7], &[11], &[2, 3, 4]];
        let init: Vec<Tensor> = shapes
            .iter()
            .map(|s| Tensor::randn(*s, (Kind::Double, Device::Cpu)))
            .collect();
        let grads: Vec<Vec<Tensor>> = (0..4)
            .map(|_| init.iter().map(|p| p.randn_like()).collect())
            .collect();
        let mut opt = Optimizer::new(c.clone(), init.iter().map(|p| p.copy()).collect());
        for gs in &grads {
            opt.apply(gs, 0.05);
        }
        let mut want: Vec<Tensor> = init.iter().map(|p| p.copy()).collect();
        textbook(&c, &mut want, &grads, 0.05);
        for ((got, want), start) in opt.params().iter().zip(&want).zip(&init) {
            let err = (got - want).abs().max().double_value(&[]);
            assert!(err < 1e-12, "{:?}: max |Δ| {err:e}", c.name);
            let moved = (got - start).abs().max().double_value(&[]);
            assert!(moved > 1e-3, "{:?}: parameters did not move", c.name);
        }
    }

    #[test]
    fn adamw_in_place_equals_the_textbook_update() {
        check(cfg(OptimizerName::Adamw, 0.1, 0.0));
        check(cfg(OptimizerName::Adamw, 0.0, 0.0));
    }

    #[test]
    fn sgd_in_place_equals_the_textbook_update() {
        check(cfg(OptimizerName::Sgd, 0.01, 0.9));
        check(cfg(OptimizerName::Sgd, 0.0, 0.0));
    }
}

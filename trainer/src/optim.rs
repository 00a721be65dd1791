//! Optimizers and the learning-rate schedule, applied to plain tensors so DP-SGD can hand in
//! its own (clipped, noised) gradients.

use crate::config::{Optimizer as OptConfig, Schedule};
use triad_lm::tch::{self, Tensor};

/// AdamW (decoupled weight decay, bias-corrected moments, as `torch.optim.AdamW`) or SGD with
/// optional momentum.
pub struct Optimizer {
    cfg: OptConfig,
    params: Vec<Tensor>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    pub step: u64,
}

impl Optimizer {
    pub fn new(cfg: OptConfig, params: Vec<Tensor>) -> Self {
        let zeros = |p: &Tensor| p.zeros_like();
        let m = params.iter().map(zeros).collect();
        let v = if cfg.name == "adamw" {
            params.iter().map(zeros).collect()
        } else {
            vec![]
        };
        Optimizer {
            cfg,
            params,
            m,
            v,
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
    pub fn apply(&mut self, grads: &[Tensor], lr: f64) {
        self.step += 1;
        let t = self.step as i32;
        let c = &self.cfg;
        tch::no_grad(|| {
            for (i, (p, g)) in self.params.iter().zip(grads).enumerate() {
                let mut p = p.shallow_clone();
                let g = g.to_kind(p.kind());
                if c.name == "adamw" {
                    if c.weight_decay > 0.0 {
                        let _ = p.g_mul_scalar_(1.0 - lr * c.weight_decay);
                    }
                    let (b1, b2) = (c.betas[0], c.betas[1]);
                    let _ = self.m[i].g_mul_scalar_(b1).g_add_(&(&g * (1.0 - b1)));
                    let _ = self.v[i].g_mul_scalar_(b2).g_add_(&(&g * &g * (1.0 - b2)));
                    let m_hat = &self.m[i] / (1.0 - b1.powi(t));
                    let v_hat = &self.v[i] / (1.0 - b2.powi(t));
                    let _ = p.g_sub_(&(m_hat / (v_hat.sqrt() + c.eps) * lr));
                } else {
                    let mut d = g + &p * c.weight_decay;
                    if c.momentum > 0.0 {
                        let _ = self.m[i].g_mul_scalar_(c.momentum).g_add_(&d);
                        d = self.m[i].shallow_clone();
                    }
                    let _ = p.g_sub_(&(d * lr));
                }
            }
        });
    }
}

/// Learning rate at optimizer step `step` (0-based) of `total`.
pub fn lr_at(base: f64, s: &Schedule, step: u64, total: u64) -> f64 {
    if step < s.warmup_steps {
        return base * (step + 1) as f64 / s.warmup_steps as f64;
    }
    let span = total.saturating_sub(s.warmup_steps).max(1) as f64;
    let progress = ((step - s.warmup_steps) as f64 / span).min(1.0);
    match s.decay.as_str() {
        "linear" => base * (1.0 - progress),
        "cosine" => base * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        _ => base,
    }
}

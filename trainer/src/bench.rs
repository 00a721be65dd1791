//! Step-time measurement of the four methods on a fixed random batch, for the benchmarks in
//! docs/trainer.md (the same computation as a training step, without data loading).

use crate::config::{LoraConfig, Method, Optimizer as OptConfig};
use crate::data::Batch;
use crate::dp::step::{clipped_gradient, privatise};
use crate::error::Result;
use crate::optim::Optimizer;
use std::time::Instant;
use triad_lm::tch::{self, Kind, Tensor};
use triad_lm::CausalLm;

#[derive(Debug, Clone, serde::Serialize)]
pub struct StepTiming {
    pub method: Method,
    pub batch: i64,
    pub seq: i64,
    pub steps: usize,
    pub s_per_step: f64,
    pub tokens_per_s: f64,
    pub trainable_parameters: i64,
    pub loss: f64,
}

/// Time `steps` optimizer steps (after `warmup`) of `method` on one random `[batch, seq]` batch.
pub fn time_steps(
    mut model: CausalLm,
    method: Method,
    lora: &LoraConfig,
    batch: i64,
    seq: i64,
    warmup: usize,
    steps: usize,
) -> Result<StepTiming> {
    tch::manual_seed(0);
    let named = crate::lora::trainable(&mut model, method, lora, 0)?;
    let trainable = named.iter().map(|(_, t)| t.numel() as i64).sum();
    let params: Vec<Tensor> = named.iter().map(|(_, t)| t.shallow_clone()).collect();
    let opt_cfg = OptConfig {
        name: crate::config::OptimizerName::Adamw,
        lr: 1e-5,
        weight_decay: 0.0,
        betas: [0.9, 0.999],
        eps: 1e-8,
        momentum: 0.0,
    };
    let mut opt = Optimizer::new(opt_cfg, params);
    let ids = Tensor::randint(
        model.cfg.vocab_size,
        [batch, seq],
        (Kind::Int64, model.device()),
    );
    let b = Batch {
        mask: Tensor::ones([batch, seq - 1], (Kind::Float, model.device())),
        ids,
        tokens: (batch * seq) as usize,
        targets: (batch * (seq - 1)) as usize,
    };
    let mut loss = f64::NAN;
    let mut step = |loss: &mut f64| {
        let grads: Vec<Tensor> = if method.is_private() {
            let c = clipped_gradient(&model, &b, &named, 1.0);
            *loss = c.loss;
            let noisy = privatise(&c.sums, 1.0, 1.0, batch as f64);
            named
                .iter()
                .map(|(n, _)| noisy[n].shallow_clone())
                .collect()
        } else {
            let logits =
                crate::amp::maybe_autocast(model.device(), || model.forward(&b.ids, None, None));
            let l = (crate::data::token_losses(&logits, &b.ids) * &b.mask).mean(Kind::Float);
            l.backward();
            *loss = l.double_value(&[]);
            opt.params().iter().map(|p| p.grad()).collect()
        };
        opt.apply(&grads, 1e-5);
        if !method.is_private() {
            crate::run::zero_grads(&opt);
        }
        // Finish queued work before reading the clock (CUDA is asynchronous).
        let _ = opt.params()[0].sum(Kind::Float).double_value(&[]);
    };
    for _ in 0..warmup {
        step(&mut loss);
    }
    let t = Instant::now();
    for _ in 0..steps {
        step(&mut loss);
    }
    let s = t.elapsed().as_secs_f64() / steps.max(1) as f64;
    Ok(StepTiming {
        method,
        batch,
        seq,
        steps,
        s_per_step: s,
        tokens_per_s: (batch * seq) as f64 / s,
        trainable_parameters: trainable,
        loss,
    })
}

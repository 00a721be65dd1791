//! One DP-SGD gradient: per-example clipping of a batch's gradient (book-keeping, one backward
//! pass) and the Gaussian noise on the sum.

use super::ghost::{clip_and_sum, Clipped};
use crate::data::{token_losses, Batch};
use std::collections::{BTreeMap, HashSet};
use triad_lm::tch::{Kind, Tensor};
use triad_lm::CausalLm;

/// Per-example losses `ℓ_i` (mean over the example's target tokens) of a batch, `[B]`.
pub fn per_example_losses(logits: &Tensor, batch: &Batch) -> Tensor {
    let losses = token_losses(logits, &batch.ids) * &batch.mask;
    let n = batch
        .mask
        .sum_dim_intlist(1, false, Kind::Float)
        .clamp_min(1.0);
    losses.sum_dim_intlist(1, false, Kind::Float) / n
}

/// `Σ_i clip_C(∇ℓ_i)` over the batch for the parameters in `params` (name → tensor), without
/// noise. Returns the clipped sums (by name) and the per-example norms.
pub fn clipped_gradient(
    model: &CausalLm,
    batch: &Batch,
    params: &[(String, Tensor)],
    max_norm: f64,
) -> Clipped {
    let names: HashSet<String> = params.iter().map(|(n, _)| n.clone()).collect();
    let shapes: BTreeMap<String, Vec<i64>> =
        params.iter().map(|(n, t)| (n.clone(), t.size())).collect();
    model.start_tape(names);
    let logits =
        crate::amp::maybe_autocast(model.device(), || model.forward(&batch.ids, None, None));
    let ops = model.take_tape();
    let per_example = per_example_losses(&logits, batch);
    let loss = per_example.sum(Kind::Float);
    let outputs: Vec<&Tensor> = ops.iter().map(|o| o.output()).collect();
    let grads = Tensor::run_backward(&[&loss], &outputs, false, false);
    let mut c = clip_and_sum(&ops, &grads, &shapes, batch.ids.size()[0], max_norm);
    c.loss = per_example.mean(Kind::Float).double_value(&[]);
    c
}

/// Add `N(0, (σ·C)²)` to each clipped sum and divide by the expected batch size.
pub fn privatise(
    sums: &BTreeMap<String, Tensor>,
    sigma: f64,
    max_norm: f64,
    expected_batch: f64,
) -> BTreeMap<String, Tensor> {
    sums.iter()
        .map(|(n, s)| {
            let noise = s.randn_like() * (sigma * max_norm);
            (n.clone(), (s + noise) / expected_batch)
        })
        .collect()
}

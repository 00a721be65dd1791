//! One DP-SGD gradient: per-example clipping of a batch's gradient (book-keeping, one backward
//! pass) and the Gaussian noise on the sum.

use super::ghost::{clip_and_sum, Clipped, Groups};
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
    clipped(model, batch, params, max_norm, None)
}

/// User-level: `Σ_u clip_C(∇ L_u)` where `L_u` is the mean loss of user `u`'s examples in the
/// batch (`of[i]`: the user of example `i`, numbered 0..U). Norms are per user.
pub fn clipped_user_gradient(
    model: &CausalLm,
    batch: &Batch,
    params: &[(String, Tensor)],
    max_norm: f64,
    of: &[usize],
) -> Clipped {
    let mut count = vec![0usize; of.iter().map(|&u| u + 1).max().unwrap_or(0)];
    for &u in of {
        count[u] += 1;
    }
    let weights: Vec<f32> = of.iter().map(|&u| 1.0 / count[u] as f32).collect();
    let groups = Groups::new(of, model.device());
    let w = Tensor::from_slice(&weights).to_device(model.device());
    clipped(model, batch, params, max_norm, Some((&groups, &w)))
}

/// One forward and one backward pass; the loss is the sum of per-example losses, each weighted
/// by `1/k` of its user's `k` examples when grouped.
fn clipped(
    model: &CausalLm,
    batch: &Batch,
    params: &[(String, Tensor)],
    max_norm: f64,
    users: Option<(&Groups, &Tensor)>,
) -> Clipped {
    let names: HashSet<String> = params.iter().map(|(n, _)| n.clone()).collect();
    let shapes: BTreeMap<String, Vec<i64>> =
        params.iter().map(|(n, t)| (n.clone(), t.size())).collect();
    model.start_tape(names);
    let logits =
        crate::amp::maybe_autocast(model.device(), || model.forward(&batch.ids, None, None));
    let ops = model.take_tape();
    let per_example = per_example_losses(&logits, batch);
    let loss = match users {
        Some((_, w)) => (&per_example * w).sum(Kind::Float),
        None => per_example.sum(Kind::Float),
    };
    let outputs: Vec<&Tensor> = ops.iter().map(|o| o.output()).collect();
    let grads = Tensor::run_backward(&[&loss], &outputs, false, false);
    let b = batch.ids.size()[0];
    let mut c = clip_and_sum(&ops, &grads, &shapes, b, max_norm, users.map(|u| u.0));
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

//! One optimizer step's gradients: accumulated over micro-batches (non-private), or clipped per
//! example, summed and noised over a Poisson sample (DP-SGD).

use crate::data::{self, Example};
use crate::optim::Optimizer;
use triad_lm::tch::{Device, Kind, Tensor};
use triad_lm::CausalLm;

/// One non-private step over `group` (gradient accumulation); returns (mean loss, gradients).
pub(super) fn nonprivate_step(
    model: &CausalLm,
    opt: &Optimizer,
    group: &[Vec<&Example>],
    device: Device,
    tokens: &mut u64,
) -> (f64, Vec<Tensor>) {
    let targets: usize = group
        .iter()
        .flatten()
        .map(|e| e.target.iter().filter(|&&t| t).count())
        .sum();
    let mut loss_sum = 0.0;
    for micro in group.iter().flat_map(|m| data::length_groups(m)) {
        let batch = data::collate(&micro, device);
        let logits = crate::amp::maybe_autocast(device, || model.forward(&batch.ids, None, None));
        let losses = data::token_losses(&logits, &batch.ids);
        let loss = (losses * &batch.mask).sum(Kind::Float) / targets.max(1) as f64;
        loss.backward();
        loss_sum += loss.double_value(&[]);
        *tokens += batch.tokens as u64;
    }
    // The accumulated gradients themselves (no copy: 1 GB on Gemma-3-270M); the caller zeroes
    // them once the optimizer has used them.
    let grads = opt
        .params()
        .iter()
        .map(|p| {
            let g = p.grad();
            if g.defined() {
                g
            } else {
                p.zeros_like()
            }
        })
        .collect();
    (loss_sum, grads)
}

/// Zero the parameters' accumulated gradients in place, ready for the next step's backward.
pub(crate) fn zero_grads(opt: &Optimizer) {
    for p in opt.params() {
        let mut g = p.grad();
        if g.defined() {
            let _ = g.zero_();
        }
    }
}

/// One DP-SGD step on a Poisson sample: clipped per-example gradients, summed, noised, divided
/// by the expected batch size. Returns (mean per-example loss, gradients in `named` order).
pub(super) fn private_step(
    model: &CausalLm,
    named: &[(String, Tensor)],
    sample: &[&Example],
    p: &crate::dp::plan::Private,
    device: Device,
    tokens: &mut u64,
) -> (f64, Vec<Tensor>) {
    let (sums, loss) = if sample.is_empty() {
        let zeros = named
            .iter()
            .map(|(n, t)| (n.clone(), t.zeros_like().to_kind(Kind::Float)))
            .collect();
        (zeros, f64::NAN)
    } else {
        // Clipping is per example, so summing the groups' clipped sums is the sample's.
        let (mut sums, mut loss) = (std::collections::BTreeMap::new(), 0.0);
        for group in data::length_groups(sample) {
            let batch = data::collate(&group, device);
            *tokens += batch.tokens as u64;
            let c = crate::dp::step::clipped_gradient(model, &batch, named, p.max_grad_norm);
            loss += c.loss * group.len() as f64 / sample.len() as f64;
            for (name, g) in c.sums {
                match sums.get_mut(&name) {
                    Some(acc) => *acc += g,
                    None => {
                        sums.insert(name, g);
                    }
                }
            }
        }
        (sums, loss)
    };
    (loss, noised(named, &sums, p))
}

/// Noise on the clipped sums, divided by the expected units per step, in `named` order.
fn noised(
    named: &[(String, Tensor)],
    sums: &std::collections::BTreeMap<String, Tensor>,
    p: &crate::dp::plan::Private,
) -> Vec<Tensor> {
    let noisy = crate::dp::step::privatise(sums, p.sigma, p.max_grad_norm, p.q * p.n as f64);
    named
        .iter()
        .map(|(n, t)| {
            noisy
                .get(n)
                .map(|g| g.shallow_clone())
                .unwrap_or_else(|| t.zeros_like())
        })
        .collect()
}

/// Records per forward pass of a user-level step (more when one user has more).
const USER_CHUNK_RECORDS: usize = 32;

/// One user-level DP-SGD step: each sampled user's mean gradient clipped as a whole, summed,
/// noised, divided by the expected users per step. A user's records always share a pass (the
/// norm needs their cross terms); users go longest record first, in chunks of about
/// [`USER_CHUNK_RECORDS`] records. Returns (mean per-record loss, gradients in `named` order).
pub(super) fn private_user_step(
    model: &CausalLm,
    named: &[(String, Tensor)],
    users: &[Vec<&Example>],
    p: &crate::dp::plan::Private,
    device: Device,
) -> (f64, Vec<Tensor>) {
    let mut sums: std::collections::BTreeMap<String, Tensor> = named
        .iter()
        .map(|(n, t)| (n.clone(), t.zeros_like().to_kind(Kind::Float)))
        .collect();
    let mut order: Vec<&Vec<&Example>> = users.iter().filter(|u| !u.is_empty()).collect();
    order.sort_by_key(|u| std::cmp::Reverse(u.iter().map(|e| e.ids.len()).max()));
    let records: usize = order.iter().map(|u| u.len()).sum();
    let mut loss = if records == 0 { f64::NAN } else { 0.0 };
    let mut chunk: Vec<&Vec<&Example>> = vec![];
    let mut flush = |chunk: &mut Vec<&Vec<&Example>>| {
        let flat: Vec<&Example> = chunk.iter().flat_map(|u| u.iter().copied()).collect();
        let of: Vec<usize> = chunk
            .iter()
            .enumerate()
            .flat_map(|(k, u)| std::iter::repeat_n(k, u.len()))
            .collect();
        let batch = data::collate(&flat, device);
        let c = crate::dp::step::clipped_user_gradient(model, &batch, named, p.max_grad_norm, &of);
        loss += c.loss * flat.len() as f64 / records as f64;
        for (name, g) in c.sums {
            if let Some(acc) = sums.get_mut(&name) {
                *acc += g;
            }
        }
        chunk.clear();
    };
    for u in order {
        let held: usize = chunk.iter().map(|u| u.len()).sum();
        if !chunk.is_empty() && held + u.len() > USER_CHUNK_RECORDS {
            flush(&mut chunk);
        }
        chunk.push(u);
    }
    if !chunk.is_empty() {
        flush(&mut chunk);
    }
    (loss, noised(named, &sums, p))
}

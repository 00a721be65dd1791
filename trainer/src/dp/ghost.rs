//! Per-example gradient norms and the clipped gradient sum of a batch, from the activations and
//! output gradients of each parametrised op (ghost clipping with book-keeping: Li et al. 2022,
//! Bu et al. 2023) — one forward and one backward pass, no per-example loop, and no per-example
//! copy of a large matrix.
//!
//! For a linear op `o = x·Wᵀ` the per-example gradient is `G_i = Σ_t g_{i,t} x_{i,t}ᵀ`, so
//! `⟨G_a, G_b⟩_i = Σ_{t,s} (g_a·g_b)(x_a·x_b)`: two `T×T` Gram matrices instead of an `out×in`
//! matrix per example. Small matrices (LoRA factors) are cheaper to materialise per example,
//! which is done when `in·out ≤ T·(in+out)`. An embedding's gradient is a scatter of its output
//! gradients, so its Gram carries an "equal token id" mask; a tied embedding also gets the LM
//! head's gradient, and the cross term between the two is computed exactly.

use std::collections::BTreeMap;
use triad_lm::models::transformer::TapeOp;
use triad_lm::tch::{Kind, Tensor};

/// One op's share of a parameter's per-example gradient.
enum Part {
    /// `G_i = Σ_t g_tᵀ x_t` with x `[B,T,in]`, g `[B,T,out]`.
    Linear { x: Tensor, g: Tensor },
    /// `G_i = Σ_t onehot(ids_t) g_tᵀ`, ids `[B,T]`, g `[B,T,H]`, `rows` = vocabulary.
    Embed { ids: Tensor, g: Tensor },
    /// Per-example gradients, materialised: `[B, *param shape]`.
    Direct(Tensor),
}

fn f32(t: &Tensor) -> Tensor {
    t.detach().to_kind(Kind::Float)
}

/// Group the recorded ops by parameter. `grads[k]` is dL/d(output of op k).
fn parts(ops: &[TapeOp], grads: &[Tensor]) -> BTreeMap<String, Vec<Part>> {
    let mut by: BTreeMap<String, Vec<Part>> = BTreeMap::new();
    for (op, g) in ops.iter().zip(grads) {
        if !g.defined() {
            continue; // the op did not influence the loss
        }
        let g = f32(g);
        match op {
            TapeOp::Linear {
                weight,
                bias,
                input,
                ..
            } => {
                let x = f32(input);
                let (t, inp, out) = (x.size()[1], x.size()[2], g.size()[2]);
                if let Some(b) = bias {
                    by.entry(b.clone())
                        .or_default()
                        .push(Part::Direct(g.sum_dim_intlist(1, false, Kind::Float)));
                }
                let part = if inp * out <= t * (inp + out) {
                    Part::Direct(Tensor::einsum("bto,bti->boi", &[&g, &x], None::<i64>))
                } else {
                    Part::Linear { x, g }
                };
                by.entry(weight.clone()).or_default().push(part);
            }
            TapeOp::Embedding { weight, ids, .. } => {
                by.entry(weight.clone()).or_default().push(Part::Embed {
                    ids: ids.shallow_clone(),
                    g,
                });
            }
            TapeOp::Scale {
                weight,
                bias,
                normalized,
                ..
            } => {
                // A per-head norm (QK-norm) sees `[B, T, heads, D]`: every position and head
                // is one use of the `[D]` weight.
                let (b, d) = (g.size()[0], *g.size().last().expect("norm output"));
                let (g, n) = (g.reshape([b, -1, d]), f32(normalized).reshape([b, -1, d]));
                by.entry(weight.clone()).or_default().push(Part::Direct(
                    (&g * &n).sum_dim_intlist(1, false, Kind::Float),
                ));
                if let Some(bias) = bias {
                    by.entry(bias.clone())
                        .or_default()
                        .push(Part::Direct(g.sum_dim_intlist(1, false, Kind::Float)));
                }
            }
        }
    }
    by
}

/// Σ over the trailing dims → `[B]`.
fn per_example_sum(t: &Tensor) -> Tensor {
    let b = t.size()[0];
    t.reshape([b, -1]).sum_dim_intlist(1, false, Kind::Float)
}

/// `⟨A, B⟩` per example for two parts of one parameter.
fn inner(a: &Part, b: &Part) -> Tensor {
    match (a, b) {
        (Part::Direct(d), Part::Direct(e)) => per_example_sum(&(d * e)),
        (Part::Linear { x: xa, g: ga }, Part::Linear { x: xb, g: gb }) => {
            let gg = ga.bmm(&gb.transpose(1, 2));
            let xx = xa.bmm(&xb.transpose(1, 2));
            per_example_sum(&(gg * xx))
        }
        (Part::Embed { ids: ia, g: ga }, Part::Embed { ids: ib, g: gb }) => {
            let same = ia
                .unsqueeze(2)
                .eq_tensor(&ib.unsqueeze(1))
                .to_kind(Kind::Float);
            per_example_sum(&(ga.bmm(&gb.transpose(1, 2)) * same))
        }
        (Part::Embed { ids, g: ge }, Part::Linear { x, g: gl })
        | (Part::Linear { x, g: gl }, Part::Embed { ids, g: ge }) => {
            // ⟨Σ_t e_{id_t} ge_tᵀ, Σ_s gl_s x_sᵀ⟩ = Σ_{s,t} gl_s[id_t] (x_s · ge_t)
            let (b, s, t) = (gl.size()[0], gl.size()[1], ids.size()[1]);
            let m = gl.gather(2, &ids.unsqueeze(1).expand([b, s, t], false), false);
            per_example_sum(&(m * x.bmm(&ge.transpose(1, 2))))
        }
        (Part::Direct(d), Part::Linear { x, g }) | (Part::Linear { x, g }, Part::Direct(d)) => {
            // Σ_t g_tᵀ D x_t
            per_example_sum(&(g * x.bmm(&d.transpose(1, 2))))
        }
        (Part::Direct(d), Part::Embed { ids, g }) | (Part::Embed { ids, g }, Part::Direct(d)) => {
            let h = d.size()[2];
            let (b, t) = (ids.size()[0], ids.size()[1]);
            let rows = d.gather(1, &ids.unsqueeze(2).expand([b, t, h], false), false);
            per_example_sum(&(rows * g))
        }
    }
}

/// `Σ_i c_i G_i` for one part, shaped like the parameter.
fn weighted_sum(part: &Part, c: &Tensor, shape: &[i64]) -> Tensor {
    match part {
        Part::Direct(d) => {
            let mut view = vec![-1];
            view.extend(std::iter::repeat_n(1, d.dim() - 1));
            (d * c.view(view.as_slice())).sum_dim_intlist(0, false, Kind::Float)
        }
        Part::Linear { x, g } => {
            let (out, inp) = (g.size()[2], x.size()[2]);
            (g * c.view([-1, 1, 1]))
                .reshape([-1, out])
                .tr()
                .mm(&x.reshape([-1, inp]))
        }
        Part::Embed { ids, g } => {
            let h = g.size()[2];
            Tensor::zeros(shape, (Kind::Float, g.device())).index_add(
                0,
                &ids.reshape([-1]),
                &(g * c.view([-1, 1, 1])).reshape([-1, h]),
            )
        }
    }
}

/// The result of clipping one batch.
pub struct Clipped {
    /// `Σ_i min(1, C/‖G_i‖) G_i` per parameter name (fp32).
    pub sums: BTreeMap<String, Tensor>,
    /// `‖G_i‖` per example, before clipping.
    pub norms: Tensor,
    /// Mean per-example loss (filled in by the caller that computed it).
    pub loss: f64,
}

/// Clip every example's whole gradient (all recorded parameters together) to `max_norm` and
/// sum. `shapes` gives each parameter's shape; `batch` the number of examples.
pub fn clip_and_sum(
    ops: &[TapeOp],
    grads: &[Tensor],
    shapes: &BTreeMap<String, Vec<i64>>,
    batch: i64,
    max_norm: f64,
) -> Clipped {
    let by = parts(ops, grads);
    let device = grads
        .iter()
        .find(|g| g.defined())
        .map(|g| g.device())
        .unwrap_or(triad_lm::tch::Device::Cpu);
    let mut sq = Tensor::zeros([batch], (Kind::Float, device));
    for ps in by.values() {
        // Materialised parts are summed first; every other pair is an inner product.
        for i in 0..ps.len() {
            for j in i..ps.len() {
                let v = inner(&ps[i], &ps[j]);
                sq += if i == j { v } else { v * 2.0 };
            }
        }
    }
    let norms = sq.clamp_min(0.0).sqrt();
    let c = (max_norm / (&norms + 1e-6)).clamp_max(1.0);
    let mut sums = BTreeMap::new();
    for (name, ps) in &by {
        let shape = &shapes[name];
        let mut total = Tensor::zeros(shape.as_slice(), (Kind::Float, device));
        for p in ps {
            total += weighted_sum(p, &c, shape);
        }
        sums.insert(name.clone(), total);
    }
    Clipped {
        sums,
        norms,
        loss: f64::NAN,
    }
}

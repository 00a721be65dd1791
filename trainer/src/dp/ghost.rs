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

/// Examples grouped into units (users): a unit's gradient is the sum of its examples', so its
/// tokens are simply all of its examples' tokens. Sequences `[B, T, …]` become `[U, K·T, …]`
/// (K: the most examples of any unit; missing ones are zero rows, which add nothing) and
/// materialised per-example gradients are summed per unit. Every norm and clipped sum below
/// is then per unit, cross terms between a unit's examples included, exactly.
pub struct Groups {
    /// `[U·K]` row of each slot in the batch, `B` (a zero row) for an empty slot.
    slots: Tensor,
    /// `[B]` unit of each example.
    of: Tensor,
    units: i64,
}

impl Groups {
    /// `of[i]`: the unit (0..U) of example `i`.
    pub fn new(of: &[usize], device: triad_lm::tch::Device) -> Groups {
        let units = of.iter().map(|&u| u + 1).max().unwrap_or(0);
        let mut rows: Vec<Vec<i64>> = vec![vec![]; units];
        for (i, &u) in of.iter().enumerate() {
            rows[u].push(i as i64);
        }
        let k = rows.iter().map(Vec::len).max().unwrap_or(0);
        let pad = of.len() as i64;
        let slots: Vec<i64> = rows
            .iter()
            .flat_map(|r| {
                r.iter()
                    .copied()
                    .chain(std::iter::repeat_n(pad, k - r.len()))
            })
            .collect();
        let of: Vec<i64> = of.iter().map(|&u| u as i64).collect();
        Groups {
            slots: Tensor::from_slice(&slots).to_device(device),
            of: Tensor::from_slice(&of).to_device(device),
            units: units as i64,
        }
    }

    pub fn units(&self) -> i64 {
        self.units
    }

    /// `[B, T, …]` → `[U, K·T, …]`.
    fn seq(&self, t: &Tensor) -> Tensor {
        let ext = Tensor::cat(&[t, &t.narrow(0, 0, 1).zeros_like()], 0);
        let mut shape = vec![self.units, -1];
        shape.extend_from_slice(&t.size()[2..]);
        ext.index_select(0, &self.slots).reshape(shape.as_slice())
    }

    /// `[B, …]` → `[U, …]`, summed per unit.
    fn sum(&self, d: Tensor) -> Tensor {
        let mut shape = d.size();
        shape[0] = self.units;
        Tensor::zeros(shape.as_slice(), (d.kind(), d.device())).index_add(0, &self.of, &d)
    }
}

/// A per-example (or, with `groups`, per-unit) materialised gradient.
fn direct(d: Tensor, groups: Option<&Groups>) -> Part {
    Part::Direct(match groups {
        Some(g) => g.sum(d),
        None => d,
    })
}

/// Group the recorded ops by parameter. `grads[k]` is dL/d(output of op k).
fn parts(ops: &[TapeOp], grads: &[Tensor], groups: Option<&Groups>) -> BTreeMap<String, Vec<Part>> {
    let seq = |t: Tensor| match groups {
        Some(g) => g.seq(&t),
        None => t,
    };
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
                if let Some(b) = bias {
                    by.entry(b.clone())
                        .or_default()
                        .push(direct(g.sum_dim_intlist(1, false, Kind::Float), groups));
                }
                let (x, g) = (seq(f32(input)), seq(g));
                let (t, inp, out) = (x.size()[1], x.size()[2], g.size()[2]);
                let part = if inp * out <= t * (inp + out) {
                    Part::Direct(Tensor::einsum("bto,bti->boi", &[&g, &x], None::<i64>))
                } else {
                    Part::Linear { x, g }
                };
                by.entry(weight.clone()).or_default().push(part);
            }
            TapeOp::Embedding { weight, ids, .. } => {
                by.entry(weight.clone()).or_default().push(Part::Embed {
                    ids: seq(ids.shallow_clone()),
                    g: seq(g),
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
                by.entry(weight.clone()).or_default().push(direct(
                    (&g * &n).sum_dim_intlist(1, false, Kind::Float),
                    groups,
                ));
                if let Some(bias) = bias {
                    by.entry(bias.clone())
                        .or_default()
                        .push(direct(g.sum_dim_intlist(1, false, Kind::Float), groups));
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
    /// `Σ_i min(1, C/‖G_i‖) G_i` per parameter name (fp32), `i` over examples or units.
    pub sums: BTreeMap<String, Tensor>,
    /// `‖G_i‖` per example (or unit), before clipping.
    pub norms: Tensor,
    /// Mean per-example loss (filled in by the caller that computed it).
    pub loss: f64,
}

/// Clip every example's (with `groups`: every unit's) whole gradient, all recorded parameters
/// together, to `max_norm` and sum. `shapes` gives each parameter's shape; `batch` the
/// number of examples.
pub fn clip_and_sum(
    ops: &[TapeOp],
    grads: &[Tensor],
    shapes: &BTreeMap<String, Vec<i64>>,
    batch: i64,
    max_norm: f64,
    groups: Option<&Groups>,
) -> Clipped {
    let by = parts(ops, grads, groups);
    let batch = groups.map_or(batch, Groups::units);
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

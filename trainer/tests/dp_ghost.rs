//! DP-SGD's clipped gradient sum from one backward pass (ghost norms + book-keeping) must equal
//! the definition — one backward pass per example, clip the whole gradient to C, sum — for every
//! architecture (tied embeddings included), full and LoRA, on a right-padded batch. The same
//! for user-level clipping: a user's gradient is the mean of their examples' gradients, its
//! norm includes the cross terms between them, and it is clipped as a whole.

use triad_lm::tch::{self, Device, Kind, Tensor};
use triad_lm::weights::Weights;
use triad_lm::CausalLm;
use triad_trainer::config::LoraConfig;
use triad_trainer::data::{token_losses, Batch};
use triad_trainer::dp::step::{clipped_gradient, clipped_user_gradient};

fn naive(
    model: &CausalLm,
    params: &[(String, Tensor)],
    ids: &Tensor,
    lengths: &[i64],
    clip: f64,
) -> (Vec<Tensor>, Vec<f64>) {
    let mut sums: Vec<Tensor> = params
        .iter()
        .map(|(_, p)| p.zeros_like().to_kind(Kind::Float))
        .collect();
    let mut norms = vec![];
    for (i, &n) in lengths.iter().enumerate() {
        for (_, p) in params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        let x = ids.narrow(0, i as i64, 1).narrow(1, 0, n);
        let logits = model.forward(&x, None, None);
        token_losses(&logits, &x).mean(Kind::Float).backward();
        let grads: Vec<Tensor> = params
            .iter()
            .map(|(_, p)| {
                let g = p.grad();
                if g.defined() {
                    g.to_kind(Kind::Float)
                } else {
                    p.zeros_like().to_kind(Kind::Float)
                }
            })
            .collect();
        let norm = grads
            .iter()
            .map(|g| g.pow_tensor_scalar(2).sum(Kind::Float).double_value(&[]))
            .sum::<f64>()
            .sqrt();
        let c = (clip / (norm + 1e-6)).min(1.0);
        for (s, g) in sums.iter_mut().zip(&grads) {
            *s += g * c;
        }
        norms.push(norm);
    }
    (sums, norms)
}

/// The definition of user-level clipping: per user, the gradient of the mean of their
/// examples' losses (one backward pass per example), its whole norm, clipped, summed.
fn naive_users(
    model: &CausalLm,
    params: &[(String, Tensor)],
    ids: &Tensor,
    lengths: &[i64],
    of: &[usize],
    clip: f64,
) -> (Vec<Tensor>, Vec<f64>) {
    let users = of.iter().max().unwrap() + 1;
    let mut sums: Vec<Tensor> = params
        .iter()
        .map(|(_, p)| p.zeros_like().to_kind(Kind::Float))
        .collect();
    let mut norms = vec![];
    for u in 0..users {
        let mine: Vec<usize> = (0..of.len()).filter(|&i| of[i] == u).collect();
        for (_, p) in params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        for &i in &mine {
            let x = ids.narrow(0, i as i64, 1).narrow(1, 0, lengths[i]);
            let logits = model.forward(&x, None, None);
            (token_losses(&logits, &x).mean(Kind::Float) / mine.len() as f64).backward();
        }
        let grads: Vec<Tensor> = params
            .iter()
            .map(|(_, p)| {
                let g = p.grad();
                if g.defined() {
                    g.to_kind(Kind::Float)
                } else {
                    p.zeros_like().to_kind(Kind::Float)
                }
            })
            .collect();
        let norm = grads
            .iter()
            .map(|g| g.pow_tensor_scalar(2).sum(Kind::Float).double_value(&[]))
            .sum::<f64>()
            .sqrt();
        let c = (clip / (norm + 1e-6)).min(1.0);
        for (s, g) in sums.iter_mut().zip(&grads) {
            *s += g * c;
        }
        norms.push(norm);
    }
    (sums, norms)
}

/// Relative distance between two sets of sums (by parameter order).
fn rel_error(
    params: &[(String, Tensor)],
    got: &std::collections::BTreeMap<String, Tensor>,
    want: &[Tensor],
) -> f64 {
    let (mut diff, mut total) = (0.0, 0.0);
    for ((pname, _), w) in params.iter().zip(want) {
        let g = &got[pname];
        diff += (g - w)
            .pow_tensor_scalar(2)
            .sum(Kind::Float)
            .double_value(&[]);
        total += w.pow_tensor_scalar(2).sum(Kind::Float).double_value(&[]);
    }
    (diff / total).sqrt()
}

/// User-level clipping on a batch of four examples (the fixture's three and a copy of the
/// first, so a user repeats a record exactly as a repeat customer repeats a secret) in two
/// users of two: norms and clipped sums against [`naive_users`].
fn check_users(
    name: &str,
    model: &CausalLm,
    params: &[(String, Tensor)],
    ids: &Tensor,
    mask: &Tensor,
) -> f64 {
    let ids = Tensor::cat(&[ids, &ids.narrow(0, 0, 1)], 0);
    let mask = Tensor::cat(&[mask, &mask.narrow(0, 0, 1)], 0);
    let lengths: Vec<i64> =
        Vec::<i64>::try_from(&mask.sum_dim_intlist(1, false, Kind::Int64)).unwrap();
    let of = [0usize, 1, 1, 0];
    let batch = Batch {
        ids: ids.shallow_clone(),
        mask: mask.narrow(1, 1, mask.size()[1] - 1).to_kind(Kind::Float),
        tokens: 0,
        targets: 0,
    };
    let (_, raw) = naive_users(model, params, &ids, &lengths, &of, f64::INFINITY);
    let clip = (raw[0] + raw[1]) / 2.0;
    let ghost = clipped_user_gradient(model, &batch, params, clip, &of);
    let (want, _) = naive_users(model, params, &ids, &lengths, &of, clip);
    let got: Vec<f64> = Vec::<f64>::try_from(&ghost.norms.to_kind(Kind::Double)).unwrap();
    assert_eq!(got.len(), 2, "{name}: one norm per user");
    for (a, b) in got.iter().zip(&raw) {
        assert!(
            (a - b).abs() <= 1e-4 * b,
            "{name}: per-user norm {a} vs {b}"
        );
    }
    // The cross terms matter: a user's norm is not the root of their examples' squared norms.
    let (_, single) = naive(model, params, &ids, &lengths, f64::INFINITY);
    let no_cross = ((single[0] / 2.0).powi(2) + (single[3] / 2.0).powi(2)).sqrt();
    assert!(
        (raw[0] - no_cross).abs() > 1e-3 * raw[0],
        "{name}: no cross term to test"
    );
    let rel = rel_error(params, &ghost.sums, &want);
    println!("{name:36} users: clip {clip:.3}  norms {raw:.3?}  relative error {rel:.2e}");
    rel
}

fn check(
    name: &str,
    model: &CausalLm,
    params: &[(String, Tensor)],
    ids: &Tensor,
    mask: &Tensor,
) -> f64 {
    let lengths: Vec<i64> =
        Vec::<i64>::try_from(&mask.sum_dim_intlist(1, false, Kind::Int64)).unwrap();
    let target = mask.narrow(1, 1, mask.size()[1] - 1).to_kind(Kind::Float);
    let batch = Batch {
        ids: ids.shallow_clone(),
        mask: target,
        tokens: 0,
        targets: 0,
    };
    // First the unclipped norms, then a bound that clips some examples and not others.
    let (_, raw) = naive(model, params, ids, &lengths, f64::INFINITY);
    let mut sorted = raw.clone();
    sorted.sort_by(f64::total_cmp);
    let clip = (sorted[0] + sorted[1]) / 2.0;
    let ghost = clipped_gradient(model, &batch, params, clip);
    let (want, _) = naive(model, params, ids, &lengths, clip);
    let got_norms: Vec<f64> = Vec::<f64>::try_from(&ghost.norms.to_kind(Kind::Double)).unwrap();
    for (a, b) in got_norms.iter().zip(&raw) {
        assert!(
            (a - b).abs() <= 1e-4 * b,
            "{name}: per-example norm {a} vs {b}"
        );
    }
    let rel = rel_error(params, &ghost.sums, &want);
    println!("{name:36} clip {clip:.3}  norms {raw:.3?}  relative error {rel:.2e}");
    rel.max(check_users(name, model, params, ids, mask))
}

#[test]
fn ghost_clipping_equals_per_example_clipping() {
    let tmp = tempfile::tempdir().unwrap();
    triad_tests::run_oracle("tiny_models.py", &[tmp.path().to_str().unwrap()]);
    let names: Vec<String> =
        serde_json::from_slice(&std::fs::read(tmp.path().join("index.json")).unwrap()).unwrap();
    let mut worst: f64 = 0.0;
    for name in &names {
        let dir = tmp.path().join(name);
        let mut r = Weights::empty(&dir);
        r.extend_from_file(
            &dir.join("reference.safetensors"),
            Kind::Float,
            Device::Cpu,
            "",
        )
        .unwrap();
        let ids = r.take("input_ids_right", &[3, 12]).unwrap();
        let mask = r.take("mask_right", &[3, 12]).unwrap();

        let model = CausalLm::load(&dir, Kind::Float, Device::Cpu).unwrap();
        let params: Vec<(String, Tensor)> = model
            .named_parameters()
            .iter()
            .map(|(n, t)| (n.clone(), t.set_requires_grad(true)))
            .collect();
        worst = worst.max(check(&format!("{name} full"), &model, &params, &ids, &mask));

        let mut model = CausalLm::load(&dir, Kind::Float, Device::Cpu).unwrap();
        let targets = if name.starts_with("neox") {
            vec!["query_key_value".to_string(), "dense_4h_to_h".to_string()]
        } else if name.starts_with("phi3") {
            vec!["qkv_proj".to_string(), "gate_up_proj".to_string()]
        } else {
            vec![
                "q_proj".to_string(),
                "v_proj".to_string(),
                "down_proj".to_string(),
            ]
        };
        let cfg = LoraConfig {
            r: 4,
            alpha: 8.0,
            dropout: 0.0,
            target_modules: targets,
            use_rslora: false,
        };
        let params = triad_trainer::lora::attach(&mut model, &cfg, 1).unwrap();
        tch::no_grad(|| {
            for (n, p) in &params {
                if n.ends_with("lora_B.weight") {
                    p.shallow_clone().copy_(&(p.randn_like() * 0.3));
                }
            }
        });
        worst = worst.max(check(&format!("{name} lora"), &model, &params, &ids, &mask));
    }
    assert!(worst <= 1e-4, "worst relative error {worst:e}");
}

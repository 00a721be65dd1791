//! Logits of tiny random models built by transformers (every architecture, several configs each)
//! must match Triad's forward pass on padded batches: max |Δ| ≤ 1e-4 in fp32.

use triad_tests as common;

use std::path::Path;
use tch::{Device, Kind, Tensor};
use triad_lm::weights::Weights;
use triad_lm::CausalLm;

fn reference(dir: &Path) -> Weights {
    let mut w = Weights::empty(dir);
    w.extend_from_file(
        &dir.join("reference.safetensors"),
        Kind::Float,
        Device::Cpu,
        "",
    )
    .unwrap();
    w
}

fn max_diff_on_real_tokens(ours: &Tensor, theirs: &Tensor, mask: &Tensor) -> f64 {
    let m = mask.to_kind(Kind::Float).unsqueeze(-1);
    ((ours - theirs).abs() * m).max().double_value(&[])
}

#[test]
fn logits_match_transformers_for_every_architecture() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    common::run_oracle("tiny_models.py", &[out]);
    let names: Vec<String> =
        serde_json::from_slice(&std::fs::read(tmp.path().join("index.json")).unwrap()).unwrap();
    assert!(names.len() >= 10, "oracle built {} models", names.len());
    let mut failures = vec![];
    for name in &names {
        let dir = tmp.path().join(name);
        let model = CausalLm::load(&dir, Kind::Float, Device::Cpu)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut r = reference(&dir);
        for side in ["right", "left"] {
            let ids = r.take(&format!("input_ids_{side}"), &[3, 12]).unwrap();
            let mask = r.take(&format!("mask_{side}"), &[3, 12]).unwrap();
            let want = r
                .take(&format!("logits_{side}"), &[3, 12, model.cfg.vocab_size])
                .unwrap();
            let got = tch::no_grad(|| model.forward(&ids, Some(&mask), None));
            let d = max_diff_on_real_tokens(&got, &want, &mask);
            println!("{name:28} {side:5} fp32 max|Δ| = {d:.2e}");
            if d.is_nan() || d > 1e-4 {
                failures.push(format!("{name} {side}: {d:e}"));
            }
            if side == "right" {
                // Right padding needs no mask at all: the fast path must agree too.
                let fast = tch::no_grad(|| model.forward(&ids, None, None));
                let d = max_diff_on_real_tokens(&fast, &want, &mask);
                if d.is_nan() || d > 1e-4 {
                    failures.push(format!("{name} right, no mask: {d:e}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "logit mismatches: {failures:?}");
}

#[test]
fn bf16_forward_tracks_fp32() {
    let tmp = tempfile::tempdir().unwrap();
    common::run_oracle("tiny_models.py", &[tmp.path().to_str().unwrap()]);
    for name in ["llama-gqa2-untied", "neox-parallel-rot25", "gemma-mqa-hd16"] {
        let dir = tmp.path().join(name);
        let model = CausalLm::load(&dir, Kind::BFloat16, Device::Cpu).unwrap();
        let mut r = reference(&dir);
        let ids = r.take("input_ids_right", &[3, 12]).unwrap();
        let mask = r.take("mask_right", &[3, 12]).unwrap();
        let want = r
            .take("logits_right", &[3, 12, model.cfg.vocab_size])
            .unwrap();
        let got = tch::no_grad(|| model.forward(&ids, Some(&mask), None)).to_kind(Kind::Float);
        assert_eq!(got.kind(), Kind::Float);
        let d = max_diff_on_real_tokens(&got, &want, &mask);
        let scale = want.abs().max().double_value(&[]);
        println!("{name} bf16 max|Δ| = {d:.3} (max |logit| {scale:.2})");
        assert!(
            d < 0.05 * scale.max(1.0),
            "{name}: bf16 drifted {d} from fp32"
        );
    }
}

#[test]
fn peft_lora_adapters_merge_to_peft_logits() {
    let tmp = tempfile::tempdir().unwrap();
    common::run_oracle("tiny_lora.py", &[tmp.path().to_str().unwrap()]);
    let base_dir = tmp.path().join("base");
    for name in ["lora-qv", "rslora-all"] {
        let dir = tmp.path().join(name);
        let cfg = triad_lm::ModelConfig::from_file(base_dir.join("config.json")).unwrap();
        let mut w = Weights::load_dir(&base_dir, Kind::Float, Device::Cpu).unwrap();
        let merged = triad_lm::adapter::merge_into(&mut w, &dir).unwrap();
        assert!(merged >= 4, "{name}: merged only {merged} matrices");
        let model = CausalLm::from_weights(cfg, w, Kind::Float, Device::Cpu).unwrap();
        let mut r = reference(&dir);
        let ids = r.take("input_ids", &[2, 10]).unwrap();
        let want = r.take("logits", &[2, 10, 97]).unwrap();
        let got = tch::no_grad(|| model.forward(&ids, None, None));
        let d = (got - &want).abs().max().double_value(&[]);
        println!("{name}: max|Δ| vs PEFT = {d:.2e}");
        assert!(d <= 1e-4, "{name}: {d}");
        // Without the adapter the logits must differ: the test would catch a no-op merge.
        let plain = CausalLm::load(&base_dir, Kind::Float, Device::Cpu).unwrap();
        let d0 = (tch::no_grad(|| plain.forward(&ids, None, None)) - &want)
            .abs()
            .max()
            .double_value(&[]);
        assert!(d0 > 1e-2, "{name}: adapter has no effect ({d0})");
    }
}

/// GPU-only: the same parity on CUDA (fp32; TF32 is off by default in libtorch matmuls).
/// Run with `cargo test --release -p triad-lm --test hf_parity -- --ignored` on a GPU machine.
#[test]
#[ignore = "needs a CUDA device"]
fn logits_match_transformers_on_cuda() {
    assert!(
        tch::Cuda::is_available(),
        "no CUDA device visible to libtorch"
    );
    let tmp = tempfile::tempdir().unwrap();
    common::run_oracle("tiny_models.py", &[tmp.path().to_str().unwrap()]);
    for name in [
        "llama-gqa2-untied",
        "qwen2-gqa2-untied",
        "gemma-mqa-hd16",
        "neox-parallel-rot25",
    ] {
        let dir = tmp.path().join(name);
        let model = CausalLm::load(&dir, Kind::Float, Device::Cuda(0)).unwrap();
        let mut r = reference(&dir);
        for side in ["right", "left"] {
            let ids = r
                .take(&format!("input_ids_{side}"), &[3, 12])
                .unwrap()
                .to_device(Device::Cuda(0));
            let mask = r
                .take(&format!("mask_{side}"), &[3, 12])
                .unwrap()
                .to_device(Device::Cuda(0));
            let want = r
                .take(&format!("logits_{side}"), &[3, 12, model.cfg.vocab_size])
                .unwrap()
                .to_device(Device::Cuda(0));
            let got = tch::no_grad(|| model.forward(&ids, Some(&mask), None));
            let d = max_diff_on_real_tokens(&got, &want, &mask);
            println!("{name:28} {side:5} cuda fp32 max|Δ| = {d:.2e}");
            assert!(d <= 1e-4, "{name} {side}: {d}");
        }
    }
}

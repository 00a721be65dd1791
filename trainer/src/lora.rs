//! LoRA adapters on a loaded model, and PEFT's on-disk format for them.

use crate::config::LoraConfig;
use crate::error::{Result, TrainError};
use std::collections::BTreeMap;
use std::path::Path;
use triad_lm::nn::layers::Lora;
use triad_lm::tch::{self, Kind, Tensor};
use triad_lm::weights::{write_safetensors, RawTensor};
use triad_lm::CausalLm;

/// PEFT matches `target_modules` entries against the last component of a module name.
fn targeted(name: &str, targets: &[String]) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    targets
        .iter()
        .any(|t| t == last || name == t || name.ends_with(&format!(".{t}")))
}

/// Attach fresh adapters as PEFT initialises them (A ~ U(±1/√in), B = 0); freeze nothing here.
/// Returns the trainable tensors (A, B pairs) in module order, under PEFT's names
/// (`{module}.lora_A.weight`, `{module}.lora_B.weight`).
pub fn attach(model: &mut CausalLm, cfg: &LoraConfig, seed: u64) -> Result<Vec<(String, Tensor)>> {
    tch::manual_seed(seed as i64);
    let defaults = LoraConfig::default().target_modules;
    let targets: Vec<String> = if cfg.target_modules == defaults
        && !model.linears().iter().any(|l| targeted(&l.name, &defaults))
    {
        // Left at the default on a family without q/v projections: PEFT's per-family default.
        let family = model.cfg.arch.peft_default_targets();
        family.iter().map(|s| s.to_string()).collect()
    } else {
        cfg.target_modules.clone()
    };
    let (kind, device) = (model.kind(), model.device());
    let mut params = vec![];
    let mut names = vec![];
    for lin in model.linears_mut() {
        if !targeted(&lin.name, &targets) {
            continue;
        }
        let (out, inp) = lin.weight.size2()?;
        // A rank above the layer's smaller side adds nothing a full update lacks, and a huge
        // one is an allocation libtorch cannot make.
        if cfg.r > out.min(inp) {
            return Err(TrainError::Invalid(format!(
                "lora.r = {} exceeds the smaller side of `{}` ({out} × {inp}); use at most {}",
                cfg.r,
                lin.name,
                out.min(inp)
            )));
        }
        let bound = 1.0 / (inp as f64).sqrt();
        let a = (Tensor::rand([cfg.r, inp], (Kind::Float, device)) * (2.0 * bound) - bound)
            .to_kind(kind)
            .set_requires_grad(true);
        let b = Tensor::zeros([out, cfg.r], (kind, device)).set_requires_grad(true);
        params.push((format!("{}.lora_A.weight", lin.name), a.shallow_clone()));
        params.push((format!("{}.lora_B.weight", lin.name), b.shallow_clone()));
        names.push(lin.name.clone());
        lin.lora = Some(Lora {
            a,
            b,
            scale: cfg.scale(),
            dropout: cfg.dropout,
            training: true,
        });
    }
    if params.is_empty() {
        return Err(TrainError::Invalid(format!(
            "lora.target_modules {:?} match no linear layer of this model (e.g. {})",
            cfg.target_modules,
            model
                .linears()
                .iter()
                .take(4)
                .map(|l| l.name.rsplit('.').next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    tracing::info!(modules = names.len(), "attached LoRA adapters");
    Ok(params)
}

/// The tensors a method trains, by name: fresh adapters for LoRA methods, every base weight
/// (now requiring gradients) otherwise.
pub fn trainable(
    model: &mut CausalLm,
    method: crate::config::Method,
    cfg: &LoraConfig,
    seed: u64,
) -> Result<Vec<(String, Tensor)>> {
    if method.uses_lora() {
        attach(model, cfg, seed)
    } else {
        Ok(model
            .named_parameters()
            .iter()
            .map(|(n, t)| (n.clone(), t.set_requires_grad(true)))
            .collect())
    }
}

/// Write `adapter_config.json` and `adapter_model.safetensors` as PEFT saves them.
pub fn save_adapter(model: &CausalLm, cfg: &LoraConfig, base: &Path, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    let mut tensors = BTreeMap::new();
    for lin in model.linears() {
        if let Some(l) = &lin.lora {
            for (suffix, t) in [("lora_A", &l.a), ("lora_B", &l.b)] {
                tensors.insert(
                    format!("base_model.model.{}.{suffix}.weight", lin.name),
                    RawTensor::from_tensor(&t.detach())?,
                );
            }
        }
    }
    write_safetensors(&dir.join("adapter_model.safetensors"), &tensors)?;
    // What was adapted, which differs from the config when the family's default applied.
    let targets: std::collections::BTreeSet<&str> = model
        .linears()
        .into_iter()
        .filter(|l| l.lora.is_some())
        .map(|l| l.name.rsplit('.').next().unwrap_or(&l.name))
        .collect();
    let config = serde_json::json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base.to_string_lossy(),
        "r": cfg.r,
        "lora_alpha": cfg.alpha,
        "lora_dropout": cfg.dropout,
        "target_modules": targets,
        "use_rslora": cfg.use_rslora,
        "bias": "none",
        "fan_in_fan_out": false,
        "inference_mode": true,
        "init_lora_weights": true,
        "modules_to_save": null,
        "use_dora": false,
        "rank_pattern": {},
        "alpha_pattern": {},
    });
    triad_data::fsutil::write_atomic(
        dir.join("adapter_config.json"),
        serde_json::to_string_pretty(&config)
            .expect("json")
            .as_bytes(),
    )?;
    Ok(())
}

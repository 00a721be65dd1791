//! PEFT LoRA adapters (`adapter_config.json` + `adapter_model.safetensors`), merged into the base
//! weights for scoring: `W ← W + s·B·A` with `s = lora_alpha / r` (or `/ √r` with rsLoRA).

use crate::error::{LmError, Result};
use crate::weights::Weights;
use serde_json::Value;
use std::path::Path;
use tch::{Device, Kind};

const PREFIX: &str = "base_model.model.";

/// Merge the adapter in `dir` into `base`. Returns the number of matrices changed.
pub fn merge_into(base: &mut Weights, dir: &Path) -> Result<usize> {
    let cfg_path = dir.join("adapter_config.json");
    let cfg = triad_data::fsutil::read_json(&cfg_path)?;
    let field = |k: &str| cfg.get(k).filter(|v| !v.is_null());
    let peft_type = field("peft_type").and_then(Value::as_str).unwrap_or("LORA");
    if peft_type != "LORA" {
        return Err(LmError::field(
            &cfg_path,
            "peft_type",
            format!("`{peft_type}` is not supported (only LORA)"),
        ));
    }
    for (flag, why) in [
        ("use_dora", "DoRA adapters are not supported"),
        (
            "fan_in_fan_out",
            "fan_in_fan_out (GPT-2 Conv1D) is not supported",
        ),
    ] {
        if field(flag).and_then(Value::as_bool) == Some(true) {
            return Err(LmError::field(&cfg_path, flag, why));
        }
    }
    if let Some(b) = field("bias").and_then(Value::as_str) {
        if b != "none" {
            return Err(LmError::field(
                &cfg_path,
                "bias",
                format!("`{b}` is not supported (only \"none\")"),
            ));
        }
    }
    if field("modules_to_save")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return Err(LmError::field(
            &cfg_path,
            "modules_to_save",
            "not supported",
        ));
    }
    let alpha = field("lora_alpha")
        .and_then(Value::as_f64)
        .ok_or_else(|| LmError::field(&cfg_path, "lora_alpha", "missing or not a number"))?;
    let rslora = field("use_rslora")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let alpha_pattern = field("alpha_pattern")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();

    let file = dir.join("adapter_model.safetensors");
    let mut lora = Weights::empty(&file);
    lora.extend_from_file(&file, Kind::Float, Device::Cpu, PREFIX)?;
    let mut modules: Vec<String> = lora
        .names()
        .filter_map(|n| n.strip_suffix(".lora_A.weight"))
        .map(str::to_owned)
        .collect();
    modules.sort();
    if let Some(other) = lora
        .names()
        .find(|n| !n.ends_with(".lora_A.weight") && !n.ends_with(".lora_B.weight"))
    {
        return Err(LmError::Tensor {
            path: file.clone(),
            name: other.to_string(),
            message: "only lora_A / lora_B weights of linear layers are supported".into(),
        });
    }
    let mut merged = 0;
    for m in &modules {
        let base_name = format!("{m}.weight");
        let w = base.get_mut(&base_name).ok_or_else(|| LmError::Tensor {
            path: file.clone(),
            name: format!("{m}.lora_A.weight"),
            message: format!("targets `{m}`, which the base model does not have"),
        })?;
        let (out, inp) = w.size2().map_err(LmError::from)?;
        let a_name = format!("{m}.lora_A.weight");
        let r = lora_rank(&lora, &a_name, &file)?;
        let a = lora.take(&a_name, &[r, inp])?;
        let b = lora.take(&format!("{m}.lora_B.weight"), &[out, r])?;
        let alpha = alpha_pattern
            .iter()
            .find(|(k, _)| m == *k || m.ends_with(&format!(".{k}")))
            .and_then(|(_, v)| v.as_f64())
            .unwrap_or(alpha);
        let scale = if rslora {
            alpha / (r as f64).sqrt()
        } else {
            alpha / r as f64
        };
        let kind = w.kind();
        let delta = b.matmul(&a) * scale;
        let new = (w.to_kind(Kind::Float) + delta.to_device(w.device())).to_kind(kind);
        *w = new;
        merged += 1;
    }
    if merged == 0 {
        return Err(LmError::invalid(&file, "the adapter holds no LoRA weights"));
    }
    Ok(merged)
}

fn lora_rank(lora: &Weights, a_name: &str, file: &Path) -> Result<i64> {
    lora.shape(a_name)
        .filter(|s| s.len() == 2)
        .map(|s| s[0])
        .ok_or_else(|| LmError::Tensor {
            path: file.to_path_buf(),
            name: a_name.to_string(),
            message: "expected a 2-d lora_A matrix".into(),
        })
}

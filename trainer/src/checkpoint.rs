//! Checkpoints: a Hugging Face folder (full, dp) or a PEFT adapter folder (lora, dp-lora),
//! written into a temporary folder and renamed into place, so a crash never leaves half of one.

use crate::config::{LoraConfig, Method};
use crate::error::{Result, TrainError};
use std::collections::BTreeMap;
use std::path::Path;
use triad_lm::weights::{write_safetensors, RawTensor};
use triad_lm::CausalLm;

pub fn write(
    model: &CausalLm,
    method: Method,
    lora: &LoraConfig,
    base: &Path,
    dir: &Path,
) -> Result<()> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| TrainError::io(parent, e))?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    if method.uses_lora() {
        crate::lora::save_adapter(model, lora, base, &tmp)?;
    } else {
        let mut tensors = BTreeMap::new();
        for (n, t) in model.named_parameters() {
            tensors.insert(n.clone(), RawTensor::from_tensor(&t.detach())?);
        }
        write_safetensors(&tmp.join("model.safetensors"), &tensors)?;
        for f in [
            "config.json",
            "tokenizer.json",
            "tokenizer_config.json",
            "generation_config.json",
        ] {
            let src = base.join(f);
            if src.exists() {
                std::fs::copy(&src, tmp.join(f)).map_err(|e| TrainError::io(&src, e))?;
            }
        }
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| TrainError::io(dir, e))
}

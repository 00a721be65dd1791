//! Checkpoints: a Hugging Face folder (full, dp) or a PEFT adapter folder (lora, dp-lora),
//! written into a temporary folder and renamed into place, so a crash never leaves half of one.

use crate::config::{LoraConfig, Method};
use crate::error::{Result, TrainError};
use std::collections::BTreeMap;
use std::path::Path;
use triad_lm::weights::{write_safetensors, RawTensor};
use triad_lm::CausalLm;

/// Write the checkpoint to `dir`; `extra` adds files (the optimizer state) to the folder before
/// it becomes visible, so a checkpoint folder is always complete.
pub fn write(
    model: &CausalLm,
    method: Method,
    lora: &LoraConfig,
    base: &Path,
    dir: &Path,
    extra: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    write_folder(dir, |tmp| fill(model, method, lora, base, tmp, extra))
}

/// Make `dir` by filling a temporary folder beside it and renaming it into place; a failed
/// fill (a full disk) leaves neither a half-written folder nor its temp folder behind.
fn write_folder(dir: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| TrainError::io(parent, e))?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    remove_stale_temps(parent);
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    let written = fill(&tmp).and_then(|()| {
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
        }
        std::fs::rename(&tmp, dir).map_err(|e| TrainError::io(dir, e))
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    written
}

fn fill(
    model: &CausalLm,
    method: Method,
    lora: &LoraConfig,
    base: &Path,
    tmp: &Path,
    extra: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    if method.uses_lora() {
        crate::lora::save_adapter(model, lora, base, tmp)?;
    } else {
        let mut tensors = BTreeMap::new();
        for (n, t) in model.named_parameters() {
            tensors.insert(n.clone(), RawTensor::from_tensor(&t.detach())?);
        }
        write_safetensors(&tmp.join("model.safetensors"), &tensors)?;
        copy_model_files(base, tmp)?;
    }
    copy_files(base, tmp, &LICENCE_FILES)?;
    extra(tmp)
}

/// What the base model's licence asks to travel with its derivatives, weights and adapters
/// alike, where its folder has them: Gemma's notice and a copy of its terms (written by
/// `triad model import-gguf`); the model card names the copy.
const LICENCE_FILES: [&str; 3] = ["NOTICE", "NOTICE.upstream.md", "GEMMA_TERMS.html"];

/// A full model folder at `dir`: the base model's weights with the LoRA adapter in `adapter`
/// merged in (`W + s·B·A`), and the base's config and tokenizer files.
pub fn write_merged(base: &Path, adapter: &Path, dir: &Path) -> Result<()> {
    let device = triad_lm::tch::Device::Cpu;
    let mut w = triad_lm::weights::Weights::load_dir(base, triad_lm::tch::Kind::Float, device)?;
    triad_lm::adapter::merge_into(&mut w, adapter)?;
    write_folder(dir, |tmp| {
        let names: Vec<String> = w.names().map(str::to_string).collect();
        let mut tensors = BTreeMap::new();
        for n in names {
            let t = w.get_mut(&n).expect("a listed name");
            tensors.insert(n, RawTensor::from_tensor(t)?);
        }
        write_safetensors(&tmp.join("model.safetensors"), &tensors)?;
        copy_model_files(base, tmp)
    })
}

/// The base model's config, tokenizer and generation files, where it has them.
fn copy_model_files(base: &Path, tmp: &Path) -> Result<()> {
    copy_files(
        base,
        tmp,
        &[
            "config.json",
            "tokenizer.json",
            "tokenizer_config.json",
            "generation_config.json",
        ],
    )
}

/// Copy each of `files` that `base` has into `tmp`.
fn copy_files(base: &Path, tmp: &Path, files: &[&str]) -> Result<()> {
    for f in files {
        let src = base.join(f);
        if src.exists() {
            std::fs::copy(&src, tmp.join(f)).map_err(|e| TrainError::io(&src, e))?;
        }
    }
    Ok(())
}

/// Remove `.NAME.tmp-PID` folders in `parent` left by processes that no longer run (a kill
/// during a checkpoint write); a live writer's folder is left alone.
pub fn remove_stale_temps(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix('.')
            .and_then(|n| n.rsplit_once(".tmp-"))
            .and_then(|(_, pid)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists();
        if !alive && e.path().is_dir() {
            match std::fs::remove_dir_all(e.path()) {
                Ok(()) => {
                    tracing::info!(folder = %e.path().display(), "removed a stale checkpoint temp folder")
                }
                Err(err) => tracing::warn!(folder = %e.path().display(), "could not remove: {err}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_failed_write_leaves_no_temp_folder_and_a_good_one_replaces() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("checkpoints/epoch-1");
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        let e = super::write_folder(&dir, |tmp| {
            std::fs::write(tmp.join("model.safetensors"), "half").unwrap();
            Err(crate::TrainError::io(tmp, full))
        });
        assert!(e.is_err());
        let left: Vec<_> = std::fs::read_dir(d.path().join("checkpoints"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
        super::write_folder(&dir, |tmp| {
            std::fs::write(tmp.join("model.safetensors"), "whole").unwrap();
            Ok(())
        })
        .unwrap();
        assert_eq!(
            std::fs::read(dir.join("model.safetensors")).unwrap(),
            b"whole"
        );
    }

    #[test]
    fn stale_temp_folders_go_and_live_ones_stay() {
        let d = tempfile::tempdir().unwrap();
        let dead = d.path().join(".epoch-1.tmp-4000000000");
        let mine = d
            .path()
            .join(format!(".epoch-2.tmp-{}", std::process::id()));
        let other = d.path().join("epoch-1");
        for f in [&dead, &mine, &other] {
            std::fs::create_dir_all(f).unwrap();
        }
        super::remove_stale_temps(d.path());
        assert!(!dead.exists() && mine.exists() && other.exists());
    }
}

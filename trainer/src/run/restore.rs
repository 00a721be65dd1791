//! Optimizer state beside a checkpoint: saved, pruned, and loaded back with the weights when
//! a run resumes.

use super::checkpoint_dir;
use super::record::RunRecord;
use crate::config::Method;
use crate::error::Result;
use crate::optim::Optimizer;
use std::path::Path;
use triad_lm::tch::{self, Device, Kind};
use triad_lm::weights::{RawTensor, Weights};
use triad_lm::CausalLm;

/// Remove `optimizer.safetensors` from the run's checkpoints except epoch `keep`'s. The
/// folders are the run's own (`out/checkpoints/epoch-N`, N from the validated record), never
/// a path read from run.json. A failure costs only disk space, so it is logged, not raised.
pub(super) fn prune_optimizer_state(out: &Path, record: &RunRecord, keep: Option<u64>) {
    for e in record.epochs.iter().filter(|e| e.checkpoint.is_some()) {
        if Some(e.epoch) == keep {
            continue;
        }
        let file = checkpoint_dir(out, e.epoch).join("optimizer.safetensors");
        match std::fs::remove_file(&file) {
            Ok(()) => tracing::debug!(file = %file.display(), "optimizer state pruned"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(file = %file.display(), "could not prune optimizer state: {e}")
            }
        }
    }
}

/// Optimizer moments and step, next to the checkpoint (HF and PEFT ignore the extra file).
pub(super) fn save_optimizer(opt: &Optimizer, dir: &Path) -> Result<()> {
    let mut t = std::collections::BTreeMap::new();
    for (k, (m, v)) in opt.moments().enumerate() {
        t.insert(format!("m.{k}"), RawTensor::from_tensor(m)?);
        if let Some(v) = v {
            t.insert(format!("v.{k}"), RawTensor::from_tensor(v)?);
        }
    }
    t.insert("step".into(), RawTensor::f32(vec![1], &[opt.step as f32]));
    triad_lm::weights::write_safetensors(&dir.join("optimizer.safetensors"), &t)?;
    Ok(())
}

pub(super) fn resume(
    model: &mut CausalLm,
    opt: &mut Optimizer,
    method: Method,
    dir: &Path,
    device: Device,
) -> Result<()> {
    let kind = model.kind();
    tch::no_grad(|| -> Result<()> {
        if method.uses_lora() {
            let file = dir.join("adapter_model.safetensors");
            let mut w = Weights::empty(&file);
            w.extend_from_file(&file, kind, device, "base_model.model.")?;
            for lin in model.linears_mut() {
                if let Some(l) = &mut lin.lora {
                    let a = w.take(&format!("{}.lora_A.weight", lin.name), &l.a.size())?;
                    let b = w.take(&format!("{}.lora_B.weight", lin.name), &l.b.size())?;
                    l.a.copy_(&a);
                    l.b.copy_(&b);
                }
            }
        } else {
            let mut w = Weights::load_dir(dir, kind, device)?;
            for (name, p) in model.named_parameters() {
                let mut p = p.shallow_clone();
                p.copy_(&w.take(name, &p.size())?);
            }
        }
        let file = dir.join("optimizer.safetensors");
        let mut w = Weights::empty(&file);
        w.extend_from_file(&file, Kind::Float, device, "")?;
        let step = w.take("step", &[1])?.double_value(&[0]) as u64;
        opt.load_moments(&mut w, step)
    })
}

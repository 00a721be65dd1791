//! `run.json`: the run record, written after every epoch and read back on resume, and its
//! `triad.v1.RunRecord` message, carried field by field.

use crate::config::{Method, RunConfig};
use crate::error::{Result, TrainError};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LossPoint {
    pub step: u64,
    pub epoch: u64,
    /// Mean loss of the step's batch; `None` for private runs (never published: an unnoised
    /// statistic of the private sample).
    pub loss: Option<f64>,
    pub lr: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: u64,
    pub step: u64,
    /// Mean of the epoch's step losses; `None` for private runs (see `LossPoint::loss`). Never
    /// NaN: JSON has no NaN, and run.json must read back on resume.
    #[serde(default)]
    pub mean_loss: Option<f64>,
    pub checkpoint: Option<String>,
    pub epsilon: Option<f64>,
    /// ε at this epoch under each accountant (DP runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon_rdp: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon_pld: Option<f64>,
}

/// `run.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub status: String,
    pub config: RunConfig,
    pub method: Method,
    pub device: String,
    pub dtype: String,
    pub examples: usize,
    pub total_steps: u64,
    pub steps_done: u64,
    pub trainable_parameters: i64,
    pub total_parameters: i64,
    pub tokens_seen: u64,
    pub wall_time_s: f64,
    pub tokens_per_second: f64,
    /// Peak resident memory of the process (RSS high-water mark).
    pub peak_memory_bytes: Option<u64>,
    /// Peak bytes allocated by libtorch's CUDA allocator (on CUDA only).
    #[serde(default)]
    pub peak_device_memory_bytes: Option<u64>,
    /// ε spent, by `accountant`.
    pub epsilon: Option<f64>,
    /// The accountant of `epsilon` and of the σ search (`dp.accountant`).
    #[serde(default)]
    pub accountant: Option<crate::dp::Accountant>,
    /// ε under each accountant at the last epoch's end (the same steps, σ and q).
    #[serde(default)]
    pub epsilon_rdp: Option<f64>,
    #[serde(default)]
    pub epsilon_pld: Option<f64>,
    pub delta: Option<f64>,
    pub noise_multiplier: Option<f64>,
    pub sampling_rate: Option<f64>,
    pub max_grad_norm: Option<f64>,
    /// Whether a private run's noise and samples came from a secret per-run key (the default);
    /// `false` for a DP run means reproducible noise: ε assumes the seed stays secret.
    #[serde(default)]
    pub secure_rng: bool,
    /// How N (`examples`, q = batch_size / N) is known: `published` (the training file's
    /// record count, treated as public) or `config` (`dp.dataset_size`, a public constant; the
    /// record count is then not published). Private runs only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_size_source: Option<String>,
    /// What `tokens_seen` counts: `sampled` or, for private runs, `expected` (steps × q ×
    /// the training file's tokens: the sample's own count is not published).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_counted: Option<String>,
    pub loss_curve: Vec<LossPoint>,
    pub epochs: Vec<EpochRecord>,
    pub final_checkpoint: Option<String>,
    /// SHA-256 of the training file (`triad_data::fsutil::sha256_file`), binding audits to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_sha256: Option<String>,
    /// The base model's identity (`triad_lm::weights::model_identity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_model_sha256: Option<String>,
    /// What `[scrub]` did to the training text (absent: trained on the file as it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrub: Option<triad_data::scrub::Stats>,
    /// Redact-then-DP's phase 1 (absent for other runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redact: Option<crate::redact::PhaseOne>,
    /// Private runs: what ε protects (a record or a user) and, for a record-level run on data
    /// with users, the bound for the user with the most records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_unit: Option<crate::dp::PrivacyUnit>,
}

impl RunRecord {
    /// The `triad.v1.RunRecord` message this record is (run.json is its JSON form).
    pub fn to_message(&self) -> triad_proto::v1::RunRecord {
        self.into()
    }
}

pub(super) fn write_record(out: &Path, r: &RunRecord) -> Result<()> {
    let text = triad_proto::json::to_file_text(&r.to_message());
    Ok(triad_data::fsutil::write_atomic(
        out.join("run.json"),
        text.as_bytes(),
    )?)
}

/// The record of an earlier attempt at this run, if any. One that does not parse is an error:
/// starting over would forget the steps it took (for DP, privacy already spent).
pub(crate) fn previous_record(out: &Path) -> Result<Option<RunRecord>> {
    let path = out.join("run.json");
    match read_bounded(&path, MAX_RECORD_BYTES) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TrainError::io(&path, e)),
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            TrainError::config(
                path,
                format!(
                    "the record of an earlier attempt does not parse ({e}); move the folder \
                     away to train from scratch"
                ),
            )
        }),
    }
}

/// Largest run.json read back (a million steps' loss curve is about 100 MB).
const MAX_RECORD_BYTES: u64 = 512 << 20;

/// Read `path` (not through a final link) if it is at most `max` bytes.
pub(crate) fn read_bounded(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let mut bytes = vec![];
    f.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("more than {} MiB: not a run record", max >> 20),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_without_a_batch_reads_back_and_a_broken_record_stops_the_run() {
        let e = EpochRecord {
            epoch: 1,
            step: 2,
            mean_loss: None,
            checkpoint: None,
            epsilon: Some(1.0),
            epsilon_rdp: None,
            epsilon_pld: None,
        };
        let json = serde_json::to_string(&e).unwrap();
        // Written as null (as a NaN mean was before), read back as no mean.
        assert!(json.contains("\"mean_loss\":null"), "{json}");
        let back: EpochRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back.mean_loss, None);

        let dir = tempfile::tempdir().unwrap();
        assert!(previous_record(dir.path()).unwrap().is_none());
        std::fs::write(dir.path().join("run.json"), "{\"status\": \"running\"").unwrap();
        let err = previous_record(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("run.json") && err.contains("does not parse"),
            "{err}"
        );
    }

    /// The field-by-field message writes the run.json the record's own JSON form, read as the
    /// message, wrote before it: same text, for a private run with every option set and a
    /// plain one.
    #[test]
    fn the_message_writes_what_the_json_route_wrote() {
        let dp = "model = \"m\"\ntrain_file = \"d.jsonl\"\nmethod = \"dp-lora\"\nepochs = 2\n\
                  loss_on = \"non_sensitive\"\n[optimizer]\nlr = 1e-4\nname = \"sgd\"\n\
                  [schedule]\ndecay = \"cosine\"\n[lora]\nr = 4\n[dp]\nnoise_multiplier = 1.1\n\
                  delta = 1e-6\naccountant = \"rdp\"\ndataset_size = 100\n\
                  [scrub]\nmode = \"mask\"\nspans = \"tagger\"\n";
        let full = dp
            .replace("dp-lora", "full")
            .replace("loss_on", "seed = 3\nloss_on");
        let full = &full[..full.find("[dp]").unwrap()].replace("[lora]\nr = 4\n", "");
        let scrub = serde_json::json!({
            "mode": "mask", "spans": "tagger", "records": 64, "spans_replaced": 120,
            "replaced_by_label": [{"label": "NAME", "count": 70}, {"label": "PHONE", "count": 50}],
            "tagger": {"spans_caught": 100, "spans_labelled": 130, "char_recall": 0.8,
                       "char_precision": 1.0,
                       "by_label": [{"label": "NAME", "caught": 60, "total": 75}]},
            "counts_withheld": false
        });
        // Redact-then-DP: phase 2 is `dp`, phase 1 a LoRA run on text masked by the tagger.
        let redacted = dp
            .replace("dp-lora", "dp")
            .replace("[lora]\nr = 4\n", "")
            .replace("dataset_size = 100\n", "")
            .replace(
                "[scrub]\n",
                "[redact]\nmethod = \"lora\"\nepochs = 1\nlr = 1e-3\n[redact.scrub]\n",
            );
        for cfg in [dp, full, &redacted] {
            let cfg = crate::RunConfig::from_toml(cfg, Path::new("run.toml")).unwrap();
            let mut v = serde_json::json!({
                "status": "completed", "config": cfg, "method": cfg.method, "device": "Cpu",
                "dtype": "Float", "examples": 64, "total_steps": 16, "steps_done": 16,
                "trainable_parameters": 10, "total_parameters": 100, "tokens_seen": 900,
                "wall_time_s": 1.5, "tokens_per_second": 600.0, "peak_memory_bytes": 1024,
                "epsilon": 1.0, "accountant": "rdp", "delta": 1e-6, "noise_multiplier": 1.1,
                "sampling_rate": 0.08, "max_grad_norm": 1.0, "secure_rng": true,
                "dataset_size_source": "config", "tokens_counted": "withheld",
                "loss_curve": [{"step": 1, "epoch": 1, "loss": null, "lr": 1e-4},
                               {"step": 2, "epoch": 1, "loss": 2.5, "lr": 5e-5}],
                "epochs": [{"epoch": 1, "step": 16, "mean_loss": null,
                            "checkpoint": "checkpoints/epoch-1", "epsilon": 1.0,
                            "epsilon_rdp": 1.0, "epsilon_pld": 0.8}],
                "final_checkpoint": "checkpoints/epoch-1", "train_sha256": "ab",
                "base_model_sha256": "cd"
            });
            if cfg.scrub.is_some() {
                v["scrub"] = scrub.clone();
            }
            if cfg.redact.is_some() {
                v["redact"] = serde_json::json!({
                    "method": "lora", "steps": 4, "wall_time_s": 2.0, "mean_loss": 3.5,
                    "scrub": scrub.clone()
                });
            }
            let r: RunRecord = serde_json::from_value(v).unwrap();
            let direct = triad_proto::json::to_file_text(&r.to_message());
            let via_json: triad_proto::v1::RunRecord = triad_proto::json::to_message(&r).unwrap();
            assert_eq!(direct, triad_proto::json::to_file_text(&via_json));
        }
    }
}

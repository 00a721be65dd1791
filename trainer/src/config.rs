//! RUN.toml: one training run. Field names follow PEFT (`r`, `lora_alpha` as `alpha`,
//! `target_modules`, `use_rslora`) and Opacus (`max_grad_norm`, `noise_multiplier`,
//! `target_epsilon`, `delta`). Paths are relative to the config file.

use crate::error::{Result, TrainError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use triad_data::scrub::Mode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    Full,
    Lora,
    Dp,
    DpLora,
}

impl Method {
    pub fn uses_lora(self) -> bool {
        matches!(self, Method::Lora | Method::DpLora)
    }
    pub fn is_private(self) -> bool {
        matches!(self, Method::Dp | Method::DpLora)
    }
}

/// Which tokens the loss is computed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LossOn {
    #[default]
    All,
    Sensitive,
    NonSensitive,
}

/// `optimizer.name`: RUN.toml spells it in lower case.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerName {
    #[default]
    Adamw,
    Sgd,
}

/// `schedule.decay`: how the learning rate falls after warm-up (to 0 at the last step).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decay {
    Constant,
    #[default]
    Linear,
    Cosine,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Optimizer {
    #[serde(default)]
    pub name: OptimizerName,
    pub lr: f64,
    #[serde(default)]
    pub weight_decay: f64,
    #[serde(default = "default_betas", deserialize_with = "two_betas")]
    pub betas: [f64; 2],
    #[serde(default = "default_eps")]
    pub eps: f64,
    #[serde(default)]
    pub momentum: f64,
}

fn default_betas() -> [f64; 2] {
    [0.9, 0.999]
}
/// Exactly two betas: a longer list is refused, not cut short.
fn two_betas<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<[f64; 2], D::Error> {
    let v = Vec::<f64>::deserialize(d)?;
    <[f64; 2]>::try_from(v.as_slice())
        .map_err(|_| serde::de::Error::custom(format!("`betas` takes two values, got {}", v.len())))
}

fn default_eps() -> f64 {
    1e-8
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    #[serde(default)]
    pub warmup_steps: u64,
    #[serde(default)]
    pub decay: Decay,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    #[serde(default = "default_r")]
    pub r: i64,
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    #[serde(default)]
    pub dropout: f64,
    #[serde(default = "default_targets")]
    pub target_modules: Vec<String>,
    #[serde(default)]
    pub use_rslora: bool,
}

fn default_r() -> i64 {
    8
}
fn default_alpha() -> f64 {
    16.0
}
fn default_targets() -> Vec<String> {
    vec!["q_proj".into(), "v_proj".into()]
}

impl Default for LoraConfig {
    fn default() -> Self {
        LoraConfig {
            r: default_r(),
            alpha: default_alpha(),
            dropout: 0.0,
            target_modules: default_targets(),
            use_rslora: false,
        }
    }
}

impl LoraConfig {
    /// Every field in range: `Err((field, message))`.
    pub fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        if self.r <= 0 {
            return Err(("r", "must be positive".into()));
        }
        if !(self.alpha > 0.0 && self.alpha.is_finite()) {
            return Err((
                "alpha",
                format!("must be positive and finite, got {}", self.alpha),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(("dropout", "must be in [0, 1)".into()));
        }
        if self.target_modules.is_empty() {
            return Err(("target_modules", "must name at least one module".into()));
        }
        Ok(())
    }

    pub fn scale(&self) -> f64 {
        if self.use_rslora {
            self.alpha / (self.r as f64).sqrt()
        } else {
            self.alpha / self.r as f64
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpConfig {
    #[serde(default = "default_clip")]
    pub max_grad_norm: f64,
    pub noise_multiplier: Option<f64>,
    pub target_epsilon: Option<f64>,
    /// Default 1 / (10 · N).
    pub delta: Option<f64>,
    /// Kept for old configs: `true` asks for what is now the default (a secret noise key).
    #[serde(default)]
    pub secure_rng: bool,
    /// Derive every step's noise and Poisson sample from `seed` (bit-identical from the config
    /// alone, for tests and demos). ε then assumes the seed stays secret; run.json and the
    /// report say so. Default: a secret per-run key (`crate::rng`).
    #[serde(default)]
    pub reproducible_noise: bool,
    /// N as a public constant: q = batch_size / dataset_size, the steps per epoch and the
    /// default δ come from it rather than from the training file's record count, which then
    /// is not published. Default: the record count, treated (and published) as public.
    pub dataset_size: Option<u64>,
    /// The accountant that reports ε and finds σ for `target_epsilon`: `pld` (default,
    /// dp_accounting's privacy loss distribution) or `rdp` (Opacus's, looser).
    #[serde(default)]
    pub accountant: crate::dp::Accountant,
    /// What ε protects: `record` (default) or `user` (all of a person's records; `batch_size`
    /// is then the expected users per step and `dataset_size` the number of users).
    #[serde(default)]
    pub unit: crate::dp::Unit,
    /// `unit = "user"`: use at most this many of a sampled user's records per step, drawn
    /// afresh each step (absent: all of them).
    pub max_records_per_user: Option<usize>,
}

fn default_clip() -> f64 {
    1.0
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoints {
    /// Keep a checkpoint at the end of every epoch (otherwise only the last).
    #[serde(default = "yes")]
    pub every_epoch: bool,
    /// Keep every checkpoint's optimizer state (AdamW moments: twice the trainable weights).
    /// Otherwise only the newest checkpoint keeps it, for resuming, until the run completes.
    #[serde(default)]
    pub keep_optimizer_state: bool,
}

fn yes() -> bool {
    true
}

impl Default for Checkpoints {
    fn default() -> Self {
        Checkpoints {
            every_epoch: true,
            keep_optimizer_state: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Base model: a Hugging Face folder.
    pub model: PathBuf,
    /// Training data: dataset JSONL (`id`, `text`, `spans`).
    pub train_file: PathBuf,
    pub method: Method,
    #[serde(default)]
    pub seed: u64,
    pub epochs: Option<u64>,
    /// Stop after this many optimizer steps (overrides `epochs` when both are set).
    pub steps: Option<u64>,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Micro-batches per optimizer step (non-private methods only).
    #[serde(default = "one")]
    pub grad_accum: usize,
    #[serde(default = "default_max_len")]
    pub max_length: usize,
    #[serde(default)]
    pub loss_on: LossOn,
    #[serde(default = "auto")]
    pub device: String,
    #[serde(default = "auto")]
    pub dtype: String,
    pub optimizer: Optimizer,
    #[serde(default)]
    pub schedule: Schedule,
    pub lora: Option<LoraConfig>,
    pub dp: Option<DpConfig>,
    #[serde(default)]
    pub checkpoint: Checkpoints,
    /// Mask or pseudonymise the training text's spans before training (absent: train on the
    /// file as it is). The evaluator still reads the original records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrub: Option<triad_data::scrub::Scrub>,
    /// Redact-then-DP: a first phase without noise on scrubbed text, then this run's DP-SGD
    /// from its weights on the original text (docs/training.md, "Redact-then-DP").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redact: Option<crate::redact::Redact>,
}

fn default_batch() -> usize {
    8
}
fn one() -> usize {
    1
}
/// `max_length` when a RUN.toml leaves it out.
pub const DEFAULT_MAX_LENGTH: usize = 256;
/// Bounds on what a config may ask for (the field is named when it asks for more).
pub const MAX_STEPS: u64 = 1_000_000_000;
pub const MAX_EPOCHS: u64 = 1_000_000;
pub const MAX_BATCH: u64 = 65_536;
pub const MAX_LENGTH: u64 = 131_072;
pub const MAX_DATASET: u64 = 1_000_000_000_000;

fn default_max_len() -> usize {
    DEFAULT_MAX_LENGTH
}
fn auto() -> String {
    "auto".into()
}

/// `model` relative to RUN.toml's folder, or `org/name[@revision]` from the Hugging Face cache
/// when no such folder exists (local runs only: the service never looks outside its root).
fn model_folder(base: &Path, model: &Path) -> Result<PathBuf> {
    let joined = base.join(model);
    if joined.exists() {
        return Ok(joined);
    }
    match model.to_str().and_then(triad_lm::hub::HubRef::parse) {
        Some(r) => Ok(triad_lm::hub::resolve_in(&r, &triad_lm::hub::cache_dirs())?),
        None => Ok(joined),
    }
}

impl RunConfig {
    /// Parse RUN.toml; relative paths resolve against its folder.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        let mut cfg = Self::from_toml(&text, path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.model = model_folder(base, &cfg.model)?;
        cfg.train_file = base.join(&cfg.train_file);
        Ok(cfg)
    }

    /// Parse and validate; `path` names the source in errors (TOML errors carry line and column).
    pub fn from_toml(text: &str, path: &Path) -> Result<Self> {
        let cfg: RunConfig = toml::from_str(text)
            .map_err(|e| TrainError::config(path, e.to_string().trim_end().replace('\n', " ")))?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let bad = |field: &str, msg: String| {
            Err(TrainError::config(path, format!("field `{field}`: {msg}")))
        };
        if self.epochs.is_none() && self.steps.is_none() {
            return bad("epochs", "set `epochs` or `steps`".into());
        }
        if self.epochs == Some(0) || self.steps == Some(0) {
            return bad("epochs", "must be positive".into());
        }
        // Upper bounds keep step counts (steps per epoch × epochs) and tensors in range.
        let at_most = |field: &str, value: u64, max: u64| {
            if value > max {
                bad(field, format!("{value} is more than {max}"))
            } else {
                Ok(())
            }
        };
        at_most("epochs", self.epochs.unwrap_or(1), MAX_EPOCHS)?;
        at_most("steps", self.steps.unwrap_or(1), MAX_STEPS)?;
        at_most("batch_size", self.batch_size as u64, MAX_BATCH)?;
        at_most("grad_accum", self.grad_accum as u64, MAX_BATCH)?;
        at_most("max_length", self.max_length as u64, MAX_LENGTH)?;
        at_most(
            "schedule.warmup_steps",
            self.schedule.warmup_steps,
            MAX_STEPS,
        )?;
        if self.batch_size == 0 {
            return bad("batch_size", "must be positive".into());
        }
        if self.grad_accum == 0 {
            return bad("grad_accum", "must be positive".into());
        }
        if self.max_length < 2 {
            return bad("max_length", "must be at least 2".into());
        }
        // f16 would train in half precision without loss scaling: refused, not half-supported.
        if !["auto", "f32", "fp32", "float32", "bf16", "bfloat16"].contains(&self.dtype.as_str()) {
            let shown: String = self.dtype.chars().take(40).collect();
            return bad("dtype", format!("`{shown}` is not auto, f32 or bf16"));
        }
        self.validate_optimizer(path)?;
        if let Some(l) = &self.lora {
            l.check()
                .map_err(|(f, m)| TrainError::config(path, format!("field `lora.{f}`: {m}")))?;
        }
        if self.method.is_private() {
            self.validate_dp(path)?;
            // Pseudonyms avoid every secret of the file and share one stream: a record's
            // scrubbed text depends on the other records, which a per-record ε does not allow.
            if self
                .scrub
                .as_ref()
                .is_some_and(|s| s.mode == Mode::Pseudonymise)
            {
                return bad(
                    "scrub.mode",
                    "`pseudonymise` draws each record's fakes against the whole file, so a \
                     record's text would depend on the others: with DP use `mask`"
                        .into(),
                );
            }
        }
        if let Some(r) = &self.redact {
            r.validate(self).map_err(|(field, msg)| {
                TrainError::config(path, format!("field `{field}`: {msg}"))
            })?;
        }
        Ok(())
    }

    fn validate_dp(&self, path: &Path) -> Result<()> {
        let bad = |field: &str, msg: String| {
            Err(TrainError::config(path, format!("field `{field}`: {msg}")))
        };
        let Some(dp) = &self.dp else {
            return bad(
                "dp",
                format!("method `{:?}` needs a [dp] table", self.method),
            );
        };
        if dp.noise_multiplier.is_some() == dp.target_epsilon.is_some() {
            return bad(
                "dp",
                "set exactly one of `noise_multiplier` and `target_epsilon`".into(),
            );
        }
        let positive = |x: f64| x > 0.0 && x.is_finite();
        if !positive(dp.max_grad_norm) {
            return bad(
                "dp.max_grad_norm",
                format!("must be positive and finite, got {}", dp.max_grad_norm),
            );
        }
        if let Some(s) = dp.noise_multiplier.filter(|&s| !positive(s)) {
            return bad(
                "dp.noise_multiplier",
                format!("must be positive and finite, got {s}"),
            );
        }
        if let Some(e) = dp.target_epsilon.filter(|&e| !positive(e)) {
            return bad(
                "dp.target_epsilon",
                format!("must be positive and finite, got {e}"),
            );
        }
        if let Some(d) = dp.delta.filter(|&d| !(d > 0.0 && d < 1.0)) {
            return bad("dp.delta", format!("must be in (0, 1), got {d}"));
        }
        if dp.secure_rng && dp.reproducible_noise {
            return bad(
                "dp.reproducible_noise",
                "cannot be set with `secure_rng` (which asks for secret noise)".into(),
            );
        }
        if dp.dataset_size == Some(0) {
            return bad("dp.dataset_size", "must be positive".into());
        }
        if dp.dataset_size.unwrap_or(1) > MAX_DATASET {
            return bad(
                "dp.dataset_size",
                format!(
                    "{} is more than {MAX_DATASET}",
                    dp.dataset_size.unwrap_or(1)
                ),
            );
        }
        match (dp.unit, dp.max_records_per_user) {
            (crate::dp::Unit::Record, Some(_)) => {
                return bad(
                    "dp.max_records_per_user",
                    "only with unit = \"user\" (a record-level run uses every record)".into(),
                )
            }
            (_, Some(k)) if k == 0 || k as u64 > MAX_BATCH => {
                return bad(
                    "dp.max_records_per_user",
                    format!("must be 1 to {MAX_BATCH}, got {k}"),
                )
            }
            _ => {}
        }
        if self.grad_accum != 1 {
            return bad(
                "grad_accum",
                "DP methods sample a fresh batch per step; use batch_size instead".into(),
            );
        }
        Ok(())
    }

    fn validate_optimizer(&self, path: &Path) -> Result<()> {
        let o = &self.optimizer;
        let bad = |field: &str, msg: String| {
            Err(TrainError::config(
                path,
                format!("field `optimizer.{field}`: {msg}"),
            ))
        };
        if !(o.lr > 0.0 && o.lr.is_finite()) {
            return bad("lr", format!("must be positive and finite, got {}", o.lr));
        }
        if !(o.weight_decay >= 0.0 && o.weight_decay.is_finite()) {
            return bad(
                "weight_decay",
                format!("must be finite and not negative, got {}", o.weight_decay),
            );
        }
        if !(o.eps > 0.0 && o.eps.is_finite()) {
            return bad("eps", format!("must be positive and finite, got {}", o.eps));
        }
        if let Some(b) = o.betas.iter().find(|b| !(0.0..1.0).contains(*b)) {
            return bad("betas", format!("each must be in [0, 1), got {b}"));
        }
        if !(0.0..1.0).contains(&o.momentum) {
            return bad("momentum", format!("must be in [0, 1), got {}", o.momentum));
        }
        Ok(())
    }

    pub fn lora_config(&self) -> LoraConfig {
        self.lora.clone().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"
model = "m"
train_file = "d.jsonl"
method = "lora"
epochs = 2
[optimizer]
lr = 1e-4
"#;

    #[test]
    fn parses_with_defaults() {
        let c = RunConfig::from_toml(OK, Path::new("run.toml")).unwrap();
        assert_eq!(c.method, Method::Lora);
        assert_eq!(c.lora_config().r, 8);
        assert_eq!(c.batch_size, 8);
        assert_eq!(c.optimizer.betas, [0.9, 0.999]);
        assert!(c.checkpoint.every_epoch && !c.checkpoint.keep_optimizer_state);
        let c = RunConfig::from_toml(
            &format!("{OK}[checkpoint]\nkeep_optimizer_state = true\n"),
            Path::new("run.toml"),
        )
        .unwrap();
        assert!(c.checkpoint.keep_optimizer_state);
    }

    #[test]
    fn errors_name_line_or_field() {
        let e = RunConfig::from_toml(
            &OK.replace("lr = 1e-4", "lr = \"fast\""),
            Path::new("run.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("run.toml") && e.contains("line 7"), "{e}");
        let e = RunConfig::from_toml(
            &OK.replace("epochs = 2", "epochs = 2\nbatch_sise = 4"),
            Path::new("run.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("batch_sise"), "{e}");
        let e = RunConfig::from_toml(&OK.replace("\"lora\"", "\"dp\""), Path::new("run.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("[dp]"), "{e}");
        // Names are enums: a misspelt one is refused at its line with the accepted spellings.
        let e = RunConfig::from_toml(
            &OK.replace("lr = 1e-4", "lr = 1e-4\nname = \"adam\""),
            Path::new("run.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("line 8") && e.contains("`adamw` or `sgd`"),
            "{e}"
        );
        let e = RunConfig::from_toml(
            &format!("{OK}[schedule]\ndecay = \"exp\"\n"),
            Path::new("run.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`constant`, `linear`, `cosine`"), "{e}");
    }

    #[test]
    fn numbers_out_of_range_are_refused_with_their_field() {
        let dp = OK.replace("\"lora\"", "\"dp\"");
        for (table, field) in [
            ("noise_multiplier = -1.0", "dp.noise_multiplier"),
            ("noise_multiplier = nan", "dp.noise_multiplier"),
            ("noise_multiplier = inf", "dp.noise_multiplier"),
            ("target_epsilon = 0.0", "dp.target_epsilon"),
            ("target_epsilon = nan", "dp.target_epsilon"),
            ("noise_multiplier = 1.0\ndelta = 1.5", "dp.delta"),
            (
                "noise_multiplier = 1.0\nmax_grad_norm = inf",
                "dp.max_grad_norm",
            ),
        ] {
            let e = RunConfig::from_toml(&format!("{dp}[dp]\n{table}\n"), Path::new("run.toml"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(field), "{table}: {e}");
        }
        let e = RunConfig::from_toml(&OK.replace("1e-4", "inf"), Path::new("run.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("optimizer.lr"), "{e}");
        for (line, field) in [
            ("betas = [0.9, 0.99, 0.5]", "betas"),
            ("betas = [0.9]", "betas"),
        ] {
            let text = OK.replace("lr = 1e-4", &format!("lr = 1e-4\n{line}"));
            let e = RunConfig::from_toml(&text, Path::new("run.toml"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(field) && e.contains("two values"), "{e}");
        }
        let e = RunConfig::from_toml(
            &OK.replace("epochs = 2", "epochs = 2\ndtype = \"f16\""),
            Path::new("run.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`dtype`"), "{e}");
    }
}

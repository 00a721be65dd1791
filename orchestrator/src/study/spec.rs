//! The study spec (TOML): base model, datasets, methods with grids, evaluation settings.
//! Errors name the file, line and field.

use super::StudyError;
use serde::Deserialize;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;
use triad_data::scrub::{Mode, Scrub, SpanSource};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudySpec {
    pub name: String,
    /// Repeat every run once per seed (its RUN.toml `seed`), to see the spread training
    /// randomness alone makes; absent: one run per grid point with `[train] seed`.
    pub seeds: Option<Spanned<Vec<u64>>>,
    /// `[model]`, or `[[model]]` tables: every method runs on every model.
    #[serde(rename = "model")]
    pub models: Models,
    pub data: DataSpec,
    /// Defaults for every run: any RUN.toml field (docs/trainer.md).
    #[serde(default)]
    pub train: toml::Table,
    #[serde(rename = "method")]
    pub methods: Vec<MethodSpec>,
    #[serde(default)]
    pub eval: EvalSettings,
}

/// One `[model]` table or a list of `[[model]]` tables.
#[derive(Debug, Clone)]
pub enum Models {
    One(ModelSpec),
    Many(Vec<ModelSpec>),
}

// By hand, not `untagged`: buffering would lose the spans errors point at.
impl<'de> Deserialize<'de> for Models {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Models;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a [model] table or [[model]] tables")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Models, A::Error> {
                let d = serde::de::value::MapAccessDeserializer::new(map);
                ModelSpec::deserialize(d).map(Models::One)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Models, A::Error> {
                let d = serde::de::value::SeqAccessDeserializer::new(seq);
                Vec::<ModelSpec>::deserialize(d).map(Models::Many)
            }
        }
        d.deserialize_any(V)
    }
}

impl Models {
    pub fn all(&self) -> &[ModelSpec] {
        match self {
            Models::One(m) => std::slice::from_ref(m),
            Models::Many(v) => v,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// The model's name in run ids, folders and the report (studies of several models);
    /// default: the folder's or GGUF file's name.
    pub name: Option<Spanned<String>>,
    /// A model folder (config.json, tokenizer.json, *.safetensors), or `org/name[@revision]`
    /// from the Hugging Face cache.
    pub path: Option<Spanned<PathBuf>>,
    /// A llama GGUF file, imported into the study folder on first use.
    pub gguf: Option<Spanned<PathBuf>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// `customer-support` or `biographies`: generate the splits into the study folder.
    pub generate: Option<Spanned<String>>,
    #[serde(default = "d_train")]
    pub train: usize,
    #[serde(default = "d_test")]
    pub test: usize,
    #[serde(default)]
    pub canaries: usize,
    #[serde(default = "d_repeats")]
    pub canary_repeats: usize,
    #[serde(default = "d_seed")]
    pub seed: u64,
    /// Audit canaries for the one-run audit (0: none), each planted by a fair coin.
    #[serde(default)]
    pub audit_canaries: usize,
    /// `rare-tokens` (default) or `digits`.
    pub audit_design: Option<Spanned<String>>,
    /// Records per included audit canary (each canary a user when above 1).
    #[serde(default = "d_one")]
    pub audit_copies: usize,
    /// Repeat customers for a generated `customer-support` set: `K` or `geometric:MEAN`.
    pub records_per_user: Option<Spanned<String>>,
    /// Or existing files.
    pub train_file: Option<Spanned<PathBuf>>,
    pub test_file: Option<Spanned<PathBuf>>,
    pub canaries_file: Option<Spanned<PathBuf>>,
    /// `audit.jsonl` of `triad audit plant` (with `train_file` its planted training file).
    pub audit_file: Option<Spanned<PathBuf>>,
}

fn d_train() -> usize {
    64
}
fn d_test() -> usize {
    32
}
fn d_repeats() -> usize {
    8
}
fn d_seed() -> u64 {
    1
}
fn d_one() -> usize {
    1
}

/// One method and its grid; every list is a grid axis (a single value is a one-point axis).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodSpec {
    /// Label in reports (default: the method).
    pub name: Option<String>,
    /// full, lora, dp or dp-lora.
    pub method: Spanned<String>,
    pub lr: Option<Spanned<Vec<f64>>>,
    pub epochs: Option<Spanned<Vec<u64>>>,
    pub lora_r: Option<Spanned<Vec<i64>>>,
    pub target_epsilon: Option<Spanned<Vec<f64>>>,
    /// Scrubbing before training: `none`, `mask`, `pseudonymise`, each optionally with its span
    /// source (`mask:tagger`, `pseudonymise:labelled`; default `labelled`).
    pub scrub: Option<Spanned<Vec<String>>>,
    /// What ε protects, DP methods only: `record` (the default) and/or `user`.
    pub dp_unit: Option<Spanned<Vec<String>>>,
    /// Extra RUN.toml fields for this method only (e.g. `lora.target_modules`, `dp.max_grad_norm`).
    #[serde(default)]
    pub train: toml::Table,
}

/// `[eval]`: which checkpoints to evaluate, and `triad eval`'s settings (absent: the
/// evaluator's defaults), checked by the rules the evaluator applies
/// ([`triad_evaluator::spec::Settings`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSettings {
    /// Evaluate the checkpoint of every epoch (else only the last).
    #[serde(default = "yes")]
    pub every_epoch: bool,
    pub batch_size: Option<u64>,
    pub min_k: Option<f64>,
    pub exposure_samples: Option<u64>,
    pub exposure_exact_max: Option<u64>,
    pub exposure_search_budget: Option<u64>,
    /// Non-members to evaluate on, more than `data.test` (generated data): held-out records
    /// cost forward passes only, and resolve lower FPRs. The first `data.test` of them are
    /// test.jsonl's records.
    pub nonmembers: Option<usize>,
    /// Or a file of held-out records (never trained on) to evaluate on in place of the test
    /// split.
    pub nonmembers_file: Option<Spanned<PathBuf>>,
}

impl Default for EvalSettings {
    fn default() -> Self {
        EvalSettings {
            every_epoch: true,
            batch_size: None,
            min_k: None,
            exposure_samples: None,
            exposure_exact_max: None,
            exposure_search_budget: None,
            nonmembers: None,
            nonmembers_file: None,
        }
    }
}

impl EvalSettings {
    /// The evaluator's settings these are (`max_length` and δ come with each checkpoint).
    pub fn settings(&self) -> triad_evaluator::spec::Settings {
        triad_evaluator::spec::Settings {
            batch_size: self.batch_size,
            min_k: self.min_k,
            exposure_exact_max: self.exposure_exact_max,
            exposure_samples: self.exposure_samples,
            exposure_search_budget: self.exposure_search_budget,
            max_length: None,
            audit_delta: None,
        }
    }

    fn check(&self) -> Result<(), Problem> {
        // A request's 0 is the evaluator's default: the study could not send this 0 as meant.
        if self.exposure_exact_max == Some(0) {
            return Err(problem(
                None,
                "field `eval.exposure_exact_max`: at least 1 in a study (0 would reach the \
                 evaluator as its default)"
                    .into(),
            ));
        }
        self.settings()
            .check()
            .map_err(|e| problem(None, format!("field `eval.{}`: {}", e.field, e.message)))
    }
}

fn yes() -> bool {
    true
}

pub const METHODS: [&str; 5] = ["full", "lora", "dp", "dp-lora", "redact-dp"];

/// Redact-then-DP: RUN.toml method `dp` with a `[redact]` phase 1.
pub const REDACT_DP: &str = "redact-dp";

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl StudySpec {
    pub fn from_file(path: &Path) -> Result<(Self, String), StudyError> {
        let text = std::fs::read_to_string(path).map_err(|e| StudyError::io(path, e))?;
        Ok((Self::parse(&text, path)?, text))
    }

    /// Deserialize the spec, then check it section by section; the first problem found is
    /// the error, naming the file and (where the field has one) the line.
    pub fn parse(text: &str, path: &Path) -> Result<Self, StudyError> {
        let spec: StudySpec = toml::from_str(text).map_err(|e| StudyError::Spec {
            path: path.to_path_buf(),
            line: e.span().map(|s| line_of(text, s.start)),
            message: e.message().trim_end().replace('\n', " "),
        })?;
        spec.check().map_err(|p| StudyError::Spec {
            path: path.to_path_buf(),
            line: p.span.map(|s| line_of(text, s.start)),
            message: p.message,
        })?;
        Ok(spec)
    }

    /// Every check of a deserialized spec, in the order its errors are reported.
    fn check(&self) -> Result<(), Problem> {
        check_name(&self.name)?;
        if let Some(seeds) = &self.seeds {
            check_seeds(seeds.get_ref()).map_err(|m| problem(Some(seeds.span()), m))?;
        }
        check_models(self.models.all())?;
        self.data.check()?;
        check_methods(&self.methods)?;
        self.eval.check()?;
        self.check_nonmembers()?;
        self.check_size()
    }

    /// `eval.nonmembers` needs generated data and at least `data.test` records; it and
    /// `eval.nonmembers_file` exclude each other.
    fn check_nonmembers(&self) -> Result<(), Problem> {
        let e = &self.eval;
        if let Some(f) = &e.nonmembers_file {
            if e.nonmembers.is_some() {
                return Err(problem(
                    Some(f.span()),
                    "fields `eval.nonmembers` and `eval.nonmembers_file`: give one".into(),
                ));
            }
        }
        let Some(n) = e.nonmembers else {
            return Ok(());
        };
        if self.data.generate.is_none() {
            return Err(problem(
                None,
                "field `eval.nonmembers`: only for generated data; give your own held-out \
                 records as `eval.nonmembers_file`"
                    .into(),
            ));
        }
        if n < self.data.test {
            return Err(problem(
                None,
                format!(
                    "field `eval.nonmembers`: {n} is fewer than `data.test` ({}); it adds \
                     non-members to the test split's",
                    self.data.test
                ),
            ));
        }
        Ok(())
    }

    /// A study plans at most [`MAX_RUNS`] runs: a larger grid is refused at once, not planned
    /// silently for minutes.
    fn check_size(&self) -> Result<(), Problem> {
        let seeds = self.seeds.as_ref().map_or(1, |s| s.get_ref().len());
        let per_model: usize = self.methods.iter().map(MethodSpec::grid_size).sum();
        let runs = per_model
            .saturating_mul(seeds)
            .saturating_mul(self.models.all().len());
        if runs > MAX_RUNS {
            return Err(problem(
                None,
                format!(
                    "the study asks for {runs} runs (models × grid points × seeds); at most \
                     {MAX_RUNS} — split it into several studies"
                ),
            ));
        }
        Ok(())
    }
}

/// What a check found wrong: a message, and the byte span of the field when it has one.
struct Problem {
    span: Option<Range<usize>>,
    message: String,
}

fn problem(span: Option<Range<usize>>, message: String) -> Problem {
    Problem { span, message }
}

/// Most runs one study plans.
pub const MAX_RUNS: usize = 10_000;

/// Letters, digits, `-`, `_` and `.` only: what is safe in a folder name.
fn is_name_chars(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// The study `name` is non-empty and made of folder-safe characters.
fn check_name(name: &str) -> Result<(), Problem> {
    // `.` and `..` are folder-safe characters but name the current and parent folders.
    if name.trim().is_empty() || !is_name_chars(name) || name.chars().all(|c| c == '.') {
        let shown: String = name.chars().take(80).collect();
        return Err(problem(
            None,
            format!("field `name`: `{shown}` must be letters, digits, - _ . (not only dots)"),
        ));
    }
    Ok(())
}

/// At least one model; with several, each has a distinct folder-safe name.
fn check_models(models: &[ModelSpec]) -> Result<(), Problem> {
    if models.is_empty() {
        return Err(problem(None, "`[[model]]`: list at least one model".into()));
    }
    let mut seen = std::collections::BTreeSet::new();
    for m in models {
        m.check()?;
        let name = m.display_name();
        let span = m.name.as_ref().map(|n| n.span());
        if models.len() > 1 && (name.is_empty() || !is_name_chars(&name)) {
            return Err(problem(
                span,
                format!("field `model.name`: `{name}` must be non-empty letters, digits, - _ ."),
            ));
        }
        if models.len() > 1 && !seen.insert(name.clone()) {
            return Err(problem(span, format!("field `model.name`: two models are named `{name}`; give each a distinct `name`")));
        }
    }
    Ok(())
}

impl ModelSpec {
    /// `name`, else the last part of the folder (or hub name, revision dropped) or the GGUF
    /// file's stem.
    pub fn display_name(&self) -> String {
        if let Some(n) = &self.name {
            return n.get_ref().clone();
        }
        let from = |p: &Path, stem: bool| {
            let s = p.to_string_lossy();
            let s = s
                .split('@')
                .next()
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_string();
            let p = Path::new(&s);
            let part = if stem { p.file_stem() } else { p.file_name() };
            part.map(|x| x.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        match (&self.path, &self.gguf) {
            (Some(p), _) => from(p.get_ref(), false),
            (_, Some(g)) => from(g.get_ref(), true),
            _ => String::new(),
        }
    }

    /// `[model]` names exactly one source: a model folder or a GGUF file.
    fn check(&self) -> Result<(), Problem> {
        match (&self.path, &self.gguf) {
            (Some(_), None) | (None, Some(_)) => Ok(()),
            _ => Err(problem(
                None,
                "table `model`: set exactly one of `path` and `gguf`".into(),
            )),
        }
    }
}

impl DataSpec {
    /// `[data]`: where the data comes from, then the audit settings.
    fn check(&self) -> Result<(), Problem> {
        self.check_source()?;
        self.check_audit()
    }

    /// Generated data (a known domain, positive sizes) or both given files (no audit
    /// canaries to generate into them).
    fn check_source(&self) -> Result<(), Problem> {
        match (&self.generate, &self.train_file, &self.test_file) {
            (Some(g), None, None) => {
                if !["customer-support", "biographies"].contains(&g.get_ref().as_str()) {
                    return Err(problem(
                        Some(g.span()),
                        format!(
                            "field `data.generate`: `{}` is not customer-support or biographies",
                            g.get_ref()
                        ),
                    ));
                }
                if self.train == 0 || self.test == 0 {
                    return Err(problem(
                        None,
                        "fields `data.train` and `data.test`: must be positive".into(),
                    ));
                }
                Ok(())
            }
            (None, Some(_), Some(_)) => {
                if self.audit_canaries > 0 {
                    return Err(problem(
                        None,
                        "field `data.audit_canaries`: only for generated data; plant canaries \
                         into your own files with `triad audit plant` and give `audit_file`"
                            .into(),
                    ));
                }
                Ok(())
            }
            _ => Err(problem(
                None,
                "table `data`: set `generate`, or both `train_file` and `test_file`".into(),
            )),
        }
    }

    /// Audit canaries enough for a bound, a known design, and `audit_file` only with given
    /// files.
    fn check_audit(&self) -> Result<(), Problem> {
        if self.audit_canaries > 0 && self.audit_canaries < triad_data::audit::MIN_CANARIES {
            return Err(problem(
                None,
                format!(
                    "field `data.audit_canaries`: {} gives no bound; use 0 or at least {} \
                     (≥ 100 for a bound above 3)",
                    self.audit_canaries,
                    triad_data::audit::MIN_CANARIES
                ),
            ));
        }
        if let Some(x) = &self.audit_design {
            if triad_data::audit::Design::parse(x.get_ref()).is_none() {
                return Err(problem(
                    Some(x.span()),
                    format!(
                        "field `data.audit_design`: `{}` is not rare-tokens or digits",
                        x.get_ref()
                    ),
                ));
            }
        }
        if !(1..=triad_data::audit::MAX_COPIES).contains(&self.audit_copies) {
            return Err(problem(
                None,
                format!(
                    "field `data.audit_copies`: {} is not 1 to {}",
                    self.audit_copies,
                    triad_data::audit::MAX_COPIES
                ),
            ));
        }
        if let Some(r) = &self.records_per_user {
            if self.generate.is_none() {
                return Err(problem(
                    Some(r.span()),
                    "field `data.records_per_user`: only for generated data (your own files \
                     carry a `user` field per record)"
                        .into(),
                ));
            }
            if let Err(e) = triad_data::generate::PerUser::parse(r.get_ref()) {
                return Err(problem(
                    Some(r.span()),
                    format!("field `data.records_per_user`: {e}"),
                ));
            }
        }
        if let (Some(a), Some(_)) = (&self.audit_file, &self.generate) {
            return Err(problem(
                Some(a.span()),
                "field `data.audit_file`: only with `train_file`; generated data takes \
                 `audit_canaries`"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// At least one `[[method]]`, each valid, with labels distinct across them.
fn check_methods(methods: &[MethodSpec]) -> Result<(), Problem> {
    if methods.is_empty() {
        return Err(problem(
            None,
            "no `[[method]]` tables: name at least one method".into(),
        ));
    }
    let mut labels = std::collections::HashSet::new();
    for (i, m) in methods.iter().enumerate() {
        m.check_identity(i, &mut labels)?;
        m.check_grid(i)?;
    }
    Ok(())
}

impl MethodSpec {
    /// How errors name field `f` of the `i`-th method.
    fn field(i: usize, f: &str) -> String {
        format!("field `method[{i}].{f}`")
    }

    /// A known method, a folder-safe `name`, and a label no earlier method has (`labels`
    /// collects them).
    fn check_identity(
        &self,
        i: usize,
        labels: &mut std::collections::HashSet<String>,
    ) -> Result<(), Problem> {
        let field = |f: &str| Self::field(i, f);
        let name = self.method.get_ref();
        if !METHODS.contains(&name.as_str()) {
            return Err(problem(
                Some(self.method.span()),
                format!(
                    "{}: `{name}` is not one of {}",
                    field("method"),
                    METHODS.join(", ")
                ),
            ));
        }
        // The label starts every run id, and run ids are folder names.
        if let Some(n) = &self.name {
            if n.is_empty() || n.starts_with('.') || !is_name_chars(n) {
                return Err(problem(
                    Some(self.method.span()),
                    format!(
                        "{}: `{n}` must be letters, digits, - _ . (not starting with .)",
                        field("name")
                    ),
                ));
            }
        }
        if !labels.insert(self.label()) {
            return Err(problem(
                Some(self.method.span()),
                format!(
                    "{}: the label `{}` is used twice; give each method a distinct `name`",
                    field("name"),
                    self.label()
                ),
            ));
        }
        Ok(())
    }

    /// Grid points of this method (each axis' length, 1 when absent).
    fn grid_size(&self) -> usize {
        let n = |len: usize| len.max(1);
        n(axis(&self.lr).len())
            .saturating_mul(n(axis(&self.epochs).len()))
            .saturating_mul(n(axis(&self.lora_r).len()))
            .saturating_mul(n(axis(&self.target_epsilon).len()))
            .saturating_mul(n(axis(&self.scrub).len()))
            .saturating_mul(n(axis(&self.dp_unit).len()))
    }

    /// Every axis's values readable (scrubs, units) and none listed twice.
    fn check_values(&self, i: usize) -> Result<(), Problem> {
        let field = |f: &str| Self::field(i, f);
        let twice = |f: &str, span, keys| listed_twice(field(f), span, keys);
        let floats = |v: &[f64]| v.iter().map(|x| (x.to_bits(), x.to_string())).collect();
        twice("lr", span(&self.lr), floats(&axis(&self.lr)))?;
        twice(
            "target_epsilon",
            span(&self.target_epsilon),
            floats(&axis(&self.target_epsilon)),
        )?;
        let ints = |v: Vec<u64>| v.into_iter().map(|x| (x, x.to_string())).collect();
        twice("epochs", span(&self.epochs), ints(axis(&self.epochs)))?;
        twice(
            "lora_r",
            span(&self.lora_r),
            ints(axis(&self.lora_r).into_iter().map(|r| r as u64).collect()),
        )?;
        let scrubs = axis(&self.scrub);
        for v in &scrubs {
            parse_scrub(v)
                .map_err(|e| problem(span(&self.scrub), format!("{}: {e}", field("scrub"))))?;
        }
        let canonical = |v: &String| scrub_key(&parse_scrub(v).unwrap_or(None));
        twice(
            "scrub",
            span(&self.scrub),
            scrubs
                .iter()
                .map(|v| (fnv1a_str(&canonical(v)), v.clone()))
                .collect(),
        )?;
        let units = axis(&self.dp_unit);
        if let Some(bad) = units
            .iter()
            .find(|u| !["record", "user"].contains(&u.as_str()))
        {
            return Err(problem(
                span(&self.dp_unit),
                format!("{}: `{bad}` is not record or user", field("dp_unit")),
            ));
        }
        twice(
            "dp_unit",
            span(&self.dp_unit),
            units.iter().map(|u| (fnv1a_str(u), u.clone())).collect(),
        )
    }

    /// The grid axes: readable values listed once, positive numbers, ε and a privacy unit
    /// only for DP methods (and ε required by them unless `train.dp` sets it), ranks only for
    /// LoRA methods.
    fn check_grid(&self, i: usize) -> Result<(), Problem> {
        let field = |f: &str| Self::field(i, f);
        let name = self.method.get_ref();
        self.check_values(i)?;
        let (scrubs, units) = (axis(&self.scrub), axis(&self.dp_unit));
        if axis(&self.lr).iter().any(|x| x.is_nan() || *x <= 0.0) {
            return Err(problem(
                span(&self.lr),
                format!("{}: every value must be positive", field("lr")),
            ));
        }
        if axis(&self.epochs).contains(&0) {
            return Err(problem(
                span(&self.epochs),
                format!("{}: every value must be positive", field("epochs")),
            ));
        }
        let redact = name == REDACT_DP;
        let private = name.starts_with("dp") || redact;
        if redact && !self.train.contains_key("redact") {
            return Err(problem(
                Some(self.method.span()),
                format!(
                    "{}: `{name}` needs its first phase: `train.redact = {{ epochs = …, lr = … }}`",
                    field("train")
                ),
            ));
        }
        if redact
            && scrubs
                .iter()
                .any(|v| parse_scrub(v).ok().flatten().is_none())
        {
            return Err(problem(
                span(&self.scrub),
                format!(
                    "{}: `none` is no first phase for `{name}`: its scrub replaces the spans ε covers",
                    field("scrub")
                ),
            ));
        }
        if !private && !units.is_empty() {
            return Err(problem(
                span(&self.dp_unit),
                format!(
                    "{}: only DP methods have a privacy unit, not `{name}`",
                    field("dp_unit")
                ),
            ));
        }
        let lora = name.ends_with("lora");
        let epsilon = axis(&self.target_epsilon);
        if private && epsilon.is_empty() && !self.train.contains_key("dp") {
            return Err(problem(
                Some(self.method.span()),
                format!(
                    "{}: `{name}` needs `target_epsilon = [..]`",
                    field("target_epsilon")
                ),
            ));
        }
        if !private && !epsilon.is_empty() {
            return Err(problem(
                span(&self.target_epsilon),
                format!("{}: only dp and dp-lora take ε", field("target_epsilon")),
            ));
        }
        if epsilon.iter().any(|x| x.is_nan() || *x <= 0.0) {
            return Err(problem(
                span(&self.target_epsilon),
                format!("{}: every value must be positive", field("target_epsilon")),
            ));
        }
        if !lora && !axis(&self.lora_r).is_empty() {
            return Err(problem(
                span(&self.lora_r),
                format!("{}: only lora and dp-lora take a rank", field("lora_r")),
            ));
        }
        if axis(&self.lora_r).iter().any(|&r| r <= 0) {
            return Err(problem(
                span(&self.lora_r),
                format!("{}: every rank must be positive", field("lora_r")),
            ));
        }
        Ok(())
    }
}

/// A value listed twice on an axis would be the same run twice (one id, trained twice).
fn listed_twice(
    field: String,
    span: Option<Range<usize>>,
    keys: Vec<(u64, String)>,
) -> Result<(), Problem> {
    let mut seen = std::collections::BTreeSet::new();
    match keys.into_iter().find(|(k, _)| !seen.insert(*k)) {
        Some((_, shown)) => Err(problem(
            span,
            format!("{field}: {shown} is listed twice; list each value once"),
        )),
        None => Ok(()),
    }
}

/// `seeds` must list each seed once: a repeat would be the same run twice.
fn check_seeds(seeds: &[u64]) -> Result<(), String> {
    if seeds.is_empty() {
        return Err(
            "field `seeds`: the list is empty; list at least one seed, or leave \
                    `seeds` out for one run per grid point"
                .into(),
        );
    }
    let mut seen = std::collections::HashSet::new();
    match seeds.iter().find(|s| !seen.insert(**s)) {
        Some(s) => Err(format!(
            "field `seeds`: seed {s} is listed twice; list each seed once"
        )),
        None => Ok(()),
    }
}

/// A `scrub` axis value: `none`, or a mode with an optional span source after a colon.
pub fn parse_scrub(v: &str) -> Result<Option<Scrub>, String> {
    let shown: String = v.chars().take(40).collect();
    let (mode, spans) = v.split_once(':').unwrap_or((v, "labelled"));
    let mode = match mode {
        "none" if spans == "labelled" && !v.contains(':') => return Ok(None),
        "mask" => Mode::Mask,
        "pseudonymise" | "pseudonymize" => Mode::Pseudonymise,
        _ => {
            return Err(format!(
                "`{shown}` is not none, mask or pseudonymise (optionally `:labelled` or `:tagger`)"
            ))
        }
    };
    let spans = match spans {
        "labelled" | "labeled" => SpanSource::Labelled,
        "tagger" => SpanSource::Tagger,
        _ => {
            return Err(format!(
                "`{shown}`: the span source is `labelled` or `tagger`"
            ))
        }
    };
    Ok(Some(Scrub::all(mode, spans)))
}

/// How a scrub reads in run ids and reports: `none`, `mask`, `pseudonymise-tagger`, …
pub fn scrub_key(s: &Option<Scrub>) -> String {
    match s {
        None => "none".into(),
        Some(Scrub {
            mode,
            spans: SpanSource::Labelled,
            ..
        }) => mode.name().into(),
        Some(Scrub { mode, spans, .. }) => format!("{}-{}", mode.name(), spans.name()),
    }
}

fn fnv1a_str(s: &str) -> u64 {
    super::plan::fnv1a(s.as_bytes())
}

/// A grid axis' values (empty when absent).
pub fn axis<T: Clone>(v: &Option<Spanned<Vec<T>>>) -> Vec<T> {
    v.as_ref().map(|s| s.get_ref().clone()).unwrap_or_default()
}

fn span<T>(v: &Option<Spanned<T>>) -> Option<Range<usize>> {
    v.as_ref().map(|s| s.span())
}

impl MethodSpec {
    pub fn label(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| self.method.get_ref().clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"
name = "s"
[model]
path = "m"
[data]
generate = "customer-support"
[[method]]
method = "lora"
lora_r = [4, 8]
lr = [1e-3]
"#;

    fn err(text: &str) -> String {
        StudySpec::parse(text, Path::new("study.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn scrub_values_are_checked_and_named() {
        assert_eq!(parse_scrub("none"), Ok(None));
        assert_eq!(
            parse_scrub("mask:tagger"),
            Ok(Some(Scrub::all(Mode::Mask, SpanSource::Tagger)))
        );
        assert_eq!(
            parse_scrub("pseudonymise"),
            Ok(Some(Scrub::all(Mode::Pseudonymise, SpanSource::Labelled)))
        );
        let with = |v: &str| {
            OK.replace(
                "method = \"lora\"",
                &format!("method = \"lora\"\nscrub = {v}"),
            )
        };
        let e = err(&with("[\"blur\"]"));
        assert!(e.contains("method[0].scrub") && e.contains("blur"), "{e}");
        let e = err(&with("[\"mask:ner\"]"));
        assert!(e.contains("method[0].scrub") && e.contains("tagger"), "{e}");
        let e = err(&with("[\"mask\", \"mask:labelled\"]"));
        assert!(e.contains("listed twice"), "{e}");
        assert!(StudySpec::parse(&with("[\"none\", \"mask\"]"), Path::new("s.toml")).is_ok());
    }

    /// `[eval]` is checked by the evaluator's own rules, at load, not at the first evaluation.
    #[test]
    fn eval_settings_follow_the_evaluators_bounds() {
        let e = err(&format!("{OK}\n[eval]\nbatch_size = 257\n"));
        assert!(
            e.contains("field `eval.batch_size`: 257 is not in 1..=256"),
            "{e}"
        );
        let e = err(&format!("{OK}\n[eval]\nmin_k = 0.0\n"));
        assert!(e.contains("field `eval.min_k`"), "{e}");
        let e = err(&format!("{OK}\n[eval]\nexposure_exact_max = 0\n"));
        assert!(
            e.contains("field `eval.exposure_exact_max`: at least 1"),
            "{e}"
        );
        let ok = format!("{OK}\n[eval]\nbatch_size = 256\nexposure_samples = 200\n");
        let s = StudySpec::parse(&ok, Path::new("study.toml")).unwrap();
        assert_eq!(s.eval.settings().exposure_samples, Some(200));
    }

    #[test]
    fn more_nonmembers_need_generated_data_and_at_least_the_test_split() {
        let e = err(&format!("{OK}\n[eval]\nnonmembers = 10\n"));
        assert!(
            e.contains("field `eval.nonmembers`: 10 is fewer than `data.test` (32)"),
            "{e}"
        );
        let files = OK.replace(
            "generate = \"customer-support\"",
            "train_file = \"a.jsonl\"\ntest_file = \"b.jsonl\"",
        );
        let e = err(&format!("{files}\n[eval]\nnonmembers = 1000\n"));
        assert!(e.contains("only for generated data"), "{e}");
        let e = err(&format!(
            "{OK}\n[eval]\nnonmembers = 1000\nnonmembers_file = \"n.jsonl\"\n"
        ));
        assert!(e.contains("give one"), "{e}");
        let s = StudySpec::parse(
            &format!("{OK}\n[eval]\nnonmembers = 1000\n"),
            Path::new("s.toml"),
        )
        .unwrap();
        assert_eq!(s.eval.nonmembers, Some(1000));
    }

    /// What `eval.nonmembers` relies on: drawing the test split larger changes neither the
    /// training split nor the test records already drawn.
    #[test]
    fn a_larger_test_draw_keeps_training_data_and_extends_the_test_split() {
        use triad_data::generate::{generate, Domain, Spec};
        let spec = |test| Spec {
            domain: Domain::CustomerSupport,
            train: 20,
            test,
            canaries: 2,
            canary_repeats: 3,
            records_per_user: None,
            seed: 7,
        };
        let (small, large) = (generate(&spec(10)), generate(&spec(300)));
        assert_eq!(small.train, large.train);
        assert_eq!(small.test[..], large.test[..10]);
        assert_eq!(large.test.len(), 300);
    }

    #[test]
    fn a_valid_spec_parses() {
        let s = StudySpec::parse(OK, Path::new("study.toml")).unwrap();
        assert_eq!(axis(&s.methods[0].lora_r), vec![4, 8]);
        assert_eq!(s.data.train, 64);
        assert!(s.eval.every_epoch);
    }

    #[test]
    fn dot_names_repeated_values_and_huge_grids_are_refused() {
        for name in ["..", "."] {
            let e = err(&OK.replace("name = \"s\"", &format!("name = \"{name}\"")));
            assert!(e.contains("field `name`"), "{name}: {e}");
        }
        let e = err(&OK.replace("lr = [1e-3]", "lr = [1e-3, 1e-3]"));
        assert!(e.contains("lr") && e.contains("listed twice"), "{e}");
        let e = err(&OK.replace("lora_r = [4, 8]", "lora_r = [4, 4]"));
        assert!(e.contains("lora_r") && e.contains("listed twice"), "{e}");
        let many: Vec<String> = (1..=200).map(|k| format!("{k}e-5")).collect();
        let big = OK
            .replace("lr = [1e-3]", &format!("lr = [{}]", many.join(", ")))
            .replace(
                "lora_r = [4, 8]",
                &format!(
                    "lora_r = [{}]",
                    (1..=60)
                        .map(|r| r.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        let t = std::time::Instant::now();
        let e = err(&big);
        assert!(e.contains("12000 runs") && e.contains("at most"), "{e}");
        assert!(t.elapsed().as_secs() < 5);
    }

    #[test]
    fn errors_name_line_and_field() {
        let e = err(&OK.replace("\"lora\"", "\"lorax\""));
        assert!(
            e.contains("study.toml:8") && e.contains("method[0].method"),
            "{e}"
        );
        let e = err(&OK.replace("lr = [1e-3]", "lr = [-1.0]"));
        assert!(
            e.contains("study.toml:10") && e.contains("method[0].lr"),
            "{e}"
        );
        let e = err(&OK.replace("lora_r = [4, 8]", "lora_r = \"big\""));
        assert!(e.contains("study.toml:9"), "{e}");
        let e = err(&OK.replace("generate =", "generat ="));
        assert!(e.contains("study.toml:6") && e.contains("generat"), "{e}");
        let e = err(&OK.replace("method = \"lora\"", "method = \"dp\""));
        assert!(e.contains("target_epsilon"), "{e}");
        let e = err(&OK.replace("method = \"lora\"", "name = \"../x\"\nmethod = \"lora\""));
        assert!(
            e.contains("study.toml:9") && e.contains("method[0].name") && e.contains("../x"),
            "{e}"
        );
    }

    #[test]
    fn seeds_parse_and_bad_lists_name_line_and_field() {
        let with = |seeds: &str| OK.replace("name = \"s\"\n", &format!("name = \"s\"\n{seeds}\n"));
        let s = StudySpec::parse(&with("seeds = [0, 1, 2]"), Path::new("study.toml")).unwrap();
        assert_eq!(axis(&s.seeds), vec![0, 1, 2]);
        assert!(StudySpec::parse(OK, Path::new("study.toml"))
            .unwrap()
            .seeds
            .is_none());
        for (seeds, why) in [
            ("seeds = []", "empty"),
            ("seeds = [3, 1, 3]", "seed 3 is listed twice"),
        ] {
            let e = err(&with(seeds));
            assert!(
                e.contains("study.toml:3") && e.contains("field `seeds`") && e.contains(why),
                "{e}"
            );
        }
        let e = err(&with("seeds = [-1]"));
        assert!(e.contains("study.toml:3"), "{e}");
    }
}

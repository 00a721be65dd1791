//! One evaluation: score train and test under the base and the checkpoint, compute METRICS.json.
//! Base scores are cached (keyed by the base weights, tokenizer and data), since a study scores
//! many checkpoints against one base.

use crate::error::{EvalError, Result};
use crate::metrics::audit::{self as audit_stats, AuditResult};
use crate::metrics::cells::{self, Cells};
use crate::metrics::exposure::{self as exp, Exposure};
use crate::metrics::extraction::{self, Extraction};
use crate::metrics::interval::{self, Ci};
use crate::metrics::mia::{self, AttackResult};
use crate::metrics::records::{self, RecordStat};
use crate::scoring::{score, tokenise, Scores, Tokenised};
use crate::spec::{EvalSpec, AUDIT_CONFIDENCE, DEFAULT_AUDIT_DELTA};
use serde::Serialize;
use std::path::{Path, PathBuf};
use triad_data::audit::AuditCanary;
use triad_data::tokenizer::Tokenizer;
use triad_lm::tch::Kind;
use triad_lm::weights::Weights;
use triad_lm::{CausalLm, ModelConfig};

#[derive(Debug, Clone, Serialize)]
pub struct ExposureReport {
    pub mean_exposure: f64,
    /// 95% Student t interval of the mean over canaries ([`exp::mean_interval`]).
    pub mean_exposure_ci95: Ci,
    /// The mean and its standard deviation for a model that never saw the canaries (uniform
    /// rank): a mean within ±3 sd of `null_mean` shows no measurable memorisation.
    pub null_mean: f64,
    pub null_sd_of_mean: f64,
    /// Canaries whose secret greedy decoding from their prefix reproduces.
    pub extracted: usize,
    pub extraction_rate: f64,
    pub extraction_rate_ci95: Ci,
    pub canaries: Vec<Exposure>,
}

/// Records left out of the member and non-member sets because they hold a canary.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Excluded {
    pub train: usize,
    pub test: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mia {
    pub members: usize,
    pub non_members: usize,
    pub loss: AttackResult,
    pub reference: AttackResult,
    pub min_k: AttackResult,
    pub min_k_fraction: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    pub base: String,
    pub checkpoint: Option<String>,
    pub adapter: Option<String>,
    pub train_file: String,
    pub test_file: String,
    #[serde(flatten)]
    pub cells: Cells,
    pub membership_inference: Mia,
    /// Greedy extraction of each secret from the text before it.
    pub extraction: Extraction,
    /// Canary exposure under the checkpoint (when canaries were given).
    pub exposure: Option<ExposureReport>,
    /// Canary records scored apart (see `canaries`).
    pub canary_records_excluded: Excluded,
    /// The one-run audit's empirical ε lower bound (when an audit file was given).
    pub audit: Option<AuditResult>,
    /// Audit records scored apart (see `audit`).
    pub audit_records_excluded: Excluded,
    /// Tokens of each record scored (`null`: whole records).
    pub max_length: Option<usize>,
    /// How every `*_ci95` interval was computed.
    pub intervals: interval::Method,
    /// Whether the base scores came from the cache.
    pub base_scores_cached: bool,
    pub timing: Timing,
}

/// Where the evaluation's time went (wall seconds), for cost reports and benchmarks.
impl Metrics {
    /// The `triad.v1.Metrics` message these metrics are (METRICS.json is its JSON form).
    pub fn to_message(&self) -> triad_proto::v1::Metrics {
        self.into()
    }
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Timing {
    /// Tokenising the data, loading and scoring the base model (the last two skipped when its
    /// scores came from the cache).
    pub base_s: f64,
    /// Scoring train and test under the checkpoint (forward passes only, model already loaded).
    pub checkpoint_scoring_s: f64,
    /// Tokens in train and test (each scored once per model).
    pub tokens: u64,
    /// `tokens / checkpoint_scoring_s`; 0 when the checkpoint is the base itself (not rescored).
    pub scoring_tokens_per_s: f64,
    pub exposure_s: f64,
    /// Scoring the audit canaries under the base and the checkpoint.
    pub audit_s: f64,
    pub total_s: f64,
}

/// Progress: (stage, done, total).
pub type Progress<'a> = &'a mut dyn FnMut(&str, usize, usize);

fn load(spec: &EvalSpec, finetuned: bool) -> Result<CausalLm> {
    let kind = Kind::Float;
    let dir = match (&spec.checkpoint, finetuned) {
        (Some(c), true) => c.clone(),
        _ => spec.base.clone(),
    };
    let cfg = ModelConfig::from_file(dir.join("config.json"))?;
    let mut w = Weights::load_dir(&dir, kind, spec.device)?;
    if finetuned {
        if let Some(a) = &spec.adapter {
            triad_lm::adapter::merge_into(&mut w, a)?;
        }
    }
    Ok(CausalLm::from_weights(cfg, w, kind, spec.device)?)
}

/// SHA-256 over length-prefixed fields: a cache key stable across Rust releases and machines
/// (std's `DefaultHasher` promises neither), where no two field lists give the same bytes.
struct KeyHasher(sha2::Sha256);

impl KeyHasher {
    fn field(&mut self, bytes: &[u8]) -> &mut Self {
        use sha2::Digest;
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    fn hex(self) -> String {
        use sha2::Digest;
        self.0.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

fn cache_key(
    spec: &EvalSpec,
    file: &Path,
    max_length: Option<usize>,
    excluded: &[String],
) -> Result<String> {
    use sha2::Digest;
    let read = |p: PathBuf| std::fs::read(&p).map_err(|e| triad_lm::LmError::io(p, e));
    let mut h = KeyHasher(sha2::Sha256::new());
    // Bump when the cached format changes.
    h.field(b"scores-v4")
        .field(format!("{max_length:?}").as_bytes());
    h.field(&(excluded.len() as u64).to_le_bytes());
    for id in excluded {
        h.field(id.as_bytes());
    }
    h.field(&read(spec.base.join("config.json"))?)
        .field(&read(spec.base.join("tokenizer.json"))?);
    let mut weights: Vec<_> = std::fs::read_dir(&spec.base)
        .map_err(|e| triad_lm::LmError::io(&spec.base, e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".safetensors"))
        .collect();
    weights.sort_by_key(|e| e.file_name());
    // Weights by name, size and modification time (reading gigabytes per evaluation would
    // cost more than the scores it saves).
    for e in weights {
        let m = e
            .metadata()
            .map_err(|err| triad_lm::LmError::io(e.path(), err))?;
        let modified = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        h.field(e.file_name().as_encoded_bytes())
            .field(&m.len().to_le_bytes())
            .field(&modified.to_le_bytes());
    }
    h.field(&read(file.to_path_buf())?);
    Ok(h.hex())
}

/// A split as evaluated: its tokenised records (canary and audit records removed) and the ids
/// removed.
struct SplitData {
    name: &'static str,
    file: PathBuf,
    data: Vec<Tokenised>,
    excluded: Vec<String>,
    audit_excluded: usize,
}

fn base_scores(
    spec: &EvalSpec,
    base: &mut Option<CausalLm>,
    split: &SplitData,
    max_length: Option<usize>,
    progress: Progress,
) -> Result<(Scores, bool)> {
    let (file, data) = (&split.file, &split.data);
    let cached = match &spec.cache_dir {
        Some(dir) => Some(dir.join(format!(
            "{}.json",
            cache_key(spec, file, max_length, &split.excluded)?
        ))),
        None => None,
    };
    if let Some(p) = &cached {
        if let Ok(bytes) = std::fs::read(p) {
            if let Ok(v) = serde_json::from_slice::<Scores>(&bytes) {
                if v.nll.len() == data.len() && v.top1.len() == data.len() {
                    return Ok((v, true));
                }
            }
        }
    }
    if base.is_none() {
        *base = Some(load(spec, false)?);
    }
    let stage = format!("base {}", split.name);
    let scores = score(
        base.as_ref().expect("loaded"),
        data,
        spec.batch_size,
        |d, n| progress(&stage, d, n),
    );
    if let Some(p) = &cached {
        // The cache only saves time: an evaluation whose scores cannot be kept still stands.
        if let Err(e) = write_cache(p, &scores) {
            tracing::warn!(error = %e, "base scores not cached");
        }
    }
    Ok((scores, false))
}

fn write_cache(p: &Path, scores: &Scores) -> Result<()> {
    std::fs::create_dir_all(p.parent().expect("parent"))
        .map_err(|e| triad_lm::LmError::io(p, e))?;
    triad_data::fsutil::write_atomic(p, &serde_json::to_vec(scores).expect("json"))?;
    Ok(())
}

/// Whether the checkpoint is the base model itself (same folder, no adapter).
fn is_base(spec: &EvalSpec) -> bool {
    match (&spec.checkpoint, &spec.adapter) {
        (Some(c), None) => match (c.canonicalize(), spec.base.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        },
        _ => false,
    }
}

/// The data an evaluation reads: both splits (canary and audit records set apart), the
/// canaries, the audit set and the δ of its statement.
struct Inputs {
    canaries: Vec<triad_data::canary::Canary>,
    audit_canaries: Vec<(usize, triad_data::audit::AuditCanary)>,
    max_length: Option<usize>,
    train: SplitData,
    test: SplitData,
    audit_data: Option<SplitData>,
    audit_delta: f64,
}

fn read_inputs(spec: &EvalSpec, tok: &Tokenizer) -> Result<Inputs> {
    let canaries = match &spec.canaries {
        Some(p) => read_canaries(p)?,
        None => vec![],
    };
    let given = spec.max_length.or_else(|| trained_max_length(spec));
    let max_length = Some(crate::limits::max_length(given, &spec.base)?);
    let audit_canaries = match &spec.audit {
        Some(p) => triad_data::audit::read_for_bound(p)?,
        None => vec![],
    };
    let filter = |name, path| SplitFilter {
        name,
        path,
        canaries: &canaries,
        audit: &audit_canaries,
    };
    let (train, train_records) = split_data(filter("train", &spec.train), tok, max_length)?;
    let (test, test_records) = split_data(filter("test", &spec.test), tok, max_length)?;
    if let Some(p) = &spec.audit {
        triad_data::audit::check_split(
            p,
            &audit_canaries,
            (&spec.train, &train_records),
            (&spec.test, &test_records),
        )?;
    }
    // Never below the δ the run trained with: at a smaller δ a sound DP run could show a bound
    // above its formal ε.
    let audit_delta = match (spec.audit_delta, trained_delta(spec)) {
        (Some(a), Some(t)) => a.max(t),
        (a, t) => a.or(t).unwrap_or(DEFAULT_AUDIT_DELTA),
    };
    drop((train_records, test_records));
    let audit_data = match &spec.audit {
        Some(p) => Some(audit_split(p, &audit_canaries, tok, max_length)?),
        None => None,
    };
    if train.data.is_empty() || test.data.is_empty() {
        return Err(EvalError::Invalid(format!(
            "train and test files must each hold at least one record that is not a canary \
             ({} has {}, {} has {})",
            spec.train.display(),
            train.data.len(),
            spec.test.display(),
            test.data.len()
        )));
    }
    Ok(Inputs {
        canaries,
        audit_canaries,
        max_length,
        train,
        test,
        audit_data,
        audit_delta,
    })
}

/// The base model's scores of every split (cached across evaluations).
struct BaseScores {
    train: Scores,
    test: Scores,
    audit: Option<Scores>,
    cached: bool,
}

fn score_base(spec: &EvalSpec, inp: &Inputs, progress: Progress) -> Result<BaseScores> {
    let mut base = None;
    let (train, c1) = base_scores(spec, &mut base, &inp.train, inp.max_length, progress)?;
    let (test, c2) = base_scores(spec, &mut base, &inp.test, inp.max_length, progress)?;
    let audit = match &inp.audit_data {
        Some(a) => Some(base_scores(spec, &mut base, a, inp.max_length, progress)?.0),
        None => None,
    };
    Ok(BaseScores {
        train,
        test,
        audit,
        cached: c1 && c2,
    })
}

/// What the checkpoint itself is measured by: its scores, canary exposure and the audit.
struct CheckpointScores {
    train: Scores,
    test: Scores,
    exposure: Option<ExposureReport>,
    audit: Option<AuditResult>,
    exposure_s: f64,
    audit_s: f64,
    scoring_s: f64,
}

fn score_checkpoint(
    spec: &EvalSpec,
    tok: &Tokenizer,
    inp: &Inputs,
    base: &BaseScores,
    progress: Progress,
) -> Result<CheckpointScores> {
    // The base evaluated as its own checkpoint (a study's reference row): its scores are the
    // base scores already at hand; the model is loaded only to rank canaries.
    let reuse_base = is_base(spec);
    let model = if reuse_base && inp.canaries.is_empty() && inp.audit_data.is_none() {
        None
    } else {
        Some(load(spec, true)?)
    };
    let t = std::time::Instant::now();
    let exposure = match &model {
        Some(model) if !inp.canaries.is_empty() => {
            Some(exposures(spec, model, tok, &inp.canaries, progress)?)
        }
        _ => None,
    };
    let exposure_s = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let audit = match (&inp.audit_data, &base.audit) {
        (Some(data), Some(s0)) => {
            let s1 = match &model {
                Some(model) if !reuse_base => score(model, &data.data, spec.batch_size, |d, n| {
                    progress("checkpoint audit", d, n)
                }),
                _ => s0.clone(),
            };
            let included: Vec<bool> = inp.audit_canaries.iter().map(|c| c.1.included).collect();
            Some(audit_result(
                &data.data,
                &s1,
                s0,
                &included,
                inp.audit_delta,
            ))
        }
        _ => None,
    };
    let audit_s = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let (train, test) = match &model {
        Some(model) if !reuse_base => (
            score(model, &inp.train.data, spec.batch_size, |d, n| {
                progress("checkpoint train", d, n)
            }),
            score(model, &inp.test.data, spec.batch_size, |d, n| {
                progress("checkpoint test", d, n)
            }),
        ),
        _ => (base.train.clone(), base.test.clone()),
    };
    Ok(CheckpointScores {
        train,
        test,
        exposure,
        audit,
        exposure_s,
        audit_s,
        scoring_s: if reuse_base {
            0.0
        } else {
            t.elapsed().as_secs_f64()
        },
    })
}

pub fn evaluate(spec: &EvalSpec, progress: Progress) -> Result<Metrics> {
    if spec.checkpoint.is_some() == spec.adapter.is_some() {
        return Err(EvalError::Invalid(
            "give exactly one of a checkpoint or an adapter".into(),
        ));
    }
    let _span = tracing::info_span!("evaluate", base = %spec.base.display()).entered();
    let started = std::time::Instant::now();
    crate::binding::check(spec)?;
    let tok = Tokenizer::from_file(spec.base.join("tokenizer.json"))?;
    let inp = read_inputs(spec, &tok)?;
    let base = score_base(spec, &inp, progress)?;
    let base_s = started.elapsed().as_secs_f64();
    let ck = score_checkpoint(spec, &tok, &inp, &base, progress)?;
    let (train, test) = (&inp.train, &inp.test);
    let tokens = train
        .data
        .iter()
        .chain(&test.data)
        .map(|t| t.ids.len() as u64)
        .sum();
    let (cells, mia, extraction) = memorisation(spec, &inp, &base, &ck, progress);
    let show = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    Ok(Metrics {
        base: spec.base.display().to_string(),
        checkpoint: show(&spec.checkpoint),
        adapter: show(&spec.adapter),
        train_file: spec.train.display().to_string(),
        test_file: spec.test.display().to_string(),
        cells,
        membership_inference: mia,
        extraction,
        exposure: ck.exposure,
        canary_records_excluded: Excluded {
            train: train.excluded.len() - train.audit_excluded,
            test: test.excluded.len() - test.audit_excluded,
        },
        audit: ck.audit,
        audit_records_excluded: Excluded {
            train: train.audit_excluded,
            test: test.audit_excluded,
        },
        max_length: inp.max_length,
        intervals: interval::Method::default(),
        base_scores_cached: base.cached,
        timing: Timing {
            base_s,
            checkpoint_scoring_s: ck.scoring_s,
            tokens,
            scoring_tokens_per_s: if ck.scoring_s == 0.0 {
                0.0
            } else {
                tokens as f64 / ck.scoring_s.max(1e-9)
            },
            exposure_s: ck.exposure_s,
            audit_s: ck.audit_s,
            total_s: started.elapsed().as_secs_f64(),
        },
    })
}

/// The memorisation measures from both models' scores: the 2×2 cells, the membership
/// attacks and extraction, each with its bootstrap interval.
fn memorisation(
    spec: &EvalSpec,
    inp: &Inputs,
    base: &BaseScores,
    ck: &CheckpointScores,
    progress: Progress,
) -> (Cells, Mia, Extraction) {
    let (train_d, test_d) = (&inp.train.data, &inp.test.data);
    let mut cells = cells::compute(
        (train_d, &ck.train.nll, &base.train.nll),
        (test_d, &ck.test.nll, &base.test.nll),
    );
    let mut extraction = Extraction {
        train: extraction::split(train_d, &ck.train.top1, &base.train.top1),
        test: extraction::split(test_d, &ck.test.top1, &base.test.top1),
    };
    let k = spec.min_k;
    let stats = |d: &[Tokenised], s1: &Scores, s0: &Scores| -> Vec<RecordStat> {
        d.iter()
            .enumerate()
            .map(|(i, t)| record_stat(t, s1, s0, i, k))
            .collect()
    };
    let (train_stats, test_stats) = (
        stats(train_d, &ck.train, &base.train),
        stats(test_d, &ck.test, &base.test),
    );
    let mut mia = attacks(&train_stats, &test_stats, k);
    progress("intervals", 0, 1);
    let ci = records::intervals(&train_stats, &test_stats);
    progress("intervals", 1, 1);
    fill_intervals(&ci, &mut cells, &mut mia, &mut extraction);
    (cells, mia, extraction)
}

/// `max_length` of the run that wrote the checkpoint (`<run>/checkpoints/epoch-N/`, with
/// `<run>/run.json`), if it can be read.
fn trained_max_length(spec: &EvalSpec) -> Option<usize> {
    let dir = spec.checkpoint.as_ref().or(spec.adapter.as_ref())?;
    let run = dir.parent()?.parent()?.join("run.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(run).ok()?).ok()?;
    v["config"]["max_length"].as_u64().map(|m| m as usize)
}

/// `delta` of the DP run that wrote the checkpoint, if its `run.json` says.
fn trained_delta(spec: &EvalSpec) -> Option<f64> {
    let dir = spec.checkpoint.as_ref().or(spec.adapter.as_ref())?;
    let run = dir.parent()?.parent()?.join("run.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(run).ok()?).ok()?;
    v["delta"].as_f64()
}

fn read_canaries(path: &Path) -> Result<Vec<triad_data::canary::Canary>> {
    let canaries = triad_data::canary::read(path)?;
    crate::limits::check_canaries(path, &canaries)?;
    Ok(canaries)
}

/// A split file and the records to take out of it.
struct SplitFilter<'a> {
    name: &'static str,
    path: &'a Path,
    canaries: &'a [triad_data::canary::Canary],
    audit: &'a [(usize, AuditCanary)],
}

/// Tokenise a split and drop the records that hold a canary (its text, or an id
/// `<canary id>-r<k>` as `triad data generate` writes them) or that are audit canaries. The
/// split's records come back too, for the audit's check of its coins.
fn split_data(
    f: SplitFilter,
    tok: &Tokenizer,
    max_length: Option<usize>,
) -> Result<(SplitData, Vec<triad_data::Record>)> {
    let (records, data) = crate::limits::tokenise_file(f.path, tok, max_length)?;
    let is_canary = |r: &triad_data::Record| {
        f.canaries.iter().any(|c| {
            r.text.contains(&c.text)
                || r.id
                    .strip_prefix(&c.id)
                    .and_then(|rest| rest.strip_prefix("-r"))
                    .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
        })
    };
    let is_audit = triad_data::audit::locate(f.audit, &records);
    let mut out = SplitData {
        name: f.name,
        file: f.path.to_path_buf(),
        data: vec![],
        excluded: vec![],
        audit_excluded: 0,
    };
    for ((r, t), audit) in records.iter().zip(data).zip(is_audit) {
        if audit.is_some() {
            out.audit_excluded += 1;
            out.excluded.push(r.id.clone());
        } else if is_canary(r) {
            out.excluded.push(r.id.clone());
        } else {
            out.data.push(t);
        }
    }
    Ok((out, records))
}

/// The audit canaries as records to score, their secrets marked.
fn audit_split(
    path: &Path,
    canaries: &[(usize, AuditCanary)],
    tok: &Tokenizer,
    max_length: Option<usize>,
) -> Result<SplitData> {
    let lines: Vec<usize> = canaries.iter().map(|c| c.0).collect();
    let records: Vec<_> = canaries.iter().map(|c| c.1.record()).collect();
    crate::limits::check_records(path, &lines, &records)?;
    Ok(SplitData {
        name: "audit",
        file: path.to_path_buf(),
        data: tokenise(path, &lines, &records, tok, max_length)?,
        excluded: vec![],
        audit_excluded: 0,
    })
}

/// Each canary's membership score — how much more likely the checkpoint finds its secret than
/// the base does (Σ over the secret's tokens of base NLL − checkpoint NLL, nats) — and the
/// audit's bound from those scores and the coins.
fn audit_result(
    data: &[Tokenised],
    s1: &Scores,
    s0: &Scores,
    included: &[bool],
    delta: f64,
) -> AuditResult {
    let scores: Vec<f64> = data
        .iter()
        .enumerate()
        .map(|(i, t)| {
            t.labels
                .iter()
                .zip(s1.nll[i].iter().zip(&s0.nll[i]))
                .filter(|(l, _)| l.is_some())
                .map(|(_, (x1, x0))| x0 - x1)
                .sum()
        })
        .collect();
    let keys: Vec<u64> = data
        .iter()
        .map(|t| triad_data::rng::Rng::new(0).fork(&t.id).next_u64())
        .collect();
    let mut r = audit_stats::audit(&scores, included, &keys, delta, AUDIT_CONFIDENCE);
    r.method = format!(
        "membership score: the secret's log-likelihood gain over the base model; {}",
        r.method
    );
    r
}

/// A record's summary for the record-level estimates and their bootstrap.
fn record_stat(t: &Tokenised, s1: &Scores, s0: &Scores, i: usize, min_k: f64) -> RecordStat {
    let (l, l0) = (&s1.nll[i], &s0.nll[i]);
    let mut r = RecordStat::default();
    for ((label, &x), &x0) in t.labels.iter().zip(l).zip(l0) {
        if label.is_some() {
            r.sensitive.add(x, x0);
        } else {
            r.non_sensitive.add(x, x0);
        }
    }
    for (_, hit, hit_base) in extraction::secrets(t, &s1.top1[i], &s0.top1[i]) {
        r.secrets += 1;
        r.extracted += hit as u32;
        r.extracted_base += hit_base as u32;
    }
    r.attack = if l.is_empty() {
        [f64::NAN; 3]
    } else {
        [
            mia::loss_score(l),
            mia::reference_score(l, l0),
            mia::min_k_score(l, min_k),
        ]
    };
    r
}

fn attacks(train: &[RecordStat], test: &[RecordStat], min_k: f64) -> Mia {
    let scores = |rs: &[RecordStat], a: usize| records::attack_scores(rs, a);
    let run = |a: usize| mia::attack(&scores(train, a), &scores(test, a));
    Mia {
        members: scores(train, 0).len(),
        non_members: scores(test, 0).len(),
        loss: run(0),
        reference: run(1),
        min_k: run(2),
        min_k_fraction: min_k,
    }
}

fn fill_intervals(ci: &[Ci], cells: &mut Cells, mia: &mut Mia, ex: &mut Extraction) {
    let at = |name: &str| ci[records::index(name)];
    cells.privacy_loss_ci95 = at("privacy_loss");
    cells.utility.nll_ci95 = at("utility_nll");
    cells.utility.gain_ci95 = at("utility_gain");
    cells.memorisation_gap_ci95 = at("memorisation_gap");
    cells.memorisation_gap_corrected_ci95 = at("memorisation_gap_corrected");
    for (name, a) in [
        ("loss", &mut mia.loss),
        ("reference", &mut mia.reference),
        ("min_k", &mut mia.min_k),
    ] {
        a.auc_ci95 = at(&format!("auc_{name}"));
        if a.tpr_at_1pct_fpr.is_some() {
            a.tpr_at_1pct_fpr_ci95 = at(&format!("tpr1_{name}"));
        }
        if a.tpr_at_01pct_fpr.is_some() {
            a.tpr_at_01pct_fpr_ci95 = at(&format!("tpr01_{name}"));
        }
    }
    ex.train.all.rate_ci95 = at("extraction_train");
    ex.test.all.rate_ci95 = at("extraction_test");
    ex.train.all.rate_base_ci95 = at("extraction_train_base");
    ex.test.all.rate_base_ci95 = at("extraction_test_base");
}

fn exposures(
    spec: &EvalSpec,
    model: &CausalLm,
    tok: &Tokenizer,
    canaries: &[triad_data::canary::Canary],
    progress: Progress,
) -> Result<ExposureReport> {
    let settings = exp::Settings {
        exact_max: spec.exposure_exact_max,
        samples: spec.exposure_samples,
        search_budget: spec.exposure_search_budget,
        batch: spec.batch_size,
    };
    let mut out = vec![];
    for (i, c) in canaries.iter().enumerate() {
        progress("canary exposure", i, canaries.len());
        let rivals = exp::rivals(c, canaries);
        out.push(exp::exposure(model, tok, c, &rivals, &settings)?);
    }
    progress("canary exposure", canaries.len(), canaries.len());
    let n = out.len().max(1) as f64;
    let mean = out.iter().map(|e| e.exposure).sum::<f64>() / n;
    let (mut null_mean, mut null_var) = (0.0, 0.0);
    for e in &out {
        let (m, sd) = exp::null_moments(e.space_size);
        null_mean += m / n;
        null_var += sd * sd / (n * n);
    }
    let extracted = out.iter().filter(|e| e.extracted).count();
    Ok(ExposureReport {
        mean_exposure: mean,
        mean_exposure_ci95: exp::mean_interval(&out),
        null_mean,
        null_sd_of_mean: null_var.sqrt(),
        extracted,
        extraction_rate: extracted as f64 / n,
        extraction_rate_ci95: interval::clopper_pearson(extracted as u64, out.len() as u64),
        canaries: out,
    })
}

#[cfg(test)]
mod key_tests {
    use super::KeyHasher;
    use sha2::Digest;

    #[test]
    fn cache_keys_are_sha256_of_length_prefixed_fields() {
        let key = |fields: &[&[u8]]| {
            let mut h = KeyHasher(sha2::Sha256::new());
            for f in fields {
                h.field(f);
            }
            h.hex()
        };
        // The same bytes on every machine and Rust release (Python's hashlib agrees).
        assert_eq!(
            key(&[b"scores-v4", b"None"]),
            "194af60ec503d89ca0d7fda2e48ede15"
        );
        assert_ne!(key(&[b"ab", b"c"]), key(&[b"a", b"bc"]));
    }
}

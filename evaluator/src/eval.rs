//! One evaluation: score train and test under the base and the checkpoint, compute METRICS.json.
//! Base scores are cached (keyed by the base weights, tokenizer and data), since a study scores
//! many checkpoints against one base.

use crate::error::{EvalError, Result};
use crate::metrics::cells::{self, Cells};
use crate::metrics::extraction::{self, Extraction};
use crate::metrics::mia::{self, AttackResult};
use crate::scoring::{score, tokenise_file, Scores, Tokenised};
use serde::Serialize;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use triad_lm::tch::{Device, Kind};
use triad_lm::tokenizer::Tokenizer;
use triad_lm::weights::Weights;
use triad_lm::{CausalLm, ModelConfig};

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalSpec {
    pub base: PathBuf,
    /// A full checkpoint folder, or `None` with `adapter` set.
    pub checkpoint: Option<PathBuf>,
    pub adapter: Option<PathBuf>,
    pub train: PathBuf,
    pub test: PathBuf,
    pub device: Device,
    pub batch_size: usize,
    /// Where base-model scores are cached (`None`: no cache).
    pub cache_dir: Option<PathBuf>,
    /// Min-K% attack fraction.
    pub min_k: f64,
    /// `canaries.jsonl` from `triad data generate`, for exposure.
    pub canaries: Option<PathBuf>,
    /// Candidate spaces up to this size are ranked exactly; larger ones are sampled.
    pub exposure_exact_max: u64,
    pub exposure_samples: usize,
}

impl EvalSpec {
    /// A spec with the defaults of `triad eval`: checkpoint and adapter unset, batches of 8, no
    /// cache, Min-K 20%, exact exposure up to 10,000 candidates, else 2,000 samples.
    pub fn new(base: PathBuf, train: PathBuf, test: PathBuf, device: Device) -> Self {
        EvalSpec {
            base,
            checkpoint: None,
            adapter: None,
            train,
            test,
            device,
            batch_size: 8,
            cache_dir: None,
            min_k: 0.2,
            canaries: None,
            exposure_exact_max: 10_000,
            exposure_samples: 2_000,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ExposureReport {
    pub mean_exposure: f64,
    pub canaries: Vec<crate::metrics::exposure::Exposure>,
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
    /// Whether the base scores came from the cache.
    pub base_scores_cached: bool,
    pub timing: Timing,
}

/// Where the evaluation's time went (wall seconds), for cost reports and benchmarks.
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
    pub total_s: f64,
}

/// A membership score of one record from its token losses under the checkpoint and the base.
type AttackFn<'a> = dyn Fn(&[f64], &[f64]) -> f64 + 'a;

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

fn cache_key(spec: &EvalSpec, file: &Path) -> Result<String> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    // Bump when the cached format changes.
    "scores-v2".hash(&mut h);
    for f in ["config.json", "tokenizer.json"] {
        std::fs::read(spec.base.join(f))
            .map_err(|e| triad_lm::LmError::io(spec.base.join(f), e))?
            .hash(&mut h);
    }
    let mut weights: Vec<_> = std::fs::read_dir(&spec.base)
        .map_err(|e| triad_lm::LmError::io(&spec.base, e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".safetensors"))
        .collect();
    weights.sort_by_key(|e| e.file_name());
    for e in weights {
        let m = e
            .metadata()
            .map_err(|err| triad_lm::LmError::io(e.path(), err))?;
        (e.file_name(), m.len(), m.modified().ok()).hash(&mut h);
    }
    std::fs::read(file)
        .map_err(|e| triad_lm::LmError::io(file, e))?
        .hash(&mut h);
    Ok(format!("{:016x}", h.finish()))
}

fn base_scores(
    spec: &EvalSpec,
    base: &mut Option<CausalLm>,
    file: &Path,
    data: &[Tokenised],
    progress: Progress,
) -> Result<(Scores, bool)> {
    let cached = match &spec.cache_dir {
        Some(dir) => Some(dir.join(format!("{}.json", cache_key(spec, file)?))),
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
    let split = if file == spec.train { "train" } else { "test" };
    let stage = format!("base {split}");
    let scores = score(
        base.as_ref().expect("loaded"),
        data,
        spec.batch_size,
        |d, n| progress(&stage, d, n),
    );
    if let Some(p) = &cached {
        std::fs::create_dir_all(p.parent().expect("parent"))
            .map_err(|e| triad_lm::LmError::io(p, e))?;
        triad_lm::fsutil::write_atomic(p, &serde_json::to_vec(&scores).expect("json"))?;
    }
    Ok((scores, false))
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

pub fn evaluate(spec: &EvalSpec, progress: Progress) -> Result<Metrics> {
    if spec.checkpoint.is_some() == spec.adapter.is_some() {
        return Err(EvalError::Invalid(
            "give exactly one of a checkpoint or an adapter".into(),
        ));
    }
    let _span = tracing::info_span!("evaluate", base = %spec.base.display()).entered();
    let started = std::time::Instant::now();
    let tok = Tokenizer::from_file(spec.base.join("tokenizer.json"))?;
    let (_, train) = tokenise_file(&spec.train, &tok)?;
    let (_, test) = tokenise_file(&spec.test, &tok)?;
    if train.is_empty() || test.is_empty() {
        return Err(EvalError::Invalid(
            "train and test files must each hold at least one record".into(),
        ));
    }
    let mut base = None;
    let (train0, c1) = base_scores(spec, &mut base, &spec.train, &train, progress)?;
    let (test0, c2) = base_scores(spec, &mut base, &spec.test, &test, progress)?;
    drop(base);
    let base_s = started.elapsed().as_secs_f64();
    // The base evaluated as its own checkpoint (a study's reference row): its scores are the
    // base scores already at hand; the model is loaded only to rank canaries.
    let reuse_base = is_base(spec);
    let model = if reuse_base && spec.canaries.is_none() {
        None
    } else {
        Some(load(spec, true)?)
    };
    let t = std::time::Instant::now();
    let exposure = match (&spec.canaries, &model) {
        (Some(path), Some(model)) => Some(exposures(spec, model, &tok, path, progress)?),
        _ => None,
    };
    let exposure_s = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let (train1, test1) = match &model {
        Some(model) if !reuse_base => {
            let train1 = score(model, &train, spec.batch_size, |d, n| {
                progress("checkpoint train", d, n)
            });
            let test1 = score(model, &test, spec.batch_size, |d, n| {
                progress("checkpoint test", d, n)
            });
            (train1, test1)
        }
        _ => (train0.clone(), test0.clone()),
    };
    let checkpoint_scoring_s = if reuse_base {
        0.0
    } else {
        t.elapsed().as_secs_f64()
    };
    let tokens = train.iter().chain(&test).map(|t| t.ids.len() as u64).sum();
    let cells = cells::compute(
        (&train, &train1.nll, &train0.nll),
        (&test, &test1.nll, &test0.nll),
    );
    let extraction = Extraction {
        train: extraction::split(&train, &train1.top1, &train0.top1),
        test: extraction::split(&test, &test1.top1, &test0.top1),
    };

    let scores = |f: &AttackFn, a: &[Vec<f64>], b: &[Vec<f64>]| -> Vec<f64> {
        a.iter()
            .zip(b)
            .filter(|(x, _)| !x.is_empty())
            .map(|(x, y)| f(x, y))
            .collect()
    };
    let k = spec.min_k;
    let attacks: [(&str, &AttackFn); 3] = [
        ("loss", &|l, _| mia::loss_score(l)),
        ("reference", &|l, l0| mia::reference_score(l, l0)),
        ("min_k", &move |l, _| mia::min_k_score(l, k)),
    ];
    let mut results: BTreeMap<&str, AttackResult> = BTreeMap::new();
    for (name, f) in attacks {
        results.insert(
            name,
            mia::attack(
                &scores(f, &train1.nll, &train0.nll),
                &scores(f, &test1.nll, &test0.nll),
            ),
        );
    }
    let show = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    Ok(Metrics {
        base: spec.base.display().to_string(),
        checkpoint: show(&spec.checkpoint),
        adapter: show(&spec.adapter),
        train_file: spec.train.display().to_string(),
        test_file: spec.test.display().to_string(),
        cells,
        membership_inference: Mia {
            members: train1.nll.iter().filter(|x| !x.is_empty()).count(),
            non_members: test1.nll.iter().filter(|x| !x.is_empty()).count(),
            loss: results["loss"].clone(),
            reference: results["reference"].clone(),
            min_k: results["min_k"].clone(),
            min_k_fraction: k,
        },
        extraction,
        exposure,
        base_scores_cached: c1 && c2,
        timing: Timing {
            base_s,
            checkpoint_scoring_s,
            tokens,
            scoring_tokens_per_s: if reuse_base {
                0.0
            } else {
                tokens as f64 / checkpoint_scoring_s.max(1e-9)
            },
            exposure_s,
            total_s: started.elapsed().as_secs_f64(),
        },
    })
}

fn exposures(
    spec: &EvalSpec,
    model: &CausalLm,
    tok: &Tokenizer,
    path: &Path,
    progress: Progress,
) -> Result<ExposureReport> {
    let mut canaries = vec![];
    for line in triad_lm::jsonl::read_objects(path)? {
        let c: triad_lm::data::canary::Canary =
            serde_json::from_value(line.value).map_err(|e| EvalError::Data {
                path: path.to_path_buf(),
                line: line.number,
                message: format!("not a canary description: {e}"),
            })?;
        canaries.push(c);
    }
    let mut out = vec![];
    for (i, c) in canaries.iter().enumerate() {
        progress("canary exposure", i, canaries.len());
        out.push(crate::metrics::exposure::exposure(
            model,
            tok,
            c,
            spec.exposure_exact_max,
            spec.exposure_samples,
            spec.batch_size,
        )?);
    }
    progress("canary exposure", canaries.len(), canaries.len());
    let mean = out.iter().map(|e| e.exposure).sum::<f64>() / out.len().max(1) as f64;
    Ok(ExposureReport {
        mean_exposure: mean,
        canaries: out,
    })
}

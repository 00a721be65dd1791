//! One evaluation: score train and test under the base and the checkpoint, compute METRICS.json.
//! Base scores are cached (keyed by the base weights, tokenizer and data), since a study scores
//! many checkpoints against one base.

use crate::error::{EvalError, Result};
use crate::metrics::audit::{self as audit_stats, AuditResult};
use crate::metrics::cells::{self, Cells};
use crate::metrics::exposure as exp;
use crate::metrics::extraction::{self, Extraction};
use crate::metrics::interval::{self, Ci};
use crate::metrics::mia;
use crate::metrics::records::{self, RecordStat};
use crate::scoring::{score, Scores, Tokenised};
use crate::spec::{EvalSpec, AUDIT_CONFIDENCE};
use std::path::PathBuf;
use triad_data::tokenizer::Tokenizer;
use triad_lm::tch::Kind;
use triad_lm::weights::Weights;
use triad_lm::{CausalLm, ModelConfig};

mod cache;
mod inputs;
mod results;

use cache::base_scores;
use inputs::{read_inputs, Inputs, SplitData};
pub use results::{Evaluation, Excluded, ExposureReport, Metrics, Mia, Timing};
use triad_proto::v1 as pb;

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
    /// Each audit canary's score and coin, for the per-record statistics.
    audit_scores: Vec<pb::AuditScore>,
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
    let mut audit_scores = vec![];
    let audit = match (&inp.audit_data, &base.audit) {
        (Some(data), Some(s0)) => {
            let s1 = match &model {
                Some(model) if !reuse_base => score(model, &data.data, spec.batch_size, |d, n| {
                    progress("checkpoint audit", d, n)
                }),
                _ => s0.clone(),
            };
            let included: Vec<bool> = inp.audit_canaries.iter().map(|c| c.1.included).collect();
            let scores = audit_scores_of(&data.data, &s1, s0);
            audit_scores = data
                .data
                .iter()
                .zip(&scores)
                .zip(&included)
                .map(|((t, &score), &included)| pb::AuditScore {
                    id: t.id.clone(),
                    score,
                    included,
                })
                .collect();
            Some(audit_result(
                &data.data,
                &scores,
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
        audit_scores,
        exposure_s,
        audit_s,
        scoring_s: if reuse_base {
            0.0
        } else {
            t.elapsed().as_secs_f64()
        },
    })
}

/// [`run`]'s metrics alone.
pub fn evaluate(spec: &EvalSpec, progress: Progress) -> Result<Metrics> {
    run(spec, progress).map(|e| e.metrics)
}

/// One evaluation: its metrics and the per-record statistics they were computed from.
pub fn run(spec: &EvalSpec, progress: Progress) -> Result<Evaluation> {
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
    let (cells, mia, extraction, stats) = memorisation(spec, &inp, &base, &ck, progress);
    let records = pb::RecordStats {
        min_k_fraction: spec.min_k,
        train: stats.0.iter().map(pb::RecordStat::from).collect(),
        test: stats.1.iter().map(pb::RecordStat::from).collect(),
        canaries: ck
            .exposure
            .iter()
            .flat_map(|e| &e.canaries)
            .map(|c| pb::CanaryScore {
                id: c.id.clone(),
                exposure: c.exposure,
                log_likelihood: c.log_likelihood,
                extracted: c.extracted,
            })
            .collect(),
        audit: ck.audit_scores.clone(),
    };
    let show = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let metrics = Metrics {
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
    };
    Ok(Evaluation { metrics, records })
}

/// The memorisation measures from both models' scores: the 2×2 cells, the membership
/// attacks and extraction, each with its bootstrap interval.
fn memorisation(
    spec: &EvalSpec,
    inp: &Inputs,
    base: &BaseScores,
    ck: &CheckpointScores,
    progress: Progress,
) -> (Cells, Mia, Extraction, (Vec<RecordStat>, Vec<RecordStat>)) {
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
    (cells, mia, extraction, (train_stats, test_stats))
}

/// Each canary's membership score: how much more likely the checkpoint finds its secret than
/// the base does (Σ over the secret's tokens of base NLL − checkpoint NLL, nats).
fn audit_scores_of(data: &[Tokenised], s1: &Scores, s0: &Scores) -> Vec<f64> {
    data.iter()
        .enumerate()
        .map(|(i, t)| {
            t.labels
                .iter()
                .zip(s1.nll[i].iter().zip(&s0.nll[i]))
                .filter(|(l, _)| l.is_some())
                .map(|(_, (x1, x0))| x0 - x1)
                .sum()
        })
        .collect()
}

/// The audit's bound from the canaries' scores and the coins.
fn audit_result(data: &[Tokenised], scores: &[f64], included: &[bool], delta: f64) -> AuditResult {
    let keys: Vec<u64> = data
        .iter()
        .map(|t| triad_data::rng::Rng::new(0).fork(&t.id).next_u64())
        .collect();
    let mut r = audit_stats::audit(scores, included, &keys, delta, AUDIT_CONFIDENCE);
    r.method = format!(
        "membership score: the secret's log-likelihood gain over the base model; {}",
        r.method
    );
    r
}

/// A record's summary for the record-level estimates and their bootstrap.
fn record_stat(t: &Tokenised, s1: &Scores, s0: &Scores, i: usize, min_k: f64) -> RecordStat {
    let (l, l0) = (&s1.nll[i], &s0.nll[i]);
    let mut r = RecordStat {
        id: t.id.clone(),
        digest: records::digest(&t.ids),
        ..RecordStat::default()
    };
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
    let sensitive: Vec<bool> = t.labels.iter().map(Option::is_some).collect();
    r.attack = if l.is_empty() {
        [f64::NAN; 6]
    } else {
        [
            mia::loss_score(l),
            mia::reference_score(l, l0),
            mia::min_k_score(l, min_k),
            mia::token_reference_score(l, l0, &sensitive, min_k),
            mia::min_k_plus_plus_score(l, &s1.mean_logprob[i], &s1.sd_logprob[i], min_k),
            mia::zlib_score(l, t.zlib_bytes),
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
        token_reference: run(3),
        min_k_plus_plus: run(4),
        zlib: run(5),
    }
}

fn fill_intervals(ci: &[Ci], cells: &mut Cells, mia: &mut Mia, ex: &mut Extraction) {
    let at = |name: &str| ci[records::index(name)];
    cells.privacy_loss_ci95 = at("privacy_loss");
    cells.utility.nll_ci95 = at("utility_nll");
    cells.utility.gain_ci95 = at("utility_gain");
    cells.memorisation_gap_ci95 = at("memorisation_gap");
    cells.memorisation_gap_corrected_ci95 = at("memorisation_gap_corrected");
    cells.privacy_loss_general_ci95 = at("privacy_loss_general");
    for (name, a) in [
        ("loss", &mut mia.loss),
        ("reference", &mut mia.reference),
        ("min_k", &mut mia.min_k),
        ("token_reference", &mut mia.token_reference),
        ("min_k_plus_plus", &mut mia.min_k_plus_plus),
        ("zlib", &mut mia.zlib),
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

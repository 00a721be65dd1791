//! The report, rendered from the ledger alone (`triad report DIR` re-renders it):
//! `report.html` (self-contained, charts as inline SVG), `report.md`, `results.csv`, and a
//! table for the terminal.

pub mod findings;
pub mod guarantee;
mod html;
mod svg;
mod text;

use super::ledger::{base_run, Ledger, RunState};
use super::StudyError;
use std::collections::BTreeMap;
use std::path::Path;
use triad_evaluator::metrics::records::RecordStat;
use triad_proto::v1 as pb;

/// A 95% interval `[lo, hi]` from METRICS.json; `None` where it has none (older files, or no
/// data to resample).
pub type Ci = Option<[f64; 2]>;

/// One evaluated checkpoint of one run, with the run's costs.
#[derive(Debug, Clone)]
pub struct Row {
    pub run: String,
    pub label: String,
    pub method: String,
    pub params: String,
    pub epoch: u64,
    /// Formal ε under the run's accountant, and under each (DP runs; `None`: no formal ε).
    pub epsilon: Option<f64>,
    pub epsilon_rdp: Option<f64>,
    pub epsilon_pld: Option<f64>,
    /// A DP run whose noise came from its seed (`dp.reproducible_noise`): ε assumes the seed
    /// stays secret.
    pub seeded_noise: bool,
    /// Redact-then-DP: the formal ε covers the spans its first phase's scrub replaced, not
    /// whole records; that scrub.
    pub selective: Option<guarantee::ScrubRow>,
    /// The scrub the run's training text went through.
    pub scrub: Option<guarantee::ScrubRow>,
    /// What a DP run's ε is per (a record or a user).
    pub unit: Option<guarantee::UnitRow>,
    /// The one-run audit, when the study audits its runs.
    pub audit: Option<AuditRow>,
    pub privacy_loss: f64,
    pub privacy_loss_ci: Ci,
    /// The gain on held-out records' secrets: learnt about secrets in general. Files from
    /// before it existed give the point `privacy_loss − memorisation_gap_corrected`, no interval.
    pub privacy_loss_general: f64,
    pub privacy_loss_general_ci: Ci,
    pub utility_nll: f64,
    pub utility_nll_ci: Ci,
    pub utility_ppl: f64,
    pub utility_gain: f64,
    pub utility_gain_ci: Ci,
    pub memorisation_gap: f64,
    pub memorisation_gap_ci: Ci,
    /// The gap less the base model's: the part fine-tuning made.
    pub memorisation_gap_corrected: f64,
    pub memorisation_gap_corrected_ci: Ci,
    pub exposure: Option<f64>,
    /// Canaries resampled (the others resample records).
    pub exposure_ci: Ci,
    pub auc_loss: f64,
    pub auc_loss_ci: Ci,
    pub auc_reference: f64,
    pub auc_reference_ci: Ci,
    pub auc_min_k: f64,
    pub auc_min_k_ci: Ci,
    /// The attacks added in issue 29 (NaN in older files).
    pub auc_token_reference: f64,
    pub auc_token_reference_ci: Ci,
    pub auc_min_k_plus_plus: f64,
    pub auc_min_k_plus_plus_ci: Ci,
    pub auc_zlib: f64,
    pub auc_zlib_ci: Ci,
    /// LOSS attack; `None` when too few non-members resolve a 1% FPR (why: `tpr_1pct_note`).
    pub tpr_1pct: Option<f64>,
    pub tpr_1pct_ci: Ci,
    pub tpr_1pct_note: Option<String>,
    pub extraction_train: f64,
    pub extraction_train_ci: Ci,
    pub extraction_test: f64,
    pub extraction_test_ci: Ci,
    pub train_s: Option<f64>,
    pub tokens_per_s: Option<f64>,
    pub peak_gib: Option<f64>,
    /// Peak CUDA allocation (GPU runs only).
    pub peak_gpu_gib: Option<f64>,
    pub trainable: Option<i64>,
    pub eval_s: f64,
    /// The evaluation's per-record statistics (ledger), for paired comparisons; `None` for
    /// evaluations made before they were kept.
    pub records: Option<std::sync::Arc<Records>>,
}

/// One evaluation's records: members and non-members.
#[derive(Debug)]
pub struct Records {
    pub train: Vec<RecordStat>,
    pub test: Vec<RecordStat>,
}

/// A one-run audit's outcome (METRICS.json `audit`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AuditRow {
    pub m: u64,
    pub guesses: u64,
    pub correct: u64,
    /// ε shown not to hold, at `confidence`; 0 when none is rejected.
    pub epsilon_lb: f64,
    /// The largest bound these canaries could show.
    pub ceiling: f64,
    pub delta: f64,
}

fn audit_row(a: &pb::Audit) -> AuditRow {
    AuditRow {
        m: a.m,
        guesses: a.guesses,
        correct: a.correct,
        epsilon_lb: a.epsilon_lower_bound,
        ceiling: a.ceiling,
        delta: a.delta,
    }
}

/// A run in the report: its state, and its rows by epoch.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub id: String,
    pub label: String,
    pub params: String,
    /// The grid point without the seed: runs that differ only by seed share it.
    pub point: String,
    /// The run's seed, when the study lists `seeds`.
    pub seed: Option<String>,
    pub state: RunState,
    pub error: Option<String>,
    pub rows: Vec<Row>,
    pub pareto: bool,
}

impl RunSummary {
    pub fn last(&self) -> Option<&Row> {
        self.rows.last()
    }
}

pub struct Report {
    pub name: String,
    /// The model these runs fine-tuned, in a study of several (empty when there is one).
    pub model: String,
    pub runs: Vec<RunSummary>,
    /// The base model before fine-tuning, when the study evaluated it (reference, not a run:
    /// it is not on the Pareto front).
    pub base: Option<Row>,
    /// Runs that differ only by seed, summarised; empty when the study lists no `seeds`.
    pub across_seeds: Vec<SeedGroup>,
    /// Paired comparisons: each run against the base, each pair of runs (last checkpoints).
    pub pairs: Vec<findings::Pair>,
}

/// Mean and sample standard deviation over the seeds' runs (`sd` is NaN for one run), and
/// the mean width of the runs' own 95% intervals, to set the spread against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub mean: f64,
    pub sd: f64,
    pub n: usize,
    pub ci_width: Option<f64>,
}

/// One method and grid point, repeated over seeds: each run's last evaluation summarised.
#[derive(Debug, Clone)]
pub struct SeedGroup {
    pub label: String,
    pub point: String,
    pub seeds: Vec<String>,
    /// The group's runs that have an evaluation (the `n` of a metric every run has).
    pub evaluated: usize,
    pub privacy_loss: Spread,
    pub utility_nll: Spread,
    pub exposure: Spread,
    pub auc_loss: Spread,
}

/// `[lo, hi]` of a `*_ci95` field; anything else (empty, not finite) is none.
fn ci(v: &[f64]) -> Ci {
    match v {
        [lo, hi] if lo.is_finite() && hi.is_finite() => Some([lo.min(*hi), lo.max(*hi)]),
        _ => None,
    }
}

fn params_map(json: &str) -> BTreeMap<String, String> {
    serde_json::from_str(json).unwrap_or_default()
}

fn params_text(m: &BTreeMap<String, String>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A part the metrics lack, read as the file would give it: its numbers NaN, not prost's 0.
fn absent<M: serde::de::DeserializeOwned>() -> M {
    triad_proto::json::from_file_text("{}").expect("every results.proto message reads from {}")
}

/// What the report reads of an attack: its AUC, and the LOSS attack's TPR at 1% FPR.
struct AttackCells {
    auc: f64,
    auc_ci: Ci,
    tpr_1pct: Option<f64>,
    tpr_1pct_ci: Ci,
    tpr_1pct_note: Option<String>,
}

/// Every field named: one the report does not show is bound to `_` with the reason, so a field
/// added to results.proto fails to compile here until the report decides what to do with it.
fn attack_cells(a: Option<pb::Attack>) -> AttackCells {
    let pb::Attack {
        auc,
        auc_ci95,
        tpr_at_1pct_fpr,
        tpr_at_1pct_fpr_ci95,
        // The sample never resolves 0.1% FPR at the studies' sizes: METRICS.json only.
        tpr_at_01pct_fpr: _,
        tpr_at_01pct_fpr_ci95: _,
        tpr_note,
    } = a.unwrap_or_else(absent);
    AttackCells {
        auc,
        auc_ci: ci(&auc_ci95),
        tpr_1pct: tpr_at_1pct_fpr,
        tpr_1pct_ci: ci(&tpr_at_1pct_fpr_ci95),
        tpr_1pct_note: tpr_note,
    }
}

/// A split's extraction rate and its interval (per label: METRICS.json only).
fn extraction_cells(s: Option<pb::SplitExtraction>) -> (f64, Ci) {
    let pb::SplitExtraction {
        secrets: _,
        extracted: _,
        rate,
        extracted_base: _,
        rate_base: _,
        rate_ci95,
        rate_base_ci95: _,
        per_label: _,
    } = s.unwrap_or_else(absent);
    (rate, ci(&rate_ci95))
}

/// The attacks' cells: LOSS, reference (calibrated by the base), Min-K%, token-level
/// reference, Min-K%++, zlib.
fn attacks(m: Option<pb::MembershipInference>) -> [AttackCells; 6] {
    let pb::MembershipInference {
        // Set sizes: the TPR note says when they are too small.
        members: _,
        non_members: _,
        loss,
        reference,
        min_k,
        min_k_fraction: _,
        token_reference,
        min_k_plus_plus,
        zlib,
    } = m.unwrap_or_else(absent);
    [
        attack_cells(loss),
        attack_cells(reference),
        attack_cells(min_k),
        attack_cells(token_reference),
        attack_cells(min_k_plus_plus),
        attack_cells(zlib),
    ]
}

/// Utility's NLL, perplexity and gain with their intervals.
fn utility(u: Option<pb::Utility>) -> (f64, Ci, f64, f64, Ci) {
    let pb::Utility {
        nll,
        perplexity,
        // The base row shows the base's own NLL.
        nll_base: _,
        perplexity_base: _,
        gain,
        nll_ci95,
        gain_ci95,
    } = u.unwrap_or_else(absent);
    (nll, ci(&nll_ci95), perplexity, gain, ci(&gain_ci95))
}

/// A row's metrics from METRICS.json; the run's costs are filled in by the caller.
fn row(run: &str, label: &str, method: &str, params: &str, epoch: u64, m: &pb::Metrics) -> Row {
    let pb::Metrics {
        // Which files: the ledger names the run and its data.
        base: _,
        checkpoint: _,
        adapter: _,
        train_file: _,
        test_file: _,
        // The 2×2 cells and the per-label split: METRICS.json only.
        train: _,
        test: _,
        per_label: _,
        privacy_loss,
        privacy_loss_ci95,
        utility: u,
        memorisation_gap,
        memorisation_gap_ci95,
        // Shown through the corrected gap (the gap less this).
        memorisation_gap_base: _,
        memorisation_gap_corrected,
        memorisation_gap_corrected_ci95,
        membership_inference,
        extraction,
        exposure,
        // How the evaluation was made: METRICS.json and docs/evaluator.md say.
        canary_records_excluded: _,
        audit,
        audit_records_excluded: _,
        max_length: _,
        intervals: _,
        base_scores_cached: _,
        timing,
        privacy_loss_general,
        privacy_loss_general_ci95,
    } = m.clone();
    let (utility_nll, utility_nll_ci, utility_ppl, utility_gain, utility_gain_ci) = utility(u);
    let [loss, reference, min_k, token_reference, min_k_plus_plus, zlib] =
        attacks(membership_inference);
    // privacy_loss = general + memorised holds exactly, so an older file's general is known.
    let privacy_loss_general = if privacy_loss_general.is_nan() {
        privacy_loss - memorisation_gap_corrected
    } else {
        privacy_loss_general
    };
    let pb::Extraction {
        train: ex_train,
        test: ex_test,
    } = extraction.unwrap_or_else(absent);
    let (extraction_train, extraction_train_ci) = extraction_cells(ex_train);
    let (extraction_test, extraction_test_ci) = extraction_cells(ex_test);
    Row {
        run: run.to_string(),
        label: label.to_string(),
        method: method.to_string(),
        params: params.to_string(),
        epoch,
        epsilon: None,
        epsilon_rdp: None,
        epsilon_pld: None,
        seeded_noise: false,
        selective: None,
        scrub: None,
        unit: None,
        audit: audit.as_ref().map(audit_row),
        privacy_loss,
        privacy_loss_ci: ci(&privacy_loss_ci95),
        privacy_loss_general,
        privacy_loss_general_ci: ci(&privacy_loss_general_ci95),
        utility_nll,
        utility_nll_ci,
        utility_ppl,
        utility_gain,
        utility_gain_ci,
        memorisation_gap,
        memorisation_gap_ci: ci(&memorisation_gap_ci95),
        memorisation_gap_corrected,
        memorisation_gap_corrected_ci: ci(&memorisation_gap_corrected_ci95),
        exposure: exposure.as_ref().map(|e| e.mean_exposure),
        exposure_ci: exposure.as_ref().and_then(|e| ci(&e.mean_exposure_ci95)),
        auc_loss: loss.auc,
        auc_loss_ci: loss.auc_ci,
        auc_reference: reference.auc,
        auc_reference_ci: reference.auc_ci,
        auc_min_k: min_k.auc,
        auc_min_k_ci: min_k.auc_ci,
        auc_token_reference: token_reference.auc,
        auc_token_reference_ci: token_reference.auc_ci,
        auc_min_k_plus_plus: min_k_plus_plus.auc,
        auc_min_k_plus_plus_ci: min_k_plus_plus.auc_ci,
        auc_zlib: zlib.auc,
        auc_zlib_ci: zlib.auc_ci,
        tpr_1pct: loss.tpr_1pct,
        tpr_1pct_ci: loss.tpr_1pct_ci,
        tpr_1pct_note: loss.tpr_1pct_note,
        extraction_train,
        extraction_train_ci,
        extraction_test,
        extraction_test_ci,
        train_s: None,
        tokens_per_s: None,
        peak_gib: None,
        peak_gpu_gib: None,
        trainable: None,
        eval_s: timing.as_ref().map_or(f64::NAN, |t| t.total_s),
        records: None,
    }
}

/// A run's evaluations as rows, with the run's costs from its run record.
fn run_rows(
    ledger: &Ledger,
    r: &super::ledger::RunRow,
    params: &str,
) -> Result<Vec<Row>, StudyError> {
    // A record that does not parse (an older format) leaves the costs empty, not the rows.
    let record: pb::RunRecord = r
        .record
        .as_deref()
        .and_then(|s| triad_proto::json::from_file_text(s).ok())
        .unwrap_or_default();
    let last = record.epochs.last().map(|x| x.epoch);
    let mut rows = vec![];
    for e in ledger.evals(&r.id)? {
        let m = metrics(&r.id, e.epoch, &e.metrics)?;
        let mut row = row(&r.id, &r.label, &r.method, params, e.epoch, &m);
        row.records = records(ledger, &r.id, e.epoch)?;
        let at = record.epochs.iter().find(|x| x.epoch == e.epoch);
        // ε of the epoch; the run's last value where older records kept none per epoch.
        let is_last = last == Some(e.epoch);
        let pick = |per_epoch: Option<f64>, run: Option<f64>, always: bool| {
            per_epoch.or(if always || is_last { run } else { None })
        };
        row.epsilon = pick(at.and_then(|x| x.epsilon), record.epsilon, true);
        row.epsilon_rdp = pick(at.and_then(|x| x.epsilon_rdp), record.epsilon_rdp, false);
        row.epsilon_pld = pick(at.and_then(|x| x.epsilon_pld), record.epsilon_pld, false);
        row.seeded_noise = record.epsilon.is_some() && !record.secure_rng;
        row.scrub = guarantee::ScrubRow::of(&record);
        row.selective = guarantee::ScrubRow::of_phase_one(&record);
        row.unit = guarantee::UnitRow::of(&record);
        row.train_s = r.record.as_ref().map(|_| record.wall_time_s);
        row.tokens_per_s = r.record.as_ref().map(|_| record.tokens_per_second);
        let gib = |b: Option<u64>| b.map(|b| b as f64 / (1u64 << 30) as f64);
        row.peak_gib = gib(record.peak_memory_bytes);
        row.peak_gpu_gib = gib(record.peak_device_memory_bytes);
        row.trainable = r.record.as_ref().map(|_| record.trainable_parameters);
        rows.push(row);
    }
    Ok(rows)
}

/// The Pareto front over each run's last evaluation, minimising privacy loss and utility NLL
/// together (every run on its own, seeds included: a front of means would hide the spread).
fn mark_front(runs: &mut [RunSummary]) {
    let points: Vec<(usize, f64, f64)> = runs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.last().map(|x| (i, x.privacy_loss, x.utility_nll)))
        .filter(|(_, a, b)| a.is_finite() && b.is_finite())
        .collect();
    for &(i, a, b) in &points {
        let dominated = points
            .iter()
            .any(|&(j, c, d)| j != i && c <= a && d <= b && (c < a || d < b));
        runs[i].pareto = !dominated;
    }
}

/// Mean, sample sd and count of the finite values, with the mean width of their intervals.
fn spread(values: &[(f64, Ci)]) -> Spread {
    let v: Vec<f64> = values
        .iter()
        .map(|x| x.0)
        .filter(|x| x.is_finite())
        .collect();
    let n = v.len();
    let mean = v.iter().sum::<f64>() / n as f64;
    let sd = if n > 1 {
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        f64::NAN
    };
    let widths: Vec<f64> = values
        .iter()
        .filter_map(|x| x.1.map(|[lo, hi]| hi - lo))
        .collect();
    let ci_width = (!widths.is_empty()).then(|| widths.iter().sum::<f64>() / widths.len() as f64);
    Spread {
        mean,
        sd,
        n,
        ci_width,
    }
}

/// Runs with a seed grouped by method and grid point, in plan order; each group's last rows
/// summarised. Runs not yet evaluated are left out of their group's numbers.
pub fn across_seeds(runs: &[RunSummary]) -> Vec<SeedGroup> {
    let mut groups: Vec<(&str, &str, Vec<&RunSummary>)> = vec![];
    for run in runs.iter().filter(|r| r.seed.is_some()) {
        match groups
            .iter_mut()
            .find(|g| g.0 == run.label && g.1 == run.point)
        {
            Some(g) => g.2.push(run),
            None => groups.push((&run.label, &run.point, vec![run])),
        }
    }
    groups
        .into_iter()
        .map(|(label, point, members)| {
            let last: Vec<&Row> = members.iter().filter_map(|r| r.last()).collect();
            let of = |f: &dyn Fn(&Row) -> (f64, Ci)| {
                spread(&last.iter().map(|x| f(x)).collect::<Vec<_>>())
            };
            SeedGroup {
                label: label.to_string(),
                point: point.to_string(),
                seeds: members.iter().filter_map(|r| r.seed.clone()).collect(),
                evaluated: last.len(),
                privacy_loss: of(&|x| (x.privacy_loss, x.privacy_loss_ci)),
                utility_nll: of(&|x| (x.utility_nll, x.utility_nll_ci)),
                exposure: of(&|x| (x.exposure.unwrap_or(f64::NAN), x.exposure_ci)),
                auc_loss: of(&|x| (x.auc_loss, x.auc_loss_ci)),
            }
        })
        .collect()
}

/// An evaluation's metrics as the ledger holds them; anything but a METRICS.json object is an
/// error naming the run and epoch (a report of NaNs would pass for results).
fn metrics(run: &str, epoch: u64, text: &str) -> Result<pb::Metrics, StudyError> {
    let bad = |why: String| {
        StudyError::Ledger(format!(
            "evaluation of `{run}` epoch {epoch}: {why}; delete that row (or the ledger's evals \
             table) and run the study again to re-evaluate"
        ))
    };
    let m: pb::Metrics = triad_proto::json::from_file_text(text)
        .map_err(|e| bad(format!("metrics do not read as triad.v1.Metrics ({e})")))?;
    // The two numbers every row needs (a JSON number is finite; absent or null reads as NaN).
    let nll = m.utility.as_ref().map_or(f64::NAN, |u| u.nll);
    if !m.privacy_loss.is_finite() || !nll.is_finite() {
        return Err(bad("metrics lack `privacy_loss` or `utility.nll`".into()));
    }
    Ok(m)
}

/// An evaluation's per-record statistics from the ledger, if it kept them.
fn records(
    ledger: &Ledger,
    run: &str,
    epoch: u64,
) -> Result<Option<std::sync::Arc<Records>>, StudyError> {
    let Some(text) = ledger.records(run, epoch)? else {
        return Ok(None);
    };
    let r: pb::RecordStats = triad_proto::json::from_file_text(&text).map_err(|e| {
        StudyError::Ledger(format!(
            "per-record statistics of `{run}` epoch {epoch} do not read as \
             triad.v1.RecordStats ({e}); delete that row of the ledger's records table (the \
             report then shows no paired comparison for it)"
        ))
    })?;
    let (train, test) = triad_evaluator::metrics::paired::sides_of(&r);
    Ok(Some(std::sync::Arc::new(Records { train, test })))
}

/// Read the ledger into reports: one per model, in plan order (one in a one-model study).
pub fn load(ledger: &Ledger, name: &str) -> Result<Vec<Report>, StudyError> {
    let mut by_model: Vec<(String, Vec<RunSummary>)> = vec![];
    for r in ledger.runs()? {
        let mut params = params_map(&r.params);
        let text = params_text(&params);
        let rows = run_rows(ledger, &r, &text)?;
        let seed = params.remove("seed");
        let model = params.get("model").cloned().unwrap_or_default();
        let run = RunSummary {
            id: r.id,
            label: r.label,
            params: text,
            point: params_text(&params),
            seed,
            state: r.state,
            error: r.error,
            rows,
            pareto: false,
        };
        match by_model.iter_mut().find(|(m, _)| *m == model) {
            Some((_, runs)) => runs.push(run),
            None => by_model.push((model, vec![run])),
        }
    }
    if by_model.is_empty() {
        by_model.push((String::new(), vec![]));
    }
    by_model
        .into_iter()
        .map(|(model, mut runs)| {
            // Each model's own front: runs of different models do not compete.
            mark_front(&mut runs);
            let mut r = Report {
                name: name.to_string(),
                base: base_row(ledger, &model)?,
                across_seeds: across_seeds(&runs),
                model,
                runs,
                pairs: vec![],
            };
            r.pairs = findings::pairs(&r);
            Ok(r)
        })
        .collect()
}

/// The base model as its own checkpoint: nothing learned from the private data (ε = 0).
fn base_row(ledger: &Ledger, model: &str) -> Result<Option<Row>, StudyError> {
    let id = base_run(model);
    Ok(match ledger.evals(&id)?.into_iter().next() {
        Some(e) => {
            let m = metrics(&id, 0, &e.metrics)?;
            let mut r = row(&id, "base", "base", "", 0, &m);
            r.epsilon = Some(0.0);
            r.records = records(ledger, &id, 0)?;
            Some(r)
        }
        None => None,
    })
}

/// Terms a model in the study comes under, read from its folder's `config.json`: Gemma
/// models are not under an open-source licence.
pub fn terms(study_dir: &Path, reports: &[Report]) -> Vec<String> {
    let mut out = vec![];
    for r in reports {
        let folder = if r.model.is_empty() { "base" } else { &r.model };
        let cfg = study_dir.join("models").join(folder).join("config.json");
        let arch = triad_lm::ModelConfig::from_file(&cfg).map(|c| c.arch).ok();
        if arch.is_some_and(|a| a.is_gemma()) {
            let who = if r.model.is_empty() {
                "The base model"
            } else {
                r.model.as_str()
            };
            out.push(format!("{who} is a Gemma model, provided under and subject to the Gemma Terms of Use (https://ai.google.dev/gemma/terms); its outputs and fine-tuned weights are too."));
        }
    }
    out
}

/// Write report.html, report.md and results.csv into `dir` (atomically) and return the
/// terminal table. Several reports (one per model) go on one page, each with its own front.
pub fn write(reports: &[Report], dir: &Path) -> Result<String, StudyError> {
    let terms = terms(dir, reports);
    triad_data::fsutil::write_atomic(dir.join("results.csv"), text::csv_all(reports).as_bytes())?;
    triad_data::fsutil::write_atomic(
        dir.join("report.md"),
        text::markdown_all(reports, &terms).as_bytes(),
    )?;
    triad_data::fsutil::write_atomic(
        dir.join("report.html"),
        html::render_all(reports, &terms).as_bytes(),
    )?;
    Ok(text::table_all(reports, &terms))
}

#[cfg(test)]
mod tests {
    use super::super::ledger::BASE_RUN;
    use super::*;
    use serde_json::json;

    /// A METRICS.json text as the message the report reads.
    fn pb(v: serde_json::Value) -> pb::Metrics {
        serde_json::from_value(v).expect("metrics fit results.proto")
    }

    /// METRICS.json as the evaluator wrote it before intervals.
    fn old_metrics(pl: f64) -> serde_json::Value {
        json!({
            "privacy_loss": pl,
            "utility": {"nll": 2.0, "perplexity": 7.4, "gain": 0.5},
            "memorisation_gap": 0.1,
            "exposure": {"mean_exposure": 5.0},
            "membership_inference": {
                "loss": {"auc": 0.6, "tpr_at_1pct_fpr": 0.02},
                "reference": {"auc": 0.7},
                "min_k": {"auc": 0.55}
            },
            "extraction": {"train": {"rate": 0.2}, "test": {"rate": 0.1}},
            "timing": {"total_s": 3.0}
        })
    }

    /// The same with 95% intervals, and a TPR too few non-members resolve.
    fn new_metrics(pl: f64) -> serde_json::Value {
        let mut m = old_metrics(pl);
        m["privacy_loss_ci95"] = json!([pl - 0.1, pl + 0.1]);
        // A bootstrap end just below zero prints as 0.000, not -0.000.
        m["memorisation_gap_corrected_ci95"] = json!([-0.0001, 0.15]);
        m["memorisation_gap_ci95"] = json!([0.0, 0.2]);
        m["memorisation_gap_base"] = json!(0.05);
        m["memorisation_gap_corrected"] = json!(0.05);
        m["utility"]["nll_ci95"] = json!([1.9, 2.1]);
        m["utility"]["gain_ci95"] = json!([0.4, 0.6]);
        m["exposure"]["mean_exposure_ci95"] = json!([3.0, 7.0]);
        let mia = &mut m["membership_inference"];
        for a in ["loss", "reference", "min_k"] {
            mia[a]["auc_ci95"] = json!([0.5, 0.8]);
        }
        mia["loss"]["tpr_at_1pct_fpr"] = serde_json::Value::Null;
        mia["loss"]["tpr_at_1pct_fpr_ci95"] = serde_json::Value::Null;
        mia["loss"]["tpr_note"] = json!("32 non-members resolve no FPR below 3.1%");
        m["extraction"]["train"]["rate_ci95"] = json!([0.1, 0.3]);
        m
    }

    /// A row of the plain metrics, for tests of what is drawn from it.
    pub(super) fn row_for_tests() -> Row {
        row("r", "lora", "lora", "", 1, &pb(new_metrics(1.0)))
    }

    fn run(id: &str, seed: Option<u64>, m: &serde_json::Value) -> RunSummary {
        let mut params = BTreeMap::from([("lr".to_string(), "0.001".to_string())]);
        let point = params_text(&params);
        if let Some(s) = seed {
            params.insert("seed".into(), s.to_string());
        }
        let text = params_text(&params);
        RunSummary {
            id: id.into(),
            label: "lora".into(),
            rows: vec![row(id, "lora", "lora", &text, 1, &pb(m.clone()))],
            params: text,
            point,
            seed: seed.map(|s| s.to_string()),
            state: RunState::Done,
            error: None,
            pareto: false,
        }
    }

    fn report(runs: Vec<RunSummary>, base: Option<Row>) -> Report {
        let mut runs = runs;
        mark_front(&mut runs);
        Report {
            name: "t".into(),
            model: String::new(),
            across_seeds: across_seeds(&runs),
            runs,
            base,
            pairs: vec![],
        }
    }

    #[test]
    fn old_metrics_read_without_intervals_and_new_ones_with() {
        let old = row("a", "lora", "lora", "", 1, &pb(old_metrics(1.0)));
        assert_eq!(
            (old.privacy_loss_ci, old.auc_loss_ci, old.tpr_1pct),
            (None, None, Some(0.02))
        );
        assert!(old.memorisation_gap_corrected.is_nan());
        let new = row("a", "lora", "lora", "", 1, &pb(new_metrics(1.0)));
        assert_eq!(new.privacy_loss_ci, Some([0.9, 1.1]));
        assert_eq!(new.exposure_ci, Some([3.0, 7.0]));
        assert_eq!(new.extraction_test_ci, None);
        // `null` stays no number: never NaN, never 0 in the CSV.
        assert_eq!((new.tpr_1pct, new.tpr_1pct_ci), (None, None));
        let r = report(vec![run("a", None, &new_metrics(1.0))], None);
        let csv = text::csv(&r);
        let (head, line) = (csv.lines().next().unwrap(), csv.lines().nth(1).unwrap());
        let field = |name: &str| {
            let i = head.split(',').position(|h| h == name).unwrap();
            line.split(',').nth(i).unwrap().to_string()
        };
        assert_eq!(head.split(',').count(), line.split(',').count());
        assert_eq!(field("privacy_loss_lo"), "0.900000");
        assert_eq!(field("memorisation_gap_corrected_hi"), "0.150000");
        assert_eq!(field("mia_tpr_at_1pct_fpr_loss"), "");
    }

    #[test]
    fn error_bars_are_drawn_where_there_are_intervals_only() {
        let base = row(BASE_RUN, "base", "base", "", 0, &pb(old_metrics(0.0)));
        let old = report(vec![run("a", None, &old_metrics(1.0))], Some(base.clone()));
        let html = html::render(&old);
        assert!(!html.contains("errbar"), "error bars without intervals");
        assert!(text::markdown(&old).contains("| 1.000 | 2.000 |"));

        let new = report(vec![run("a", None, &new_metrics(1.0))], Some(base));
        let html = html::render(&new);
        // Scatter: privacy loss and utility; exposure and AUC bars; one whisker per epoch in
        // both trajectories.
        assert_eq!(html.matches(r#"class="errbar""#).count(), 6, "{html}");
        assert!(html.contains("<span class=\"ci\">[0.900, 1.100]</span>"));
        assert!(
            html.contains("<span class=\"ci\">[0.000, 0.150]</span>"),
            "{html}"
        );
        assert!(
            html.contains("32 non-members"),
            "the TPR note is the cell's tooltip"
        );
        assert!(text::markdown(&new).contains("| 1.000 [0.900, 1.100] |"));
        assert!(text::table(&new).contains("[0.900, 1.100]"));
        assert!(!html.contains("Across seeds") && !text::markdown(&new).contains("Across seeds"));
    }

    /// A DP run with reproducible noise has its ε marked, and the mark explained, everywhere.
    #[test]
    fn seeded_noise_is_marked_beside_epsilon() {
        let m = new_metrics(1.0);
        let mut dp = run("dp", None, &m);
        dp.rows[0].epsilon = Some(6.0);
        dp.rows[0].seeded_noise = true;
        let r = report(vec![dp], None);
        let md = text::markdown(&r);
        assert!(
            md.contains("6.00 †") && md.contains(text::SEEDED_NOTE),
            "{md}"
        );
        let table = text::table(&r);
        assert!(table.contains("6.00 †") && table.contains("assumes the seed stays secret"));
        assert!(html::render(&r).contains("assumes the seed stays secret"));
    }

    #[test]
    fn audits_reach_the_csv_the_tables_and_the_epsilon_chart() {
        let mut m = new_metrics(1.0);
        m["audit"] = json!({
            "m": 500, "included": 247, "guesses": 20, "correct": 20,
            "epsilon_lower_bound": 1.25, "confidence": 0.95, "delta": 1e-5,
            "ceiling": 5.1, "method": "…"
        });
        let mut dp = run("dp", None, &m);
        dp.rows[0].epsilon = Some(6.0);
        dp.rows[0].epsilon_rdp = Some(8.0);
        dp.rows[0].epsilon_pld = Some(6.0);
        let full = run("full", None, &m);
        let r = report(vec![dp, full], None);
        let csv = text::csv(&r);
        let head: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        let line: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
        let field = |name: &str| line[head.iter().position(|h| *h == name).unwrap()];
        assert_eq!(head.len(), line.len());
        assert_eq!(field("audit_epsilon_lb"), "1.250000");
        assert_eq!(field("epsilon_rdp"), "8.000000");
        assert_eq!(field("audit_correct"), "20");
        assert!(text::markdown(&r).contains("| PLD 6.00 / RDP 8.00 | ε 6.00 per record | ≥ 1.25 |"));
        assert!(text::markdown(&r).contains("| ∞ | none | ≥ 1.25 |"));
        assert_eq!(field("guarantee"), "ε 6.00 per record");
        assert_eq!(field("scrub"), "none");
        assert!(!text::markdown(&r).contains(text::SEEDED_NOTE));
        let html = html::render(&r);
        assert!(html.contains("Formal against empirical ε"));
        assert_eq!(html.matches(r#"class="diagonal""#).count(), 1);
        assert!(
            html.contains("formal ε 6, audit ε ≥ 1.25"),
            "the tighter formal ε"
        );
        assert!(
            html.contains("formal ε ∞, audit ε ≥ 1.25"),
            "no DP: the ∞ column"
        );
        // Without audits, no section.
        let plain = report(vec![run("a", None, &new_metrics(1.0))], None);
        assert!(!html::render(&plain).contains("Formal against empirical ε"));
        assert!(text::markdown(&plain).contains("| – |"));
    }

    #[test]
    fn runs_differing_only_by_seed_are_summarised_across_seeds() {
        let runs: Vec<RunSummary> = [1.0, 2.0, 3.0]
            .iter()
            .enumerate()
            .map(|(s, pl)| run(&format!("r{s}"), Some(s as u64), &new_metrics(*pl)))
            .collect();
        let r = report(runs, None);
        assert_eq!(r.across_seeds.len(), 1);
        let g = &r.across_seeds[0];
        assert_eq!((g.label.as_str(), g.point.as_str()), ("lora", "lr=0.001"));
        assert_eq!(g.seeds, ["0", "1", "2"]);
        let pl = g.privacy_loss;
        assert_eq!((pl.mean, pl.sd, pl.n), (2.0, 1.0, 3));
        assert!((pl.ci_width.unwrap() - 0.2).abs() < 1e-12);
        assert_eq!((g.utility_nll.mean, g.utility_nll.sd), (2.0, 0.0));
        // The front is still over runs: the lowest privacy loss dominates.
        assert_eq!(
            r.runs.iter().map(|x| x.pareto).collect::<Vec<_>>(),
            [true, false, false]
        );
        let md = text::markdown(&r);
        assert!(md.contains("## Across seeds"), "{md}");
        assert!(
            md.contains("| lora | lr=0.001 | 0, 1, 2 | 3 | 2.000 ± 1.000 (0.200) |"),
            "{md}"
        );
        assert!(html::render(&r).contains("<h2>Across seeds</h2>"));
        // One seed: no sd.
        let one = report(vec![run("r0", Some(0), &old_metrics(1.0))], None);
        assert!(text::markdown(&one).contains("| 1.000 ± – |"));
    }
}

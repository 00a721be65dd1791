//! The report, rendered from the ledger alone (`triad report DIR` re-renders it):
//! `report.html` (self-contained, charts as inline SVG), `report.md`, `results.csv`, and a
//! table for the terminal.

mod html;
mod svg;
mod text;

use super::ledger::{Ledger, RunState, BASE_RUN};
use super::StudyError;
use std::path::Path;

/// One evaluated checkpoint of one run, with the run's costs.
#[derive(Debug, Clone)]
pub struct Row {
    pub run: String,
    pub label: String,
    pub method: String,
    pub params: String,
    pub epoch: u64,
    pub epsilon: Option<f64>,
    pub privacy_loss: f64,
    pub utility_nll: f64,
    pub utility_ppl: f64,
    pub utility_gain: f64,
    pub memorisation_gap: f64,
    pub exposure: Option<f64>,
    pub auc_loss: f64,
    pub auc_reference: f64,
    pub auc_min_k: f64,
    pub tpr_1pct: f64,
    pub extraction_train: f64,
    pub extraction_test: f64,
    pub train_s: Option<f64>,
    pub tokens_per_s: Option<f64>,
    pub peak_gib: Option<f64>,
    /// Peak CUDA allocation (GPU runs only).
    pub peak_gpu_gib: Option<f64>,
    pub trainable: Option<i64>,
    pub eval_s: f64,
}

/// A run in the report: its state, and its rows by epoch.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub id: String,
    pub label: String,
    pub params: String,
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
    pub runs: Vec<RunSummary>,
    /// The base model before fine-tuning, when the study evaluated it (reference, not a run:
    /// it is not on the Pareto front).
    pub base: Option<Row>,
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn params_text(json: &str) -> String {
    let m: std::collections::BTreeMap<String, String> =
        serde_json::from_str(json).unwrap_or_default();
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A row's metrics from METRICS.json; the run's costs are filled in by the caller.
fn row(
    run: &str,
    label: &str,
    method: &str,
    params: &str,
    epoch: u64,
    m: &serde_json::Value,
) -> Row {
    Row {
        run: run.to_string(),
        label: label.to_string(),
        method: method.to_string(),
        params: params.to_string(),
        epoch,
        epsilon: None,
        privacy_loss: f(&m["privacy_loss"]),
        utility_nll: f(&m["utility"]["nll"]),
        utility_ppl: f(&m["utility"]["perplexity"]),
        utility_gain: f(&m["utility"]["gain"]),
        memorisation_gap: f(&m["memorisation_gap"]),
        exposure: m["exposure"]["mean_exposure"].as_f64(),
        auc_loss: f(&m["membership_inference"]["loss"]["auc"]),
        auc_reference: f(&m["membership_inference"]["reference"]["auc"]),
        auc_min_k: f(&m["membership_inference"]["min_k"]["auc"]),
        tpr_1pct: f(&m["membership_inference"]["loss"]["tpr_at_1pct_fpr"]),
        extraction_train: f(&m["extraction"]["train"]["rate"]),
        extraction_test: f(&m["extraction"]["test"]["rate"]),
        train_s: None,
        tokens_per_s: None,
        peak_gib: None,
        peak_gpu_gib: None,
        trainable: None,
        eval_s: f(&m["timing"]["total_s"]),
    }
}

/// Read the ledger into a report; the Pareto front is over each run's last evaluation,
/// minimising privacy loss and utility NLL together.
pub fn load(ledger: &Ledger, name: &str) -> Result<Report, StudyError> {
    let mut runs = vec![];
    for r in ledger.runs()? {
        let record: serde_json::Value = r
            .record
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        let eps_at = |epoch: u64| -> Option<f64> {
            record["epochs"]
                .as_array()?
                .iter()
                .find(|e| e["epoch"].as_u64() == Some(epoch))?["epsilon"]
                .as_f64()
        };
        let mut rows = vec![];
        for e in ledger.evals(&r.id)? {
            let m: serde_json::Value = serde_json::from_str(&e.metrics).unwrap_or_default();
            let mut row = row(
                &r.id,
                &r.label,
                &r.method,
                &params_text(&r.params),
                e.epoch,
                &m,
            );
            row.epsilon = eps_at(e.epoch).or_else(|| record["epsilon"].as_f64());
            row.train_s = record["wall_time_s"].as_f64();
            row.tokens_per_s = record["tokens_per_second"].as_f64();
            let gib = |k: &str| record[k].as_f64().map(|b| b / (1u64 << 30) as f64);
            row.peak_gib = gib("peak_memory_bytes");
            row.peak_gpu_gib = gib("peak_device_memory_bytes");
            row.trainable = record["trainable_parameters"].as_i64();
            rows.push(row);
        }
        runs.push(RunSummary {
            id: r.id,
            label: r.label,
            params: params_text(&r.params),
            state: r.state,
            error: r.error,
            rows,
            pareto: false,
        });
    }
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
    // The base model as its own checkpoint: nothing learned from the private data (ε = 0).
    let base = ledger.evals(BASE_RUN)?.into_iter().next().map(|e| {
        let m: serde_json::Value = serde_json::from_str(&e.metrics).unwrap_or_default();
        let mut r = row(BASE_RUN, "base", "base", "", 0, &m);
        r.epsilon = Some(0.0);
        r
    });
    Ok(Report {
        name: name.to_string(),
        runs,
        base,
    })
}

/// Write report.html, report.md and results.csv into `dir` (atomically) and return the
/// terminal table.
pub fn write(report: &Report, dir: &Path) -> Result<String, StudyError> {
    triad_lm::fsutil::write_atomic(dir.join("results.csv"), text::csv(report).as_bytes())?;
    triad_lm::fsutil::write_atomic(dir.join("report.md"), text::markdown(report).as_bytes())?;
    triad_lm::fsutil::write_atomic(dir.join("report.html"), html::render(report).as_bytes())?;
    Ok(text::table(report))
}

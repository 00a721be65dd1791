//! Model cards of a study's checkpoints: once a checkpoint is evaluated, the numbers the ledger
//! holds for it go into the card the trainer wrote beside its weights (trainer/src/card), with
//! every digit, so the card and the ledger never disagree.

use super::ledger::{Ledger, BASE_RUN};
use super::plan::{Inputs, PlannedRun};
use super::StudyError;
use std::path::Path;
use triad_proto::v1 as pb;
use triad_trainer::card::{self, AuditBound, Measured, Metric};

/// What the card states of an evaluation (METRICS.json's numbers, unchanged).
pub fn measured(m: &pb::Metrics) -> Measured {
    let mia = m.membership_inference.as_ref();
    let auc = |a: Option<&pb::Attack>| a.map(|a| Metric::new(a.auc, &a.auc_ci95));
    Measured {
        privacy_loss: Metric::new(m.privacy_loss, &m.privacy_loss_ci95),
        exposure: m
            .exposure
            .as_ref()
            .filter(|e| !e.canaries.is_empty())
            .map(|e| Metric::new(e.mean_exposure, &e.mean_exposure_ci95)),
        auc_reference: auc(mia.and_then(|x| x.reference.as_ref())),
        auc_loss: auc(mia.and_then(|x| x.loss.as_ref())),
        utility_nll: m.utility.as_ref().map(|u| Metric::new(u.nll, &u.nll_ci95)),
        audit: m.audit.as_ref().filter(|a| a.m > 0).map(|a| AuditBound {
            epsilon_lower_bound: a.epsilon_lower_bound,
            confidence: a.confidence,
            delta: a.delta,
        }),
    }
}

/// Splice the evaluation `metrics` (METRICS.json's text, as the ledger keeps it) of the run
/// `run_id` (of the model named `model`)'s checkpoint at `epoch` into its card. Whether the
/// card changed.
pub fn write_one(
    study_dir: &Path,
    root: &Path,
    (run_id, model): (&str, &str),
    inputs: &[Inputs],
    epoch: u64,
    metrics: &str,
) -> Result<bool, StudyError> {
    let m: pb::Metrics = serde_json::from_str(metrics).map_err(|e| {
        StudyError::Ledger(format!(
            "run {run_id} epoch {epoch}: the metrics do not parse: {e}"
        ))
    })?;
    let base = inputs
        .iter()
        .find(|i| i.name == model)
        .map(|i| root.join(&i.model))
        .ok_or_else(|| StudyError::Invalid(format!("run {run_id}: no model {model:?}")))?;
    let out = study_dir.join("runs").join(run_id);
    card::write_measured(root, &out, epoch, &base, &measured(&m)).map_err(|e| {
        StudyError::Invalid(format!("run {run_id} epoch {epoch}: its model card: {e}"))
    })
}

/// Every evaluated checkpoint of `runs` gets its evaluation in its card (those already
/// holding it are left alone): what a rerun does for cards an interrupted study left
/// unwritten. The number of cards written, and the failures, one line each.
pub fn sweep(
    ledger: &Ledger,
    study_dir: &Path,
    root: &Path,
    runs: &[PlannedRun],
    inputs: &[Inputs],
) -> Result<(usize, Vec<String>), StudyError> {
    let (mut written, mut failed) = (0, vec![]);
    for run in runs.iter().filter(|r| !r.id.starts_with(BASE_RUN)) {
        let who = (run.id.as_str(), run.model.as_str());
        for e in ledger.evals(&run.id)? {
            match write_one(study_dir, root, who, inputs, e.epoch, &e.metrics) {
                Ok(w) => written += usize::from(w),
                Err(err) => failed.push(err.to_string()),
            }
        }
    }
    Ok((written, failed))
}

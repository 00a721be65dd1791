//! The data an evaluation reads: both splits tokenised with canary and audit records set apart,
//! the canaries, the audit set, and what the trained run says of `max_length` and δ.

use crate::error::{EvalError, Result};
use crate::scoring::{tokenise, Tokenised};
use crate::spec::{EvalSpec, DEFAULT_AUDIT_DELTA};
use std::path::{Path, PathBuf};
use triad_data::audit::AuditCanary;
use triad_data::tokenizer::Tokenizer;

/// A split as evaluated: its tokenised records (canary and audit records removed) and the ids
/// removed.
pub(super) struct SplitData {
    pub(super) name: &'static str,
    pub(super) file: PathBuf,
    pub(super) data: Vec<Tokenised>,
    pub(super) excluded: Vec<String>,
    pub(super) audit_excluded: usize,
}

/// The data an evaluation reads: both splits (canary and audit records set apart), the
/// canaries, the audit set and the δ of its statement.
pub(super) struct Inputs {
    pub(super) canaries: Vec<triad_data::canary::Canary>,
    pub(super) audit_canaries: Vec<(usize, triad_data::audit::AuditCanary)>,
    pub(super) max_length: Option<usize>,
    pub(super) train: SplitData,
    pub(super) test: SplitData,
    pub(super) audit_data: Option<SplitData>,
    pub(super) audit_delta: f64,
}

pub(super) fn read_inputs(spec: &EvalSpec, tok: &Tokenizer) -> Result<Inputs> {
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
    triad_data::users::check_split((&spec.train, &train_records), (&spec.test, &test_records))?;
    if let Some(p) = &spec.audit {
        triad_data::audit::check_split(
            p,
            &audit_canaries,
            (&spec.train, &plain(&train_records)),
            (&spec.test, &plain(&test_records)),
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
) -> Result<(SplitData, Vec<(usize, triad_data::Record)>)> {
    let (numbered, data) = crate::limits::tokenise_file(f.path, tok, max_length)?;
    let records = plain(&numbered);
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
    Ok((out, numbered))
}

fn plain(numbered: &[(usize, triad_data::Record)]) -> Vec<triad_data::Record> {
    numbered.iter().map(|(_, r)| r.clone()).collect()
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

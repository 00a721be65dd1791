//! An audit tied to the run it audits. `triad_data::audit::check_split` checks the audit's coins
//! against the evaluator's `--train` file; this checks, from the `run.json` beside the
//! checkpoint (`<run>/checkpoints/epoch-N/` with `<run>/run.json`), that `--train` is the file
//! the checkpoint trained on and `--base` the model it was fine-tuned from, and that `--base`
//! is not itself a checkpoint trained on that file. Each mistake can put a DP run's audit bound
//! above its ε. A checkpoint without a `run.json` (from outside Triad), or a `run.json` written
//! before these hashes were recorded, is not checked.

use crate::error::{EvalError, Result};
use crate::spec::EvalSpec;
use std::io::Read;
use std::path::{Path, PathBuf};
use triad_data::error::DataError;

/// Largest `run.json` read: its loss curve grows with the steps, but 64 MiB is far past any
/// real run, and a bigger file is something else.
pub const MAX_RUN_JSON_BYTES: u64 = 64 << 20;

/// What a run's `run.json` says about its inputs.
#[derive(Debug)]
struct RunInputs {
    /// The `run.json` itself.
    path: PathBuf,
    train_file: String,
    model: String,
    train_sha256: Option<String>,
    base_model_sha256: Option<String>,
}

/// Refuse an audit whose `--train` or `--base` is not what the audited run used (see the
/// module doc). Evaluations without an audit are not checked.
pub fn check(spec: &EvalSpec) -> Result<()> {
    if spec.audit.is_none() {
        return Ok(());
    }
    let tuned = spec.checkpoint.as_ref().or(spec.adapter.as_ref());
    let run = tuned.and_then(|d| run_json_of(d)).map(|p| read_run(&p));
    let run = run.transpose()?;
    let base_run = run_json_of(&spec.base).map(|p| read_run(&p)).transpose()?;
    let records_train =
        |r: &Option<RunInputs>| r.as_ref().is_some_and(|r| r.train_sha256.is_some());
    let train_sha256 = if records_train(&run) || records_train(&base_run) {
        triad_data::fsutil::sha256_file(&spec.train).map_err(|e| DataError::io(&spec.train, e))?
    } else {
        String::new()
    };
    if let Some(run) = &run {
        same_train_file(spec, run, &train_sha256)?;
        same_base(spec, run)?;
    }
    match &base_run {
        Some(b) => base_not_trained_on_train(spec, b, &train_sha256),
        None => Ok(()),
    }
}

/// The `run.json` of the run that wrote a checkpoint folder (`<run>/checkpoints/epoch-N/`),
/// when there is one.
fn run_json_of(dir: &Path) -> Option<PathBuf> {
    let p = dir.parent()?.parent()?.join("run.json");
    p.is_file().then_some(p)
}

/// A `run.json`, bounded in size and read as `results.proto`'s `RunRecord` (which refuses
/// fields it does not declare), its hashes checked for form.
fn read_run(path: &Path) -> Result<RunInputs> {
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_RUN_JSON_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| DataError::io(path, e))?;
    if bytes.len() as u64 > MAX_RUN_JSON_BYTES {
        let mib = MAX_RUN_JSON_BYTES >> 20;
        let message = format!("over {mib} MiB: not a run record");
        return Err(DataError::invalid(path, message).into());
    }
    let record: triad_proto::v1::RunRecord =
        serde_json::from_slice(&bytes).map_err(|source| DataError::Json {
            path: path.to_path_buf(),
            source,
        })?;
    for (field, v) in [
        ("train_sha256", &record.train_sha256),
        ("base_model_sha256", &record.base_model_sha256),
    ] {
        if v.as_deref().is_some_and(|h| !is_sha256_hex(h)) {
            let message = "expected a SHA-256 as 64 lowercase hex digits";
            return Err(DataError::field(path, field, message).into());
        }
    }
    let config = record.config.unwrap_or_default();
    Ok(RunInputs {
        path: path.to_path_buf(),
        train_file: config.train_file,
        model: config.model,
        train_sha256: record.train_sha256,
        base_model_sha256: record.base_model_sha256,
    })
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The coins say which canaries the checkpoint's training data holds: they must be read
/// against that data, not another file.
fn same_train_file(spec: &EvalSpec, run: &RunInputs, train_sha256: &str) -> Result<()> {
    match &run.train_sha256 {
        Some(recorded) if recorded != train_sha256 => Err(EvalError::Invalid(format!(
            "audit refused: --train {} (sha256 {train_sha256}) is not the file the checkpoint \
             trained on, {} (sha256 {recorded}, recorded in {}); the audit's coins must match \
             the data the checkpoint trained on",
            spec.train.display(),
            run.train_file,
            run.path.display(),
        ))),
        _ => Ok(()),
    }
}

/// The audit compares the checkpoint with the model it started from: another base shifts
/// every score.
fn same_base(spec: &EvalSpec, run: &RunInputs) -> Result<()> {
    let Some(recorded) = &run.base_model_sha256 else {
        return Ok(());
    };
    let given = triad_lm::weights::model_identity(&spec.base)?;
    if &given == recorded {
        return Ok(());
    }
    Err(EvalError::Invalid(format!(
        "audit refused: --base {} (model identity {given}) is not the model the checkpoint was \
         fine-tuned from, {} (model identity {recorded}, recorded in {}); audit a checkpoint \
         against its own base",
        spec.base.display(),
        run.model,
        run.path.display(),
    )))
}

/// A base that trained on the planted file has seen the audit canaries.
fn base_not_trained_on_train(spec: &EvalSpec, base_run: &RunInputs, train: &str) -> Result<()> {
    if base_run.train_sha256.as_deref() != Some(train) {
        return Ok(());
    }
    Err(EvalError::Invalid(format!(
        "audit refused: --base {} is a checkpoint fine-tuned on {} (recorded in {}), which is \
         --train {} (sha256 {train}); a base that trained on the audit's training file has \
         seen its canaries — give the model that run started from, {}",
        spec.base.display(),
        base_run.train_file,
        base_run.path.display(),
        spec.train.display(),
        base_run.model,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use triad_lm::tch::Device;

    /// A run folder as the trainer leaves it: `run.json` and one checkpoint, whose weights
    /// are the bytes `weights` (only their hash matters here).
    fn run_dir(
        root: &Path,
        name: &str,
        record: &triad_proto::v1::RunRecord,
        weights: &[u8],
    ) -> PathBuf {
        let run = root.join(name);
        let ck = run.join("checkpoints/epoch-1");
        std::fs::create_dir_all(&ck).unwrap();
        std::fs::write(ck.join("model.safetensors"), weights).unwrap();
        let text = triad_proto::json::to_file_text(record);
        std::fs::write(run.join("run.json"), text).unwrap();
        ck
    }

    fn record(train: &Path, base: &Path) -> triad_proto::v1::RunRecord {
        triad_proto::v1::RunRecord {
            status: "completed".into(),
            config: Some(triad_proto::v1::RunConfig {
                model: base.display().to_string(),
                train_file: train.display().to_string(),
                ..Default::default()
            }),
            train_sha256: Some(triad_data::fsutil::sha256_file(train).unwrap()),
            base_model_sha256: Some(triad_lm::weights::model_identity(base).unwrap()),
            ..Default::default()
        }
    }

    /// A base model folder, a planted training file and another file, an audit file (only
    /// its presence matters here), and the spec of auditing `checkpoint` with them.
    struct Fixture {
        _tmp: tempfile::TempDir,
        root: PathBuf,
        base: PathBuf,
        planted: PathBuf,
        other: PathBuf,
    }

    fn fixture() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let base = root.join("base");
        std::fs::create_dir(&base).unwrap();
        std::fs::write(base.join("model.safetensors"), b"base weights").unwrap();
        std::fs::write(base.join("config.json"), b"{}").unwrap();
        let planted = root.join("planted-train.jsonl");
        std::fs::write(&planted, "{\"id\":\"a\",\"text\":\"planted\"}\n").unwrap();
        let other = root.join("other-train.jsonl");
        std::fs::write(&other, "{\"id\":\"a\",\"text\":\"other\"}\n").unwrap();
        std::fs::write(root.join("audit.jsonl"), "").unwrap();
        Fixture {
            _tmp: tmp,
            root,
            base,
            planted,
            other,
        }
    }

    impl Fixture {
        fn spec(&self, base: &Path, checkpoint: &Path, train: &Path) -> EvalSpec {
            let mut s = EvalSpec::new(base.into(), train.into(), train.into(), Device::Cpu);
            s.checkpoint = Some(checkpoint.into());
            s.audit = Some(self.root.join("audit.jsonl"));
            s
        }
    }

    #[test]
    fn the_run_s_own_files_pass_and_runs_without_hashes_are_not_checked() {
        let f = fixture();
        let ck = run_dir(&f.root, "run", &record(&f.planted, &f.base), b"tuned");
        check(&f.spec(&f.base, &ck, &f.planted)).unwrap();
        // A copy of the training file is the same data.
        let copy = f.root.join("copy.jsonl");
        std::fs::copy(&f.planted, &copy).unwrap();
        check(&f.spec(&f.base, &ck, &copy)).unwrap();
        // Without an audit, or with a run.json from before the hashes, nothing is checked.
        let mut no_audit = f.spec(&f.base, &ck, &f.other);
        no_audit.audit = None;
        check(&no_audit).unwrap();
        let mut old = record(&f.planted, &f.base);
        (old.train_sha256, old.base_model_sha256) = (None, None);
        let ck = run_dir(&f.root, "old", &old, b"tuned");
        check(&f.spec(&f.base, &ck, &f.other)).unwrap();
    }

    #[test]
    fn a_train_file_other_than_the_run_s_is_refused_naming_both() {
        let f = fixture();
        let ck = run_dir(&f.root, "run", &record(&f.planted, &f.base), b"tuned");
        let e = check(&f.spec(&f.base, &ck, &f.other))
            .unwrap_err()
            .to_string();
        for part in [
            "other-train.jsonl",
            "planted-train.jsonl",
            "run/run.json",
            "coins",
        ] {
            assert!(e.contains(part), "{part} missing from: {e}");
        }
        // An adapter's run is found the same way.
        let mut spec = f.spec(&f.base, &ck, &f.other);
        (spec.checkpoint, spec.adapter) = (None, Some(ck));
        assert_eq!(check(&spec).unwrap_err().to_string(), e);
    }

    #[test]
    fn a_base_other_than_the_run_s_is_refused_naming_both() {
        let f = fixture();
        let ck = run_dir(&f.root, "run", &record(&f.planted, &f.base), b"tuned");
        let elsewhere = f.root.join("other-base");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("model.safetensors"), b"other weights").unwrap();
        let e = check(&f.spec(&elsewhere, &ck, &f.planted))
            .unwrap_err()
            .to_string();
        let base = f.base.display().to_string();
        for part in ["--base", "other-base", &base, "run/run.json"] {
            assert!(e.contains(part), "{part} missing from: {e}");
        }
    }

    #[test]
    fn a_base_fine_tuned_on_the_planted_file_is_refused_naming_both() {
        let f = fixture();
        // A first run fine-tuned the base on the planted file; its checkpoint is given as the
        // base of a second run's audit (whose run.json records that checkpoint as its base).
        let tuned_base = run_dir(&f.root, "first", &record(&f.planted, &f.base), b"first");
        let ck = run_dir(
            &f.root,
            "second",
            &record(&f.planted, &tuned_base),
            b"second",
        );
        let e = check(&f.spec(&tuned_base, &ck, &f.planted))
            .unwrap_err()
            .to_string();
        let base = f.base.display().to_string();
        for part in [
            "first/checkpoints/epoch-1",
            "planted-train.jsonl",
            "first/run.json",
            &base,
        ] {
            assert!(e.contains(part), "{part} missing from: {e}");
        }
        // Fine-tuned on other data, it is a base like any other.
        let on_other = run_dir(&f.root, "third", &record(&f.other, &f.base), b"third");
        let ck = run_dir(&f.root, "fourth", &record(&f.planted, &on_other), b"fourth");
        check(&f.spec(&on_other, &ck, &f.planted)).unwrap();
    }

    #[test]
    fn an_oversized_or_malformed_run_json_is_refused_naming_it() {
        let f = fixture();
        let ck = run_dir(&f.root, "run", &record(&f.planted, &f.base), b"tuned");
        let run_json = f.root.join("run/run.json");
        let mut bad = record(&f.planted, &f.base);
        bad.train_sha256 = Some("ABC".into());
        std::fs::write(&run_json, triad_proto::json::to_file_text(&bad)).unwrap();
        let e = check(&f.spec(&f.base, &ck, &f.planted))
            .unwrap_err()
            .to_string();
        assert!(e.contains("run.json: field `train_sha256`"), "{e}");
        std::fs::write(&run_json, "{\"train_sha265\": \"\"}").unwrap();
        let e = check(&f.spec(&f.base, &ck, &f.planted))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("run.json: invalid JSON") && e.contains("train_sha265"),
            "{e}"
        );
        let big = std::fs::File::create(&run_json).unwrap();
        big.set_len(MAX_RUN_JSON_BYTES + 1).unwrap();
        let e = check(&f.spec(&f.base, &ck, &f.planted))
            .unwrap_err()
            .to_string();
        assert!(e.contains("run.json: over 64 MiB"), "{e}");
    }
}

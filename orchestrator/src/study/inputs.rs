//! The study's inputs inside the data root: generated (or given) data, and the base model
//! (imported from GGUF, or linked into the study folder) — the services only see the root.

use super::plan::Inputs;
use super::spec::{DataSpec, ModelSpec, StudySpec};
use super::StudyError;
use std::path::{Path, PathBuf};
use triad_data::audit::Design;
use triad_data::generate::{generate, write, Domain, Spec};
use triad_data::tokenizer::Tokenizer;

/// `path` relative to `root` (both absolute), or an error saying the study must sit inside it.
pub fn relative(root: &Path, path: &Path) -> Result<String, StudyError> {
    path.strip_prefix(root)
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|_| {
            StudyError::Invalid(format!(
                "{} is not inside the services' data root {}",
                path.display(),
                root.display()
            ))
        })
}

fn absolute(spec_dir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        spec_dir.join(p)
    }
}

/// `model.path`: a folder (relative to the spec), or `org/name[@revision]` from the Hugging Face
/// cache when no such folder exists.
fn model_source(spec_dir: &Path, p: &Path) -> Result<PathBuf, StudyError> {
    let folder = absolute(spec_dir, p);
    if folder.exists() {
        return Ok(folder);
    }
    match p.to_str().and_then(triad_lm::hub::HubRef::parse) {
        Some(r) => triad_lm::hub::resolve_in(&r, &triad_lm::hub::cache_dirs())
            .map_err(|e| StudyError::Invalid(format!("field `model.path`: {e}"))),
        None => Ok(folder),
    }
}

/// Hard-link (or copy, across file systems) a model folder's files into `dest`, atomically.
/// Links in the folder (a hub snapshot's entries point into `blobs/`) are followed.
fn stage_model(src: &Path, dest: &Path) -> Result<(), StudyError> {
    if dest.join("config.json").is_file() {
        return Ok(());
    }
    if !src.join("config.json").is_file() {
        return Err(StudyError::Invalid(format!(
            "field `model.path`: {} holds no config.json",
            src.display()
        )));
    }
    let tmp = dest.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| StudyError::io(&tmp, e))?;
    for entry in std::fs::read_dir(src).map_err(|e| StudyError::io(src, e))? {
        let entry = entry.map_err(|e| StudyError::io(src, e))?;
        if !entry.path().is_file() {
            continue;
        }
        let to = tmp.join(entry.file_name());
        let from = entry
            .path()
            .canonicalize()
            .map_err(|e| StudyError::io(entry.path(), e))?;
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).map_err(|e| StudyError::io(&from, e))?;
        }
    }
    std::fs::rename(&tmp, dest).map_err(|e| StudyError::io(dest, e))
}

/// The data files of a study, absolute: train and test splits, and the optional canaries
/// and audit files.
struct DataFiles {
    train: PathBuf,
    test: PathBuf,
    canaries: Option<PathBuf>,
    audit: Option<PathBuf>,
}

/// Prepare data and every model under `study_dir` and return their paths relative to `root`,
/// one [`Inputs`] per model. A one-model study keeps the layout `models/base` and `data/`;
/// with several, each model has `models/<name>` and `data/<name>` (audit canaries are drawn
/// from each model's own vocabulary).
pub fn prepare(
    spec: &StudySpec,
    spec_dir: &Path,
    study_dir: &Path,
    root: &Path,
) -> Result<Vec<Inputs>, StudyError> {
    let models = spec.models.all();
    let mut out = vec![];
    for m in models {
        let name = if models.len() > 1 {
            m.display_name()
        } else {
            String::new()
        };
        let (model_dir, data_dir) = if name.is_empty() {
            (study_dir.join("models/base"), study_dir.join("data"))
        } else {
            (
                study_dir.join("models").join(&name),
                study_dir.join("data").join(&name),
            )
        };
        if !name.is_empty() {
            eprintln!("model {name}: preparing …");
        }
        prepare_model(m, spec_dir, study_dir, &model_dir)?;
        let d = &spec.data;
        let mut files = match &d.generate {
            Some(g) => generate_data(d, g.get_ref(), &data_dir, &model_dir)?,
            None => link_data(d, spec_dir, &data_dir, root)?,
        };
        if let Some(test) = nonmembers(spec, spec_dir, &data_dir, root)? {
            files.test = test;
            triad_data::check::read_valid(&files.test)?;
        }
        check_data(d, &files)?;
        out.push(Inputs {
            name,
            model: relative(root, &model_dir)?,
            train: relative(root, &files.train)?,
            test: relative(root, &files.test)?,
            canaries: files.canaries.map(|c| relative(root, &c)).transpose()?,
            audit: files.audit.map(|a| relative(root, &a)).transpose()?,
        });
    }
    Ok(out)
}

/// The base model in `model_dir`: imported from the spec's GGUF file once, or the spec's
/// model folder staged there.
fn prepare_model(
    m: &ModelSpec,
    spec_dir: &Path,
    study_dir: &Path,
    model_dir: &Path,
) -> Result<(), StudyError> {
    if let Some(gguf) = &m.gguf {
        if !model_dir.join("config.json").is_file() {
            let src = absolute(spec_dir, gguf.get_ref());
            eprintln!("importing {} …", src.display());
            std::fs::create_dir_all(study_dir.join("models"))
                .map_err(|e| StudyError::io(study_dir, e))?;
            let tmp = study_dir.join(format!("models/.import.tmp-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&tmp);
            triad_lm::gguf::import_gguf(&src, &tmp)?;
            std::fs::rename(&tmp, model_dir).map_err(|e| StudyError::io(model_dir, e))?;
        }
    } else if let Some(p) = &m.path {
        std::fs::create_dir_all(study_dir.join("models"))
            .map_err(|e| StudyError::io(study_dir, e))?;
        stage_model(&model_source(spec_dir, p.get_ref())?, model_dir)?;
    }
    Ok(())
}

/// Generate the `generate` domain's splits (and audit canaries, drawn from the base model's
/// vocabulary) into `data_dir`, unless the files there were made from the same settings.
fn generate_data(
    d: &DataSpec,
    domain: &str,
    data_dir: &Path,
    model_dir: &Path,
) -> Result<DataFiles, StudyError> {
    let gspec = Spec {
        domain: if domain == "biographies" {
            Domain::Biographies
        } else {
            Domain::CustomerSupport
        },
        train: d.train,
        test: d.test,
        canaries: d.canaries,
        canary_repeats: d.canary_repeats,
        records_per_user: per_user(d),
        seed: d.seed,
    };
    gspec
        .check()
        .map_err(|e| StudyError::Invalid(format!("[data]: {e}")))?;
    let design = d
        .audit_design
        .as_ref()
        .and_then(|x| Design::parse(x.get_ref()))
        .unwrap_or(Design::RareTokens);
    // Generation is deterministic; regenerate only when the manifest differs.
    let want = manifest(d, &gspec, design);
    let stamp = data_dir.join(".spec");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(want.as_str()) {
        let mut data = generate(&gspec);
        if d.audit_canaries > 0 {
            // Rare-token secrets come from the base model's own vocabulary.
            let tok = Tokenizer::from_file(model_dir.join("tokenizer.json"))?;
            data.add_audit(d.audit_canaries, design, d.seed, Some(&tok), d.audit_copies)?;
        }
        write(data_dir, &gspec, &data)?;
        triad_data::fsutil::write_atomic(&stamp, want.as_bytes())?;
    }
    Ok(DataFiles {
        train: data_dir.join("train.jsonl"),
        test: data_dir.join("test.jsonl"),
        canaries: (d.canaries > 0).then(|| data_dir.join("canaries.jsonl")),
        audit: (d.audit_canaries > 0).then(|| data_dir.join("audit.jsonl")),
    })
}

/// The evaluation's non-members when the spec asks for more than the test split: generated
/// (`eval.nonmembers`: the generator's test split drawn to that size — its test draws come
/// after the training ones from their own stream, so training data is unchanged and the first
/// `data.test` records are test.jsonl's) or the spec's file (`eval.nonmembers_file`).
fn nonmembers(
    spec: &StudySpec,
    spec_dir: &Path,
    data_dir: &Path,
    root: &Path,
) -> Result<Option<PathBuf>, StudyError> {
    let d = &spec.data;
    if let Some(f) = &spec.eval.nonmembers_file {
        let src = absolute(spec_dir, f.get_ref());
        if src.starts_with(root) {
            return Ok(Some(src));
        }
        let bytes = std::fs::read(&src).map_err(|e| {
            StudyError::Invalid(format!(
                "field `eval.nonmembers_file`: {}: {e}",
                src.display()
            ))
        })?;
        let dest = data_dir.join("nonmembers.jsonl");
        triad_data::fsutil::write_atomic(&dest, &bytes)?;
        return Ok(Some(dest));
    }
    let (Some(n), Some(g)) = (spec.eval.nonmembers, &d.generate) else {
        return Ok(None);
    };
    let gspec = Spec {
        domain: if g.get_ref() == "biographies" {
            Domain::Biographies
        } else {
            Domain::CustomerSupport
        },
        train: d.train,
        test: n,
        canaries: d.canaries,
        canary_repeats: d.canary_repeats,
        records_per_user: per_user(d),
        seed: d.seed,
    };
    gspec
        .check()
        .map_err(|e| StudyError::Invalid(format!("[eval] nonmembers: {e}")))?;
    let dest = data_dir.join("nonmembers.jsonl");
    let want = serde_json::json!([gspec.domain.name(), d.train, n, d.seed]).to_string();
    let stamp = data_dir.join(".nonmembers-spec");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(want.as_str()) {
        let text: String = generate(&gspec)
            .test
            .iter()
            .map(|r| r.to_json_line() + "\n")
            .collect();
        triad_data::fsutil::write_atomic(&dest, text.as_bytes())?;
        triad_data::fsutil::write_atomic(&stamp, want.as_bytes())?;
    }
    Ok(Some(dest))
}

/// The generation settings as the JSON text stamped beside the generated data.
fn manifest(d: &DataSpec, gspec: &Spec, design: Design) -> String {
    let mut want = serde_json::json!([
        gspec.domain.name(),
        d.train,
        d.test,
        d.canaries,
        d.canary_repeats,
        d.seed
    ]);
    if d.audit_canaries > 0 {
        let a = want.as_array_mut().expect("array");
        a.extend([d.audit_canaries.into(), design.name().into()]);
    }
    // Appended only when set, so earlier studies keep their manifest (and data).
    let a = want.as_array_mut().expect("array");
    if let Some(p) = gspec.records_per_user {
        a.push(format!("records_per_user={}", p.name()).into());
    }
    if d.audit_copies > 1 {
        a.push(format!("audit_copies={}", d.audit_copies).into());
    }
    want.to_string()
}

/// `data.records_per_user`, checked with the spec.
fn per_user(d: &DataSpec) -> Option<triad_data::generate::PerUser> {
    d.records_per_user
        .as_ref()
        .and_then(|r| triad_data::generate::PerUser::parse(r.get_ref()).ok())
}

/// The spec's own data files: used in place when inside `root`, else copied into
/// `data_dir`.
fn link_data(
    d: &DataSpec,
    spec_dir: &Path,
    data_dir: &Path,
    root: &Path,
) -> Result<DataFiles, StudyError> {
    std::fs::create_dir_all(data_dir).map_err(|e| StudyError::io(data_dir, e))?;
    let link = |field: &str, p: &Path, name: &str| -> Result<PathBuf, StudyError> {
        let src = absolute(spec_dir, p);
        let dest = data_dir.join(name);
        if src.starts_with(root) {
            return Ok(src);
        }
        let bytes = std::fs::read(&src).map_err(|e| {
            StudyError::Invalid(format!("field `data.{field}`: {}: {e}", src.display()))
        })?;
        triad_data::fsutil::write_atomic(&dest, &bytes)?;
        Ok(dest)
    };
    let train = link(
        "train_file",
        d.train_file.as_ref().expect("checked").get_ref(),
        "train.jsonl",
    )?;
    let test = link(
        "test_file",
        d.test_file.as_ref().expect("checked").get_ref(),
        "test.jsonl",
    )?;
    let canaries = match &d.canaries_file {
        Some(c) => Some(link("canaries_file", c.get_ref(), "canaries.jsonl")?),
        None => None,
    };
    let audit = match &d.audit_file {
        Some(a) => Some(link("audit_file", a.get_ref(), "audit.jsonl")?),
        None => None,
    };
    Ok(DataFiles {
        train,
        test,
        canaries,
        audit,
    })
}

/// Every input file is read before any run trains: a bad line must not cost a study. The
/// audit file must match the splits; given (not generated) files must parse.
fn check_data(d: &DataSpec, files: &DataFiles) -> Result<(), StudyError> {
    if let Some(a) = &files.audit {
        check_audit(a, &files.train, &files.test)?;
    }
    if d.generate.is_none() {
        let train = triad_data::check::read_valid(&files.train)?;
        let test = triad_data::check::read_valid(&files.test)?;
        triad_data::users::check_split((&files.train, &train), (&files.test, &test))?;
        if let Some(c) = &files.canaries {
            triad_data::canary::read(c)?;
        }
    }
    Ok(())
}

/// An audit file must match the data before any run trains: every coin honoured, no audit
/// canary among the non-members, at least enough canaries for a bound.
fn check_audit(audit: &Path, train: &Path, test: &Path) -> Result<(), StudyError> {
    let canaries = triad_data::audit::read_for_bound(audit)?;
    let records = |p: &Path| -> Result<Vec<triad_data::Record>, StudyError> {
        Ok(triad_data::check::read_valid(p)?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    };
    let (tr, te) = (records(train)?, records(test)?);
    triad_data::audit::check_split(audit, &canaries, (train, &tr), (test, &te))?;
    Ok(())
}

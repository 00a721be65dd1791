//! The study's inputs inside the data root: generated (or given) data, and the base model
//! (imported from GGUF, or linked into the study folder) — the services only see the root.

use super::plan::Inputs;
use super::spec::StudySpec;
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

/// Hard-link (or copy, across file systems) a model folder's files into `dest`, atomically.
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
        if std::fs::hard_link(entry.path(), &to).is_err() {
            std::fs::copy(entry.path(), &to).map_err(|e| StudyError::io(entry.path(), e))?;
        }
    }
    std::fs::rename(&tmp, dest).map_err(|e| StudyError::io(dest, e))
}

/// Prepare data and model under `study_dir` and return their paths relative to `root`.
pub fn prepare(
    spec: &StudySpec,
    spec_dir: &Path,
    study_dir: &Path,
    root: &Path,
) -> Result<Inputs, StudyError> {
    let model_dir = study_dir.join("models/base");
    if let Some(gguf) = &spec.model.gguf {
        if !model_dir.join("config.json").is_file() {
            let src = absolute(spec_dir, gguf.get_ref());
            eprintln!("importing {} …", src.display());
            let tmp = study_dir.join(format!("models/.base.tmp-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&tmp);
            triad_lm::gguf::import_gguf(&src, &tmp)?;
            std::fs::rename(&tmp, &model_dir).map_err(|e| StudyError::io(&model_dir, e))?;
        }
    } else if let Some(p) = &spec.model.path {
        std::fs::create_dir_all(study_dir.join("models"))
            .map_err(|e| StudyError::io(study_dir, e))?;
        stage_model(&absolute(spec_dir, p.get_ref()), &model_dir)?;
    }
    let d = &spec.data;
    let data_dir = study_dir.join("data");
    let (train, test, canaries, audit) = match &d.generate {
        Some(g) => {
            let gspec = Spec {
                domain: if g.get_ref() == "biographies" {
                    Domain::Biographies
                } else {
                    Domain::CustomerSupport
                },
                train: d.train,
                test: d.test,
                canaries: d.canaries,
                canary_repeats: d.canary_repeats,
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
            let want = want.to_string();
            let stamp = data_dir.join(".spec");
            if std::fs::read_to_string(&stamp).ok().as_deref() != Some(want.as_str()) {
                let mut data = generate(&gspec);
                if d.audit_canaries > 0 {
                    // Rare-token secrets come from the base model's own vocabulary.
                    let tok = Tokenizer::from_file(model_dir.join("tokenizer.json"))?;
                    data.add_audit(d.audit_canaries, design, d.seed, Some(&tok))?;
                }
                write(&data_dir, &gspec, &data)?;
                triad_data::fsutil::write_atomic(&stamp, want.as_bytes())?;
            }
            (
                data_dir.join("train.jsonl"),
                data_dir.join("test.jsonl"),
                (d.canaries > 0).then(|| data_dir.join("canaries.jsonl")),
                (d.audit_canaries > 0).then(|| data_dir.join("audit.jsonl")),
            )
        }
        None => {
            std::fs::create_dir_all(&data_dir).map_err(|e| StudyError::io(&data_dir, e))?;
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
            (train, test, canaries, audit)
        }
    };
    if let Some(a) = &audit {
        check_audit(a, &train, &test)?;
    }
    // Every input file is read before any run trains: a bad line must not cost a study.
    if d.generate.is_none() {
        for split in [&train, &test] {
            triad_data::check::read_valid(split)?;
        }
        if let Some(c) = &canaries {
            triad_data::canary::read(c)?;
        }
    }
    Ok(Inputs {
        model: relative(root, &model_dir)?,
        train: relative(root, &train)?,
        test: relative(root, &test)?,
        canaries: canaries.map(|c| relative(root, &c)).transpose()?,
        audit: audit.map(|a| relative(root, &a)).transpose()?,
    })
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

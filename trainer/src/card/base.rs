//! What a card says about the base model: a name the Hub can link (never a local path), the
//! GGUF file it was imported from, and its licence where Triad knows it (Gemma's terms, whose
//! notice the card must carry; or the licence the GGUF states).

use crate::error::Result;
use serde_json::Value;
use std::path::Path;

/// The copy of the Gemma Terms of Use that `triad model import-gguf` puts beside a Gemma model
/// (and the checkpoint writer copies into each checkpoint of one).
pub(super) const GEMMA_TERMS_COPY: &str = "GEMMA_TERMS.html";

#[derive(Debug, Clone, PartialEq)]
pub(super) struct BaseModel {
    /// A Hub id (`org/name`) where the folder says it is one, else the folder's own name.
    pub name: String,
    /// The GGUF file the folder was imported from (its file name).
    pub gguf: Option<String>,
    /// The Hub's licence identifier: `gemma` for the Gemma family, or the GGUF's own.
    pub license: Option<String>,
    pub gemma: bool,
}

impl BaseModel {
    /// Read what the model folder `dir` says about itself (its `config.json`).
    pub fn read(dir: &Path) -> Result<BaseModel> {
        let path = dir.join("config.json");
        let config = triad_data::fsutil::read_json(&path)?;
        let gemma = triad_lm::ModelConfig::from_value(&config, &path)?
            .arch
            .is_gemma();
        Ok(Self::from_config(dir, &config, gemma))
    }

    fn from_config(dir: &Path, config: &Value, gemma: bool) -> BaseModel {
        let source = &config["triad_source"];
        let gguf = source["gguf"]
            .as_str()
            .and_then(|g| Path::new(g).file_name())
            .map(|n| n.to_string_lossy().into_owned());
        let license = if gemma {
            Some("gemma".to_string())
        } else {
            source["general.license"]
                .as_str()
                .map(str::to_ascii_lowercase)
                .filter(|l| is_identifier(l))
        };
        BaseModel {
            name: name(dir, config),
            gguf,
            license,
            gemma,
        }
    }
}

/// The base model's name: `org/name` for a Hub cache snapshot
/// (`…/models--org--name/snapshots/REV`) or a config saved from a Hub model
/// (`_name_or_path`), else the folder's own name — never the path to it, which would say
/// where on the user's machine it lies.
fn name(dir: &Path, config: &Value) -> String {
    if let Some(id) = hub_snapshot(dir) {
        return id;
    }
    if let Some(id) = config["_name_or_path"].as_str().filter(|s| is_hub_id(s)) {
        return id.to_string();
    }
    let own = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    // `model = "."` names no folder of its own: resolve it first.
    own(dir)
        .or_else(|| dir.canonicalize().ok().as_deref().and_then(own))
        .unwrap_or_else(|| "unknown".into())
}

/// `org/name` of a Hub cache snapshot folder.
fn hub_snapshot(dir: &Path) -> Option<String> {
    let snapshots = dir.parent()?;
    if snapshots.file_name()? != "snapshots" {
        return None;
    }
    let repo = snapshots.parent()?.file_name()?.to_str()?;
    let (org, name) = repo.strip_prefix("models--")?.split_once("--")?;
    let id = format!("{org}/{name}");
    is_hub_id(&id).then_some(id)
}

/// A Hub model id: `org/name`, each part letters, digits, `-`, `_` and `.` (not a relative
/// path such as `./x` or `../x`).
pub(super) fn is_hub_id(s: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && !p.starts_with('.')
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    matches!(s.split_once('/'), Some((org, name)) if part(org) && part(name))
}

/// A licence identifier as the Hub spells them (`apache-2.0`, `mit`, `llama3.1`).
fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_name_is_a_hub_id_or_the_folder_name_never_a_path() {
        let plain = json!({});
        assert_eq!(name(Path::new("/home/ann/models/base"), &plain), "base");
        assert_eq!(
            name(
                Path::new("/home/ann/.cache/huggingface/hub/models--Org--Tiny-1.5/snapshots/abc"),
                &plain
            ),
            "Org/Tiny-1.5"
        );
        let saved = json!({"_name_or_path": "HuggingFaceTB/SmolLM2-135M"});
        assert_eq!(
            name(Path::new("/x/smollm2"), &saved),
            "HuggingFaceTB/SmolLM2-135M"
        );
        for local in [
            "/home/ann/models/x",
            "./models/x",
            "../x/y",
            "a/b/c",
            "C:\\m\\x",
        ] {
            let cfg = json!({ "_name_or_path": local });
            assert_eq!(name(Path::new("/data/study/models/base"), &cfg), "base");
        }
    }

    #[test]
    fn a_gemma_model_is_under_the_gemma_licence_and_a_gguf_states_its_own() {
        let cfg = json!({"triad_source": {"gguf": "gemma-3-270m-q4_k_m.gguf",
                                          "general.license": "Apache-2.0"}});
        let b = BaseModel::from_config(Path::new("/s/models/gemma"), &cfg, true);
        assert_eq!(b.license.as_deref(), Some("gemma"));
        assert_eq!(b.gguf.as_deref(), Some("gemma-3-270m-q4_k_m.gguf"));
        let b = BaseModel::from_config(Path::new("/s/models/base"), &cfg, false);
        assert_eq!(b.license.as_deref(), Some("apache-2.0"));
        let odd = json!({"triad_source": {"general.license": "see LICENSE file"}});
        let b = BaseModel::from_config(Path::new("/s/models/base"), &odd, false);
        assert_eq!(b.license, None);
    }
}

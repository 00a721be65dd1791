//! How much work one record, and one request, may ask of the evaluator. Evaluate and
//! ScoreTexts share these bounds: a text is refused over [`MAX_TEXT_CHARS`] characters before
//! it is tokenised (tokenising and attention grow faster than the text), and a record is
//! scored to at most `max_length` tokens, which is never unbounded.

use crate::error::{EvalError, Result};
use crate::scoring::{tokenise, Tokenised};
use std::path::Path;
use triad_data::tokenizer::Tokenizer;
use triad_data::Record;
use triad_lm::ModelConfig;

/// Longest text scored, in characters: a ScoreTexts text, a record of an evaluated file, a
/// canary.
pub const MAX_TEXT_CHARS: usize = 100_000;
/// Tokens one ScoreTexts request may hold in all, and most tokens of a record an Evaluate
/// request may ask to score (`max_length`).
pub const MAX_REQUEST_TOKENS: usize = 131_072;

/// How many characters `text` has, when over [`MAX_TEXT_CHARS`].
pub fn too_long(text: &str) -> Option<usize> {
    // A character is at least one byte: most texts are told apart by their length alone.
    if text.len() <= MAX_TEXT_CHARS {
        return None;
    }
    Some(text.chars().count()).filter(|&n| n > MAX_TEXT_CHARS)
}

fn too_long_message(chars: usize) -> String {
    format!(
        "the text has {chars} characters; at most {MAX_TEXT_CHARS} are scored (split the record)"
    )
}

/// Refuses the first record of `path` longer than [`MAX_TEXT_CHARS`], naming its line
/// (`lines[i]`: the line of `records[i]`).
pub fn check_records(path: &Path, lines: &[usize], records: &[Record]) -> Result<()> {
    for (&line, r) in lines.iter().zip(records) {
        if let Some(n) = too_long(&r.text) {
            return Err(EvalError::bad_line(path, line, too_long_message(n)));
        }
    }
    Ok(())
}

/// Refuses a canary whose text is longer than [`MAX_TEXT_CHARS`], naming it.
pub fn check_canaries(path: &Path, canaries: &[triad_data::canary::Canary]) -> Result<()> {
    for c in canaries {
        if let Some(n) = too_long(&c.text) {
            return Err(triad_data::DataError::invalid(
                path,
                format!(
                    "canary `{}`: {}",
                    triad_lm::paths::quoted(&c.id),
                    too_long_message(n)
                ),
            )
            .into());
        }
    }
    Ok(())
}

/// A file's records with their line numbers.
pub type Numbered = Vec<(usize, Record)>;

/// [`crate::scoring::tokenise_file`] with every record checked against [`MAX_TEXT_CHARS`]
/// before any is tokenised; the records come back numbered by line.
pub fn tokenise_file(
    path: &Path,
    tok: &Tokenizer,
    max_length: Option<usize>,
) -> Result<(Numbered, Vec<Tokenised>)> {
    let numbered = triad_data::check::read_valid(path)?;
    let (lines, records): (Vec<usize>, Vec<Record>) = numbered.iter().cloned().unzip();
    check_records(path, &lines, &records)?;
    let out = tokenise(path, &lines, &records, tok, max_length)?;
    Ok((numbered, out))
}

/// Tokens of each record scored: `given` (the request's, else the trained run's), else the
/// base model's context (`max_position_embeddings`, at most [`MAX_REQUEST_TOKENS`]) — never
/// whole records, whose attention grows with the square of their length.
pub fn max_length(given: Option<usize>, base: &Path) -> Result<usize> {
    if let Some(m) = given {
        return Ok(m);
    }
    let cfg = ModelConfig::from_file(base.join("config.json"))?;
    Ok((cfg.max_position_embeddings.max(2) as usize).min(MAX_REQUEST_TOKENS))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(text: String) -> Record {
        Record {
            id: "r".into(),
            text,
            spans: vec![],
            user: None,
        }
    }

    #[test]
    fn a_record_over_the_cap_is_refused_with_its_file_and_line() {
        let ok = record("é".repeat(MAX_TEXT_CHARS)); // 200,000 bytes, 100,000 characters
        let long = record("x".repeat(10 << 20));
        let path = Path::new("data/train.jsonl");
        check_records(path, &[1, 2], &[ok.clone(), ok.clone()]).unwrap();
        let e = check_records(path, &[1, 7], &[ok, long]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("data/train.jsonl:7: "), "{msg}");
        assert!(msg.contains("10485760 characters; at most 100000"), "{msg}");
        assert_eq!(
            triad_data::error::Classified::kind(&e),
            triad_data::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn max_length_defaults_to_the_models_context() {
        let d = tempfile::tempdir().unwrap();
        let cfg = |n: u64| {
            serde_json::json!({
                "model_type": "llama", "architectures": ["LlamaForCausalLM"],
                "vocab_size": 32, "hidden_size": 8, "intermediate_size": 16,
                "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
                "max_position_embeddings": n,
            })
            .to_string()
        };
        std::fs::write(d.path().join("config.json"), cfg(256)).unwrap();
        assert_eq!(max_length(Some(48), d.path()).unwrap(), 48);
        assert_eq!(max_length(None, d.path()).unwrap(), 256);
        std::fs::write(d.path().join("config.json"), cfg(1 << 20)).unwrap();
        assert_eq!(max_length(None, d.path()).unwrap(), MAX_REQUEST_TOKENS);
    }
}

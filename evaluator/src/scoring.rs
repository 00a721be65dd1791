//! Per-token losses of a dataset under a model, with each token's sensitivity label.

use crate::error::{EvalError, Result};
use std::path::Path;
use triad_lm::data::mask::sensitive_spans;
use triad_lm::data::Record;
use triad_lm::score::score_sequences;
use triad_lm::tokenizer::Tokenizer;
use triad_lm::CausalLm;

/// A tokenised record: ids, and for each predicted token (1..n) its span label if sensitive.
#[derive(Debug, Clone)]
pub struct Tokenised {
    pub id: String,
    pub ids: Vec<u32>,
    /// `labels[i]` belongs to token `i + 1` (the first token is never predicted).
    pub labels: Vec<Option<String>>,
}

/// Read a dataset file (every problem is an error naming its line) and tokenise it.
pub fn tokenise_file(path: &Path, tok: &Tokenizer) -> Result<(Vec<Record>, Vec<Tokenised>)> {
    let valid = triad_lm::data::check::read_valid(path)?;
    let mut records = vec![];
    let mut out = vec![];
    for (line, r) in valid {
        let enc = tok.encode(&r.text).map_err(|e| EvalError::Data {
            path: path.to_path_buf(),
            line,
            message: e.to_string(),
        })?;
        let which = sensitive_spans(&enc.offsets, &r.spans);
        let labels = which
            .iter()
            .skip(1)
            .map(|k| k.map(|k| r.spans[k].label.clone()))
            .collect();
        out.push(Tokenised {
            id: r.id.clone(),
            ids: enc.ids,
            labels,
        });
        records.push(r);
    }
    Ok((records, out))
}

/// `nll[r][i]` = −log p(token i+1 of record r | its prefix).
pub fn nll(
    model: &CausalLm,
    data: &[Tokenised],
    batch_size: usize,
    progress: impl FnMut(usize, usize),
) -> Vec<Vec<f64>> {
    let seqs: Vec<Vec<u32>> = data.iter().map(|t| t.ids.clone()).collect();
    score_sequences(model, &seqs, batch_size, progress)
        .into_iter()
        .map(|lp| {
            lp.into_iter()
                .skip(1)
                .map(|x| -(x.expect("scored") as f64))
                .collect()
        })
        .collect()
}

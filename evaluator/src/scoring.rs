//! Per-token losses of a dataset under a model, with each token's sensitivity label.

use crate::error::{EvalError, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use triad_data::mask::sensitive_spans;
use triad_data::tokenizer::Tokenizer;
use triad_data::Record;
use triad_lm::score::score_tokens;
use triad_lm::CausalLm;

/// A tokenised record: ids, and for each predicted token (1..n) its span label if sensitive.
#[derive(Debug, Clone)]
pub struct Tokenised {
    pub id: String,
    pub ids: Vec<u32>,
    /// `labels[i]` belongs to token `i + 1` (the first token is never predicted).
    pub labels: Vec<Option<String>>,
    /// `span_of[i]`: index (into the record's spans) of the secret token `i + 1` belongs to.
    pub span_of: Vec<Option<usize>>,
    /// The span token 0 belongs to, if any: a secret at the very start of the text. Its first
    /// token is never scored (nothing precedes it); its other tokens are, given the first.
    pub leading_span: Option<usize>,
    /// The span cut by `max_length`: its first tokens were kept, the rest dropped. Its kept
    /// tokens are scored; it is not a whole secret, so extraction leaves it out.
    pub cut_span: Option<usize>,
    /// Bytes of the zlib-compressed text of the kept tokens (the zlib attack's reference).
    pub zlib_bytes: usize,
}

/// Per-token NLL and top-1 flags of a dataset under one model; `nll[r][i]` belongs to token
/// `i + 1` of record `r`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Scores {
    pub nll: Vec<Vec<f64>>,
    /// Whether token `i + 1` was the model's greedy choice after its prefix.
    pub top1: Vec<Vec<bool>>,
    /// Mean and sd of log p over the model's own next-token distribution at token `i + 1`'s
    /// position (Min-K%++'s normalisers).
    pub mean_logprob: Vec<Vec<f64>>,
    pub sd_logprob: Vec<Vec<f64>>,
}

/// Read a dataset file (every problem is an error naming its line) and tokenise it, keeping
/// the first `max_length` tokens of each record (what training saw; `None`: all).
pub fn tokenise_file(
    path: &Path,
    tok: &Tokenizer,
    max_length: Option<usize>,
) -> Result<(Vec<Record>, Vec<Tokenised>)> {
    let (lines, records): (Vec<usize>, Vec<Record>) =
        triad_data::check::read_valid(path)?.into_iter().unzip();
    let out = tokenise(path, &lines, &records, tok, max_length)?;
    Ok((records, out))
}

/// Tokenise records read from `path` (`lines[i]`: the line of `records[i]`, for errors).
pub fn tokenise(
    path: &Path,
    lines: &[usize],
    records: &[Record],
    tok: &Tokenizer,
    max_length: Option<usize>,
) -> Result<Vec<Tokenised>> {
    let mut out = vec![];
    for (&line, r) in lines.iter().zip(records) {
        let mut enc = tok
            .encode(&r.text)
            .map_err(|e| EvalError::bad_line(path, line, e.to_string()))?;
        let mut truncated = false;
        if let Some(m) = max_length {
            truncated = enc.ids.len() > m.max(1);
            enc.ids.truncate(m.max(1));
            enc.offsets.truncate(m.max(1));
        }
        let which = sensitive_spans(&enc.offsets, &r.spans);
        let leading_span = which.first().copied().flatten();
        let cut_span = if truncated {
            cut_span(&enc.offsets, &which, r)
        } else {
            None
        };
        let labels = which
            .iter()
            .skip(1)
            .map(|k| k.map(|k| r.spans[k].label.clone()))
            .collect();
        let kept = enc.offsets.iter().map(|o| o.1).max().unwrap_or(0);
        out.push(Tokenised {
            zlib_bytes: zlib_len(r.text.get(..kept).unwrap_or(&r.text)),
            id: r.id.clone(),
            ids: enc.ids,
            labels,
            span_of: which.into_iter().skip(1).collect(),
            leading_span,
            cut_span,
        });
    }
    Ok(out)
}

/// Bytes of `text` compressed by zlib at its default level.
pub fn zlib_len(text: &str) -> usize {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(text.as_bytes()).expect("writing to memory");
    z.finish().expect("writing to memory").len()
}

/// The span of a truncated record's last kept token, when the span ends after that token:
/// only it can straddle the cut (spans are sorted and disjoint).
fn cut_span(offsets: &[(usize, usize)], which: &[Option<usize>], r: &Record) -> Option<usize> {
    let last = offsets.iter().rposition(|&(a, b)| b > a)?;
    let k = which[last]?;
    (r.spans[k].end > offsets[last].1).then_some(k)
}

/// Score every record of `data` under `model`.
pub fn score(
    model: &CausalLm,
    data: &[Tokenised],
    batch_size: usize,
    progress: impl FnMut(usize, usize),
) -> Scores {
    let seqs: Vec<Vec<u32>> = data.iter().map(|t| t.ids.clone()).collect();
    let mut out = Scores::default();
    for row in score_tokens(model, &seqs, batch_size, progress) {
        let row: Vec<_> = row
            .into_iter()
            .skip(1)
            .map(|x| x.expect("scored"))
            .collect();
        out.nll
            .push(row.iter().map(|t| -(t.logprob as f64)).collect());
        out.top1.push(row.iter().map(|t| t.top1).collect());
        out.mean_logprob
            .push(row.iter().map(|t| t.mean_logprob as f64).collect());
        out.sd_logprob
            .push(row.iter().map(|t| t.sd_logprob as f64).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::extraction;
    use triad_data::record::Span;

    #[test]
    fn a_truncated_span_never_counts_as_extracted() {
        let dir = tempfile::tempdir().unwrap();
        let tok = crate::testing::digit_tokenizer(dir.path(), &["my", "PIN", "is", "ok"]);
        // Tokens: my PIN is 1 2 3 4 5 6 ok; the PIN is tokens 3–8.
        let r = Record {
            id: "r".into(),
            text: "my PIN is 123456 ok".into(),
            spans: vec![Span {
                start: 10,
                end: 16,
                label: "PIN".into(),
            }],
            user: None,
        };
        let counted = |max_length: usize| {
            let records = std::slice::from_ref(&r);
            let t = tokenise(Path::new("t.jsonl"), &[1], records, &tok, Some(max_length)).unwrap();
            // Every kept token the model's top-1 choice, under both models.
            let top1 = vec![vec![true; t[0].labels.len()]];
            let kept_secret = t[0].labels.iter().filter(|l| l.is_some()).count();
            let e = extraction::split(&t, &top1, &top1).all;
            (kept_secret, e.secrets, e.extracted)
        };
        // Cut after two of its six digits: they are scored, the span is not a secret to extract.
        assert_eq!(counted(5), (2, 0, 0));
        assert_eq!(counted(8), (5, 0, 0));
        // Cut right after its last digit, or not at all: whole, counted.
        assert_eq!(counted(9), (6, 1, 1));
        assert_eq!(counted(10), (6, 1, 1));
        assert_eq!(counted(100), (6, 1, 1));
    }
}

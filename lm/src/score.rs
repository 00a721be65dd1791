//! Per-token log-probabilities: `logprobs[i] = log p(tokens[i] | tokens[<i])`.
//!
//! Texts are sorted by length and batched with right padding, which needs no attention mask
//! (real tokens never attend to the pads after them) and so keeps libtorch's fused causal kernel.

use crate::error::{LmError, Result};
use crate::CausalLm;
use std::io::Write;
use std::path::Path;
use tch::{Kind, Tensor};
use triad_data::fsutil::AtomicFile;
use triad_data::jsonl::TextRecord;
use triad_data::tokenizer::Tokenizer;

/// One predicted token: its log-probability, and whether it was the model's top choice — the
/// token greedy decoding from the same prefix would emit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenScore {
    pub logprob: f32,
    pub top1: bool,
    /// Mean and standard deviation of log p(z | prefix) over the vocabulary, z drawn from the
    /// model's own next-token distribution: what Min-K%++ normalises `logprob` by.
    pub mean_logprob: f32,
    pub sd_logprob: f32,
}

/// Log-probabilities of each sequence of token ids; the first entry of each is `None`.
/// `progress(done, total)` is called after every batch with counts of sequences.
pub fn score_sequences(
    model: &CausalLm,
    seqs: &[Vec<u32>],
    batch_size: usize,
    progress: impl FnMut(usize, usize),
) -> Vec<Vec<Option<f32>>> {
    score_tokens(model, seqs, batch_size, progress)
        .into_iter()
        .map(|s| s.into_iter().map(|t| t.map(|t| t.logprob)).collect())
        .collect()
}

/// [`score_sequences`] with each token's top-1 flag as well.
pub fn score_tokens(
    model: &CausalLm,
    seqs: &[Vec<u32>],
    batch_size: usize,
    mut progress: impl FnMut(usize, usize),
) -> Vec<Vec<Option<TokenScore>>> {
    let batch_size = batch_size.max(1);
    let mut order: Vec<usize> = (0..seqs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(seqs[i].len()));
    let mut out: Vec<Vec<Option<TokenScore>>> = seqs.iter().map(|s| vec![None; s.len()]).collect();
    let mut done = 0;
    for chunk in batches(&order, seqs, batch_size) {
        let t = seqs[chunk[0]].len();
        if t >= 2 {
            let b = batch_scores(model, chunk.iter().map(|&i| &seqs[i][..]), t);
            for (row, &i) in chunk.iter().enumerate() {
                let n = seqs[i].len();
                for (j, slot) in out[i]
                    .iter_mut()
                    .enumerate()
                    .skip(1)
                    .take(n.saturating_sub(1))
                {
                    let k = row * (t - 1) + j - 1;
                    *slot = Some(TokenScore {
                        logprob: b.logprob[k],
                        top1: b.top1[k],
                        mean_logprob: b.mean[k],
                        sd_logprob: b.sd[k],
                    });
                }
            }
        }
        done += chunk.len();
        progress(done, seqs.len());
    }
    out
}

/// Most tokens in one forward batch (a longer text goes alone): activations grow with rows × length.
pub const BATCH_TOKENS: usize = 16_384;
/// Most logits computed at once, so a long text never needs a tokens × vocabulary tensor:
/// 2^25 floats = 128 MiB (SmolLM2: 682 positions per piece).
pub const LOGIT_ELEMENTS: i64 = 1 << 25;

/// Consecutive runs of `order` (longest first) of at most `batch_size` rows and, beyond the
/// first row, at most [`BATCH_TOKENS`] padded tokens.
fn batches<'a>(order: &'a [usize], seqs: &[Vec<u32>], batch_size: usize) -> Vec<&'a [usize]> {
    let mut out = vec![];
    let mut start = 0;
    while start < order.len() {
        let t = seqs[order[start]].len().max(1);
        let rows = batch_size.min((BATCH_TOKENS / t).max(1));
        let end = (start + rows).min(order.len());
        out.push(&order[start..end]);
        start = end;
    }
    out
}

/// `[rows × (t-1)]` row-major scores of tokens 1.. given their prefixes.
struct BatchScores {
    logprob: Vec<f32>,
    top1: Vec<bool>,
    mean: Vec<f32>,
    sd: Vec<f32>,
}

fn flat<T>(parts: Vec<Tensor>) -> Vec<T>
where
    for<'t> Vec<T>: TryFrom<&'t Tensor, Error = tch::TchError>,
{
    let t = Tensor::cat(&parts, 1)
        .to_device(tch::Device::Cpu)
        .contiguous()
        .view([-1]);
    Vec::<T>::try_from(&t).expect("scores of the expected kind")
}

fn batch_scores<'a>(
    model: &CausalLm,
    rows: impl Iterator<Item = &'a [u32]>,
    t: usize,
) -> BatchScores {
    let mut ids: Vec<i64> = Vec::new();
    let mut b = 0;
    for r in rows {
        ids.extend(r.iter().map(|&x| x as i64));
        ids.extend(std::iter::repeat_n(0, t - r.len()));
        b += 1;
    }
    tch::no_grad(|| {
        let input = Tensor::from_slice(&ids)
            .view([b, t as i64])
            .to_device(model.device());
        let n = t as i64 - 1;
        let hidden = model.hidden_states(&input.narrow(1, 0, n), None, None, None);
        let target = input.narrow(1, 1, n);
        // Positions in pieces: logits of at most LOGIT_ELEMENTS floats exist at a time.
        let step = (LOGIT_ELEMENTS / (b * model.cfg.vocab_size).max(1)).clamp(1, n);
        let (mut lps, mut tops, mut means, mut sds) = (vec![], vec![], vec![], vec![]);
        for s in (0..n).step_by(step as usize) {
            let len = step.min(n - s);
            let logits = model.logits(&hidden.narrow(1, s, len)).to_kind(Kind::Float);
            let target = target.narrow(1, s, len);
            // Exactly as before this issue, so earlier numbers reproduce to the digit.
            let picked = logits
                .gather(-1, &target.unsqueeze(-1), false)
                .squeeze_dim(-1);
            lps.push(&picked - logits.logsumexp([-1], false));
            tops.push(logits.argmax(-1, false).eq_tensor(&target));
            // E[log p] and Var[log p] under p itself; 0·log 0 terms are 0 (exp underflows).
            let logp = logits.log_softmax(-1, Kind::Float);
            drop(logits);
            let p = logp.exp();
            let mean = (&p * &logp).sum_dim_intlist(-1, false, Kind::Float);
            // Centred before squaring: E[x²] − E[x]² cancels badly in f32.
            let centred = &logp - mean.unsqueeze(-1);
            let var = (&p * centred.square()).sum_dim_intlist(-1, false, Kind::Float);
            sds.push(var.sqrt());
            means.push(mean);
        }
        BatchScores {
            logprob: flat(lps),
            top1: flat(tops),
            mean: flat(means),
            sd: flat(sds),
        }
    })
}

/// `triad model score`: for records read from `input` (see [`triad_data::jsonl::read_texts`]), write
/// `{"id","tokens","offsets","logprobs"}` lines in the same order to `output` (atomically).
/// Returns the number of tokens scored.
pub fn score_records(
    model: &CausalLm,
    tokenizer: &Tokenizer,
    records: &[TextRecord],
    input: &Path,
    output: &Path,
    batch_size: usize,
    progress: impl FnMut(usize, usize),
) -> Result<usize> {
    let mut encoded = Vec::with_capacity(records.len());
    for r in records {
        let e = tokenizer
            .encode(&r.text)
            .map_err(|e| LmError::bad_line(input, r.line, e.to_string()))?;
        if e.ids.iter().any(|&id| id as i64 >= model.cfg.vocab_size) {
            return Err(LmError::bad_line(
                input,
                r.line,
                format!(
                    "the tokenizer produced ids beyond the model's vocab_size {}",
                    model.cfg.vocab_size
                ),
            ));
        }
        if e.ids.len() as i64 > model.cfg.max_position_embeddings {
            tracing::warn!(
                line = r.line,
                tokens = e.ids.len(),
                max = model.cfg.max_position_embeddings,
                "text is longer than the model's max_position_embeddings; scores past it are extrapolation"
            );
        }
        encoded.push(e);
    }
    let seqs: Vec<Vec<u32>> = encoded.iter().map(|e| e.ids.clone()).collect();
    let total_tokens = seqs.iter().map(Vec::len).sum();
    let logprobs = score_sequences(model, &seqs, batch_size, progress);
    let mut f = AtomicFile::create(output)?;
    for ((r, e), lp) in records.iter().zip(&encoded).zip(&logprobs) {
        let line = serde_json::json!({
            "id": r.id,
            "tokens": e.ids,
            "offsets": e.offsets.iter().map(|&(s, e)| [s, e]).collect::<Vec<_>>(),
            "logprobs": lp,
        });
        serde_json::to_writer(&mut f, &line).map_err(|e| LmError::io(output, e.into()))?;
        f.write_all(b"\n").map_err(|e| LmError::io(output, e))?;
    }
    f.commit()?;
    Ok(total_tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_rows_and_tokens_within_their_limits() {
        let seqs: Vec<Vec<u32>> = [40_000, 9_000, 8_000, 100, 100, 100]
            .iter()
            .map(|&n| vec![1; n])
            .collect();
        let order: Vec<usize> = (0..seqs.len()).collect();
        let b: Vec<Vec<usize>> = batches(&order, &seqs, 2)
            .into_iter()
            .map(<[usize]>::to_vec)
            .collect();
        // A text over the budget goes alone; two of 9,000 would exceed it; rows ≤ batch_size.
        assert_eq!(b, vec![vec![0], vec![1], vec![2, 3], vec![4, 5]]);
    }
}

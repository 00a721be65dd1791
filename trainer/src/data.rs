//! Training examples: tokenised records with the mask of tokens the loss is computed on.

use crate::config::LossOn;
use crate::error::{Result, TrainError};
use std::path::Path;
use triad_data::mask::sensitivity_mask;
use triad_data::rng::Rng;
use triad_data::scrub::{Scrub, Stats as ScrubStats};
use triad_data::tokenizer::Tokenizer;
use triad_data::Record;
use triad_lm::tch::{Device, Kind, Tensor};

#[derive(Debug, Clone)]
pub struct Example {
    pub ids: Vec<i64>,
    /// `target[i]`: whether token `i` (predicted from tokens `< i`) counts in the loss.
    pub target: Vec<bool>,
    /// The record's `user` (absent: the record is its own user).
    pub user: Option<String>,
}

/// Read and validate a dataset file (every problem is an error naming its line), scrub it
/// when asked (pseudonyms drawn from `seed`), tokenise, truncate to `max_length`, and mark loss
/// targets (a pseudonym is a sensitive span, a `[LABEL]` placeholder is not).
pub fn load(
    path: &Path,
    tok: &Tokenizer,
    max_length: usize,
    loss_on: LossOn,
    scrub: Option<(&Scrub, u64)>,
) -> Result<(Vec<Example>, Option<ScrubStats>)> {
    let mut records = triad_data::check::read_valid(path)?;
    let stats = match scrub {
        None => None,
        Some((how, seed)) => {
            let plain: Vec<Record> = records.iter().map(|(_, r)| r.clone()).collect();
            let (scrubbed, stats) =
                triad_data::scrub::scrub(&plain, how, Rng::new(seed).fork("scrub"));
            for ((_, r), s) in records.iter_mut().zip(scrubbed) {
                *r = s;
            }
            Some(stats)
        }
    };
    let mut out = Vec::with_capacity(records.len());
    for (line, r) in &records {
        let enc = tok
            .encode(&r.text)
            .map_err(|e| TrainError::bad_line(path, *line, e.to_string()))?;
        let n = enc.ids.len().min(max_length);
        if n < 2 {
            continue; // nothing to predict
        }
        let sensitive = sensitivity_mask(&enc.offsets[..n], &r.spans);
        let target = (0..n)
            .map(|i| {
                i > 0
                    && match loss_on {
                        LossOn::All => true,
                        LossOn::Sensitive => sensitive[i],
                        LossOn::NonSensitive => !sensitive[i],
                    }
            })
            .collect();
        out.push(Example {
            ids: enc.ids[..n].iter().map(|&x| x as i64).collect(),
            target,
            user: r.user.clone(),
        });
    }
    if out.is_empty() {
        return Err(TrainError::Invalid(format!(
            "{}: no record with at least two tokens",
            path.display()
        )));
    }
    Ok((out, stats))
}

/// A right-padded batch: ids `[B, T]` and the loss mask over predicted positions `[B, T-1]`.
pub struct Batch {
    pub ids: Tensor,
    pub mask: Tensor,
    /// Real (non-pad) tokens.
    pub tokens: usize,
    /// Tokens the loss is computed on.
    pub targets: usize,
}

/// A batch split into groups of similar length, so short examples are not padded to the longest
/// (audit canaries of ~20 tokens beside 256-token dialogues): longest first, a new group where
/// an example is under half its group's longest. With right padding and causal attention every
/// example's losses and gradients are the same in any grouping; only the padding work shrinks.
pub fn length_groups<'a>(examples: &[&'a Example]) -> Vec<Vec<&'a Example>> {
    let mut sorted = examples.to_vec();
    sorted.sort_by_key(|e| std::cmp::Reverse(e.ids.len()));
    let mut out: Vec<Vec<&Example>> = vec![];
    for e in sorted {
        match out.last_mut() {
            Some(g) if 2 * e.ids.len() >= g[0].ids.len() => g.push(e),
            _ => out.push(vec![e]),
        }
    }
    out
}

pub fn collate(examples: &[&Example], device: Device) -> Batch {
    let t = examples
        .iter()
        .map(|e| e.ids.len())
        .max()
        .unwrap_or(2)
        .max(2);
    let mut ids = Vec::with_capacity(examples.len() * t);
    let mut mask = Vec::with_capacity(examples.len() * (t - 1));
    let (mut tokens, mut targets) = (0, 0);
    for e in examples {
        ids.extend(&e.ids);
        ids.extend(std::iter::repeat_n(0, t - e.ids.len()));
        for i in 1..t {
            let m = e.target.get(i).copied().unwrap_or(false);
            targets += m as usize;
            mask.push(m as u8 as f32);
        }
        tokens += e.ids.len();
    }
    let b = examples.len() as i64;
    Batch {
        ids: Tensor::from_slice(&ids)
            .view([b, t as i64])
            .to_device(device),
        mask: Tensor::from_slice(&mask)
            .view([b, t as i64 - 1])
            .to_device(device),
        tokens,
        targets,
    }
}

/// Shuffled fixed-size batches for one epoch (non-private methods). Deterministic per seed.
pub fn epoch_order(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut rng = Rng::new(seed).fork(&format!("epoch-{epoch}"));
    let mut idx: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut idx);
    idx
}

/// Per-token next-token losses `[B, T-1]` (fp32) of a batch: `−log p(ids[:, 1:] | prefix)`.
pub fn token_losses(logits: &Tensor, ids: &Tensor) -> Tensor {
    let t = ids.size()[1];
    let logits = logits.narrow(1, 0, t - 1).to_kind(Kind::Float);
    let target = ids.narrow(1, 1, t - 1);
    let lp = logits.log_softmax(-1, Kind::Float);
    -lp.gather(-1, &target.unsqueeze(-1), false).squeeze_dim(-1)
}

#[cfg(test)]
mod length_group_tests {
    use super::*;

    #[test]
    fn groups_halve_in_length_and_keep_every_example() {
        let ex = |n: usize| Example {
            ids: vec![1; n],
            target: vec![true; n],
            user: None,
        };
        let all: Vec<Example> = [20, 256, 22, 130, 200, 64, 21]
            .into_iter()
            .map(ex)
            .collect();
        let refs: Vec<&Example> = all.iter().collect();
        let groups = length_groups(&refs);
        let lens: Vec<Vec<usize>> = groups
            .iter()
            .map(|g| g.iter().map(|e| e.ids.len()).collect())
            .collect();
        assert_eq!(lens, vec![vec![256, 200, 130], vec![64], vec![22, 21, 20]]);
        assert!(length_groups(&[]).is_empty());
    }
}

//! Canary exposure (Carlini et al. 2019): `log2 |R| − log2 rank(canary)`, where R is the canary's
//! candidate space and candidates are ranked by their log-perplexity under the model.
//!
//! Exact when the space is small enough to score every candidate; otherwise estimated from a
//! uniform sample of candidates: the fraction that beats the canary, or — when almost none do —
//! the tail of a normal fitted to the sample's log-perplexities (Carlini et al. fit a skew-normal;
//! a normal is the simpler choice, said in `method`).

use serde::Serialize;
use triad_lm::data::canary::Canary;
use triad_lm::data::rng::Rng;
use triad_lm::score::score_sequences;
use triad_lm::tokenizer::Tokenizer;
use triad_lm::CausalLm;

#[derive(Debug, Clone, Serialize)]
pub struct Exposure {
    pub id: String,
    pub repeats: usize,
    pub space_size: u64,
    /// `exact`, `sampled` (empirical fraction) or `sampled-normal-tail`.
    pub method: String,
    pub candidates_scored: usize,
    pub rank: f64,
    pub exposure: f64,
}

fn candidate(c: &Canary, index: u64) -> String {
    let alphabet: Vec<char> = c.alphabet.chars().collect();
    let base = alphabet.len() as u64;
    let mut digits = vec![' '; c.length];
    let mut x = index;
    for slot in digits.iter_mut().rev() {
        *slot = alphabet[(x % base) as usize];
        x /= base;
    }
    digits.into_iter().collect()
}

/// Log-perplexity of each text from the first token that reaches past `prefix_chars`.
fn log_perplexities(
    model: &CausalLm,
    tok: &Tokenizer,
    prefix_chars: usize,
    texts: &[String],
    batch: usize,
) -> triad_lm::Result<Vec<f64>> {
    let mut seqs = vec![];
    let mut starts = vec![];
    for t in texts {
        let e = tok.encode(t)?;
        starts.push(
            e.offsets
                .iter()
                .position(|&(_, end)| end > prefix_chars)
                .unwrap_or(e.ids.len())
                .max(1),
        );
        seqs.push(e.ids);
    }
    let lps = score_sequences(model, &seqs, batch, |_, _| {});
    Ok(lps
        .iter()
        .zip(&starts)
        .map(|(lp, &s)| {
            lp.iter()
                .skip(s)
                .map(|x| -(x.expect("scored") as f64))
                .sum()
        })
        .collect())
}

fn normal_cdf(x: f64, mean: f64, sd: f64) -> f64 {
    0.5 * libm::erfc(-(x - mean) / (sd * std::f64::consts::SQRT_2))
}

/// Exposure of one canary. `exact_max`: largest space scored exhaustively; `samples`: sample size
/// otherwise.
pub fn exposure(
    model: &CausalLm,
    tok: &Tokenizer,
    c: &Canary,
    exact_max: u64,
    samples: usize,
    batch: usize,
) -> triad_lm::Result<Exposure> {
    let prefix_chars = c.prefix.chars().count();
    let text = |s: &str| format!("{}{}{}", c.prefix, s, c.suffix);
    let own = log_perplexities(
        model,
        tok,
        prefix_chars,
        std::slice::from_ref(&c.text),
        batch,
    )?[0];
    let space = c.space_size.max(1);
    let (method, scored, rank) = if space <= exact_max {
        let texts: Vec<String> = (0..space)
            .map(|i| candidate(c, i))
            .filter(|s| *s != c.secret)
            .map(|s| text(&s))
            .collect();
        let lp = log_perplexities(model, tok, prefix_chars, &texts, batch)?;
        let better = lp.iter().filter(|&&x| x < own).count();
        ("exact", texts.len(), 1.0 + better as f64)
    } else {
        let mut rng = Rng::new(0x5eed).fork(&c.id);
        let texts: Vec<String> = (0..samples)
            .map(|_| candidate(c, rng.next_u64() % space))
            .filter(|s| *s != c.secret)
            .map(|s| text(&s))
            .collect();
        let lp = log_perplexities(model, tok, prefix_chars, &texts, batch)?;
        let n = lp.len().max(1) as f64;
        let better = lp.iter().filter(|&&x| x < own).count();
        if better >= 10 {
            (
                "sampled",
                lp.len(),
                1.0 + better as f64 / n * (space - 1) as f64,
            )
        } else {
            let mean = lp.iter().sum::<f64>() / n;
            let sd = (lp.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0))
                .sqrt()
                .max(1e-9);
            (
                "sampled-normal-tail",
                lp.len(),
                1.0 + normal_cdf(own, mean, sd) * (space - 1) as f64,
            )
        }
    };
    Ok(Exposure {
        id: c.id.clone(),
        repeats: c.repeats,
        space_size: space,
        method: method.into(),
        candidates_scored: scored,
        rank,
        exposure: (space as f64).log2() - rank.log2(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_enumerate_the_space() {
        let c = Canary {
            id: "c".into(),
            text: "PIN 042.".into(),
            prefix: "PIN ".into(),
            secret: "042".into(),
            suffix: ".".into(),
            label: "PIN".into(),
            alphabet: "0123456789".into(),
            length: 3,
            space_size: 1000,
            repeats: 1,
        };
        assert_eq!(candidate(&c, 0), "000");
        assert_eq!(candidate(&c, 42), "042");
        assert_eq!(candidate(&c, 999), "999");
        assert!((normal_cdf(0.0, 0.0, 1.0) - 0.5).abs() < 1e-12);
    }
}

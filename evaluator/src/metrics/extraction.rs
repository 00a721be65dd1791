//! Extraction: could greedy decoding from the text before a secret reproduce the secret?
//!
//! Greedy decoding emits the argmax token at every step, so it reproduces a secret's tokens
//! exactly when each of them was the model's top-1 choice given the true text before it. That is
//! read off the one teacher-forced scoring pass (`Scores::top1`) instead of decoding each secret
//! token by token; `tests/extraction_greedy.rs` in the CLI crate checks the equivalence against
//! real KV-cache greedy decoding.

use super::interval::Ci;
use crate::scoring::Tokenised;
use serde::Serialize;
use std::collections::BTreeMap;

/// How many secrets greedy decoding reproduces, under the checkpoint and under the base.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Rate {
    /// Whole secrets with text before them: a secret that starts at the text's first token has
    /// no prompt to decode from, and one cut by `max_length` is not all there; neither is
    /// counted (their scored tokens still count in the cells).
    pub secrets: u64,
    pub extracted: u64,
    pub rate: f64,
    pub extracted_base: u64,
    pub rate_base: f64,
    /// 95% bootstrap intervals (records resampled), on the `all` rates only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_ci95: Ci,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_base_ci95: Ci,
}

#[derive(Debug, Clone, Serialize)]
pub struct SplitExtraction {
    #[serde(flatten)]
    pub all: Rate,
    pub per_label: BTreeMap<String, Rate>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Extraction {
    pub train: SplitExtraction,
    pub test: SplitExtraction,
}

/// Per secret of each record: (label, all tokens top-1 under θ, under θ0). A secret covering
/// the record's first token (which nothing predicts) or cut by truncation (its first tokens
/// predicted say nothing of the rest) is left out.
pub(crate) fn secrets<'a>(
    t: &'a Tokenised,
    top1: &[bool],
    top1_base: &[bool],
) -> impl Iterator<Item = (&'a str, bool, bool)> {
    // span index → (label, every token top-1 under θ, under θ0)
    let mut by_span: BTreeMap<usize, (&str, bool, bool)> = BTreeMap::new();
    for (i, k) in t.span_of.iter().enumerate() {
        if let Some(k) = *k {
            if t.leading_span == Some(k) || t.cut_span == Some(k) {
                continue;
            }
            let label = t.labels[i].as_deref().unwrap_or("");
            let e = by_span.entry(k).or_insert((label, true, true));
            e.1 &= top1[i];
            e.2 &= top1_base[i];
        }
    }
    by_span.into_values()
}

fn add(r: &mut Rate, hit: bool, hit_base: bool) {
    r.secrets += 1;
    r.extracted += hit as u64;
    r.extracted_base += hit_base as u64;
}

fn finish(mut r: Rate) -> Rate {
    let n = r.secrets as f64;
    (r.rate, r.rate_base) = if r.secrets == 0 {
        (f64::NAN, f64::NAN)
    } else {
        (r.extracted as f64 / n, r.extracted_base as f64 / n)
    };
    r
}

/// Extraction rates of one split from the top-1 flags under the checkpoint and the base.
pub fn split(data: &[Tokenised], top1: &[Vec<bool>], top1_base: &[Vec<bool>]) -> SplitExtraction {
    let mut all = Rate::default();
    let mut per_label: BTreeMap<String, Rate> = BTreeMap::new();
    for ((t, a), b) in data.iter().zip(top1).zip(top1_base) {
        for (label, hit, hit_base) in secrets(t, a, b) {
            add(&mut all, hit, hit_base);
            add(
                per_label.entry(label.to_string()).or_default(),
                hit,
                hit_base,
            );
        }
    }
    SplitExtraction {
        all: finish(all),
        per_label: per_label.into_iter().map(|(k, v)| (k, finish(v))).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(span_of: Vec<Option<usize>>, labels: &[&str]) -> Tokenised {
        Tokenised {
            id: "r".into(),
            ids: vec![0; span_of.len() + 1],
            labels: span_of
                .iter()
                .map(|k| k.map(|k| labels[k].to_string()))
                .collect(),
            span_of,
            leading_span: None,
            cut_span: None,
            zlib_bytes: 1,
        }
    }

    #[test]
    fn a_secret_counts_only_when_every_token_is_top1() {
        // Tokens 1..=6: a PIN over tokens 2-3, a NAME over token 5.
        let t = record(
            vec![None, Some(0), Some(0), None, Some(1), None],
            &["PIN", "NAME"],
        );
        let theta = vec![false, true, true, false, false, true];
        let base = vec![true, true, false, true, true, true];
        let s = split(&[t], &[theta], &[base]);
        assert_eq!(s.all.secrets, 2);
        assert_eq!((s.all.extracted, s.all.extracted_base), (1, 1));
        assert_eq!(s.per_label["PIN"].extracted, 1);
        assert_eq!(s.per_label["PIN"].extracted_base, 0);
        assert_eq!(s.per_label["NAME"].extracted, 0);
        assert_eq!(s.per_label["NAME"].extracted_base, 1);
        assert_eq!(s.all.rate, 0.5);
    }

    #[test]
    fn a_secret_at_the_first_token_is_not_counted() {
        // Token 0 (unpredicted) and token 1 are one secret; token 3 another.
        let mut t = record(vec![Some(0), None, Some(1)], &["PIN", "NAME"]);
        t.leading_span = Some(0);
        let s = split(&[t], &[vec![true, true, true]], &[vec![true, true, true]]);
        assert_eq!(s.all.secrets, 1);
        assert_eq!(s.per_label.get("PIN"), None);
    }

    #[test]
    fn no_secrets_gives_nan_rates() {
        let t = record(vec![None, None], &[]);
        let s = split(&[t], &[vec![true, true]], &[vec![true, true]]);
        assert_eq!(s.all.secrets, 0);
        assert!(s.all.rate.is_nan());
    }
}

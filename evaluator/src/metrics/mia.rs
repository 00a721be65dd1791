//! Membership inference: train records are members, test records non-members. Each attack gives
//! a score per record (higher = "member"); reported as ROC AUC and TPR at 1% and 0.1% FPR,
//! each with a 95% bootstrap interval. A TPR at an FPR finer than one non-member in
//! `non_members` can resolve is not a number but `null`, with the reason in `tpr_note`.

use super::interval::Ci;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AttackResult {
    pub auc: f64,
    pub auc_ci95: Ci,
    pub tpr_at_1pct_fpr: Option<f64>,
    pub tpr_at_1pct_fpr_ci95: Ci,
    pub tpr_at_01pct_fpr: Option<f64>,
    pub tpr_at_01pct_fpr_ci95: Ci,
    /// Why a TPR is `null`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpr_note: Option<String>,
}

/// Whether `non_members` negatives can resolve an FPR of `fpr` (at least one false positive
/// must be possible at that rate: `fpr · n ≥ 1`).
pub fn tpr_reportable(non_members: usize, fpr: f64) -> bool {
    fpr * non_members as f64 >= 1.0 - 1e-9
}

/// ROC AUC = P(score(member) > score(non-member)) + ½ P(tie) (Mann–Whitney U).
pub fn auc(members: &[f64], non_members: &[f64]) -> f64 {
    let mut all: Vec<(f64, bool)> = members
        .iter()
        .map(|&s| (s, true))
        .chain(non_members.iter().map(|&s| (s, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Average ranks over ties.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += all[i..=j].iter().filter(|x| x.1).count() as f64 * avg;
        i = j + 1;
    }
    let (m, n) = (members.len() as f64, non_members.len() as f64);
    (rank_sum - m * (m + 1.0) / 2.0) / (m * n)
}

/// The largest TPR whose FPR is at most `fpr` (thresholds strictly above non-member scores).
pub fn tpr_at(members: &[f64], non_members: &[f64], fpr: f64) -> f64 {
    let mut neg: Vec<f64> = non_members.to_vec();
    neg.sort_by(|a, b| b.total_cmp(a));
    // Allowed false positives: floor(fpr · n). The threshold sits at the (k+1)-th highest negative.
    let k = (fpr * neg.len() as f64).floor() as usize;
    let threshold = neg.get(k).copied().unwrap_or(f64::NEG_INFINITY);
    members.iter().filter(|&&s| s > threshold).count() as f64 / members.len().max(1) as f64
}

/// Point estimates; the intervals are filled in by the caller (they need the records).
pub fn attack(members: &[f64], non_members: &[f64]) -> AttackResult {
    let n = non_members.len();
    let at = |fpr: f64| tpr_reportable(n, fpr).then(|| tpr_at(members, non_members, fpr));
    let finest = [(0.01, "1%"), (0.001, "0.1%")]
        .into_iter()
        .filter(|&(f, _)| !tpr_reportable(n, f))
        .map(|(_, s)| s)
        .collect::<Vec<_>>();
    AttackResult {
        auc: auc(members, non_members),
        auc_ci95: None,
        tpr_at_1pct_fpr: at(0.01),
        tpr_at_1pct_fpr_ci95: None,
        tpr_at_01pct_fpr: at(0.001),
        tpr_at_01pct_fpr_ci95: None,
        tpr_note: (!finest.is_empty()).then(|| {
            format!(
                "{n} non-members resolve no FPR below {:.3}: TPR at {} FPR not reported",
                1.0 / n.max(1) as f64,
                finest.join(" and ")
            )
        }),
    }
}

/// LOSS attack: minus the mean token loss.
pub fn loss_score(nll: &[f64]) -> f64 {
    -mean(nll)
}

/// Reference-calibrated: how much lower the loss is under the checkpoint than under the base.
pub fn reference_score(nll: &[f64], nll_base: &[f64]) -> f64 {
    mean(nll_base) - mean(nll)
}

/// Min-K% (Shi et al. 2024): minus the mean of the k fraction of highest token losses.
pub fn min_k_score(nll: &[f64], k: f64) -> f64 {
    let mut v = nll.to_vec();
    v.sort_by(|a, b| b.total_cmp(a));
    let n = ((v.len() as f64 * k).ceil() as usize)
        .max(1)
        .min(v.len().max(1));
    -mean(&v[..n.min(v.len())])
}

/// Min-K%++ (Zhang et al. 2024): each token's log-probability standardised by the mean and sd
/// of log p under the model's own next-token distribution, `(log p − μ) / σ`; the score is the
/// mean of the k fraction of lowest. A token whose distribution is a point (σ = 0) scores 0.
pub fn min_k_plus_plus_score(nll: &[f64], mu: &[f64], sd: &[f64], k: f64) -> f64 {
    let z: Vec<f64> = nll
        .iter()
        .zip(mu.iter().zip(sd))
        .map(|(&l, (&m, &s))| if s > 0.0 { (-l - m) / s } else { 0.0 })
        .collect();
    // The lowest z are the highest −z: reuse Min-K%'s selection on −z.
    let neg: Vec<f64> = z.iter().map(|x| -x).collect();
    min_k_score(&neg, k)
}

/// zlib (Carlini et al. 2021): the record's total log-likelihood per byte of its zlib-compressed
/// text, −Σℓ / zlib bytes — likelihood beyond what generic compressibility explains.
pub fn zlib_score(nll: &[f64], zlib_bytes: usize) -> f64 {
    if nll.is_empty() || zlib_bytes == 0 {
        return f64::NAN;
    }
    -nll.iter().sum::<f64>() / zlib_bytes as f64
}

/// Token-level ratio attack: the mean of ℓ₀ − ℓ over the tokens that carry the signal — the
/// record's sensitive tokens, or where it has none, the k fraction the base finds least likely
/// (its high-surprise tokens). A record-level reference attack averages the same ratio over
/// every token, where the shared template text drowns the few tokens that are the record's own.
pub fn token_reference_score(nll: &[f64], nll_base: &[f64], sensitive: &[bool], k: f64) -> f64 {
    let ratio = |i: usize| nll_base[i] - nll[i];
    let picked: Vec<f64> = (0..nll.len())
        .filter(|&i| sensitive[i])
        .map(ratio)
        .collect();
    if !picked.is_empty() {
        return mean(&picked);
    }
    let mut order: Vec<usize> = (0..nll.len()).collect();
    order.sort_by(|&a, &b| nll_base[b].total_cmp(&nll_base[a]));
    let n = ((nll.len() as f64 * k).ceil() as usize).clamp(1, nll.len().max(1));
    mean(&order.iter().take(n).map(|&i| ratio(i)).collect::<Vec<_>>())
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_and_tpr_known_values() {
        assert_eq!(auc(&[3.0, 4.0], &[1.0, 2.0]), 1.0);
        assert_eq!(auc(&[1.0, 2.0], &[3.0, 4.0]), 0.0);
        assert_eq!(auc(&[1.0, 2.0], &[1.0, 2.0]), 0.5);
        assert!((auc(&[2.0, 0.5], &[1.0, 0.0]) - 0.75).abs() < 1e-12);
        let neg: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        // 1% FPR allows 10 negatives above the threshold: threshold = 989.
        assert_eq!(tpr_at(&[995.0, 990.0, 989.0, 5.0], &neg, 0.01), 0.5);
        assert_eq!(min_k_score(&[1.0, 5.0, 3.0, 2.0], 0.5), -4.0);
    }

    #[test]
    fn new_attack_scores_follow_their_definitions() {
        // z = (−ℓ − μ)/σ: (−1+2)/1 = 1, (−4+2)/2 = −1, (−3+3)/1 = 0, σ = 0 → 0.
        let z = min_k_plus_plus_score(
            &[1.0, 4.0, 3.0, 2.0],
            &[-2.0, -2.0, -3.0, -1.0],
            &[1.0, 2.0, 1.0, 0.0],
            0.5,
        );
        // The two lowest z are −1 and 0.
        assert_eq!(z, -0.5);
        assert_eq!(zlib_score(&[1.0, 3.0], 8), -0.5);
        assert!(zlib_score(&[], 8).is_nan());
        // Sensitive tokens 1 and 2: ratios 1 and 3.
        let base = [5.0, 3.0, 4.0, 9.0];
        let nll = [5.0, 2.0, 1.0, 1.0];
        assert_eq!(
            token_reference_score(&nll, &base, &[false, true, true, false], 0.2),
            2.0
        );
        // None sensitive: the 25% (one) highest-ℓ₀ token, ratio 9 − 1.
        assert_eq!(token_reference_score(&nll, &base, &[false; 4], 0.25), 8.0);
    }

    #[test]
    fn tprs_finer_than_the_non_members_allow_are_null() {
        let r = attack(&[1.0; 10], &[0.0; 32]);
        assert_eq!((r.tpr_at_1pct_fpr, r.tpr_at_01pct_fpr), (None, None));
        assert!(r.tpr_note.unwrap().contains("32 non-members"));
        let r = attack(&[1.0; 10], &[0.0; 100]);
        assert_eq!(r.tpr_at_1pct_fpr, Some(1.0));
        assert_eq!(r.tpr_at_01pct_fpr, None);
        let r = attack(&[1.0; 10], &[0.0; 1000]);
        assert!(r.tpr_note.is_none());
    }
}

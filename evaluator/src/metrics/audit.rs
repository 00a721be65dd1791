//! The statistics of a one-run privacy audit (Steinke, Nasr & Jagielski, NeurIPS 2023):
//! m audit canaries, each in the training set by an independent fair coin; an auditor who sees
//! the trained model guesses "in" for some, "out" for others, and abstains on the rest. Under
//! (ε, δ)-DP, the number W of correct guesses among r is dominated by Binomial(r, e^ε/(1+e^ε))
//! up to a δ term (their Theorem 5.2), so many correct guesses reject small ε: the largest ε
//! rejected at the chosen confidence is an empirical lower bound on the ε the run really spent.
//!
//! The guesses here are the `k` highest and `k` lowest membership scores, for each `k` of a
//! fixed ladder fixed before looking at the scores; the bound is the best over the ladder with
//! the confidence split among its rungs (Bonferroni), so picking the best rung after the fact
//! keeps the stated confidence.

use serde::Serialize;

/// ln C(n, k) · p^k (1−p)^(n−k), the binomial log-pmf.
fn log_binom_pmf(n: u64, k: u64, p: f64) -> f64 {
    if k > n {
        return f64::NEG_INFINITY;
    }
    let (nf, kf) = (n as f64, k as f64);
    let log_c = libm::lgamma(nf + 1.0) - libm::lgamma(kf + 1.0) - libm::lgamma(nf - kf + 1.0);
    let a = if k == 0 { 0.0 } else { kf * p.ln() };
    let b = if k == n {
        0.0
    } else {
        (nf - kf) * (-p).ln_1p()
    };
    log_c + a + b
}

/// The bound on P[W ≥ v] for an (ε, δ)-DP training run: `m` canaries, `r` guesses, `v`
/// correct (Steinke et al. 2023, Thm. 5.2 with its δ term: β + 2mδ·α, where β is the binomial
/// tail at v and α the largest average of the binomial mass just below v).
pub fn p_value(m: u64, r: u64, v: u64, eps: f64, delta: f64) -> f64 {
    let q = 1.0 / (1.0 + (-eps).exp());
    let beta: f64 = (v..=r).map(|k| log_binom_pmf(r, k, q).exp()).sum();
    let (mut alpha, mut below) = (0.0f64, 0.0);
    for i in 1..=v {
        below += log_binom_pmf(r, v - i, q).exp();
        alpha = alpha.max(below / i as f64);
    }
    (beta + alpha * delta * 2.0 * m as f64).min(1.0)
}

/// The largest ε that `v` correct guesses of `r` reject at level `1 − confidence`: an ε the
/// run is shown *not* to satisfy (0 when none is rejected).
pub fn epsilon_lower_bound(m: u64, r: u64, v: u64, delta: f64, confidence: f64) -> f64 {
    let level = 1.0 - confidence;
    if r == 0 || p_value(m, r, v, 0.0, delta) >= level {
        return 0.0;
    }
    // p_value rises with ε; find where it crosses the level.
    let (mut lo, mut hi) = (0.0, 1.0);
    while p_value(m, r, v, hi, delta) < level {
        lo = hi;
        hi *= 2.0;
        if hi > 1e3 {
            return f64::INFINITY;
        }
    }
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if p_value(m, r, v, mid, delta) < level {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The rungs of guess counts tried: 2k guesses (the k highest scores "in", the k lowest "out")
/// for k = 5, 10, 25, 50, … up to half the canaries; fixed before the scores are seen.
pub fn ladder(m: u64) -> Vec<u64> {
    let mut out = vec![];
    let mut scale = 1;
    loop {
        for mult in [5, 10, 25] {
            let k = mult * scale;
            if 2 * k > m {
                return out;
            }
            out.push(k);
        }
        scale *= 10;
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AuditResult {
    /// Audit canaries, and how many of them the coins put in training.
    pub m: u64,
    pub included: u64,
    /// The rung that gave the bound: guesses made (half "in", half "out") and correct.
    pub guesses: u64,
    pub correct: u64,
    /// ε the run is shown not to satisfy, at `confidence` (with the δ of `delta`).
    pub epsilon_lower_bound: f64,
    pub confidence: f64,
    pub delta: f64,
    /// The largest bound these m canaries could show (every guess of the largest rung right).
    pub ceiling: f64,
    /// How the guesses were chosen.
    pub method: String,
}

/// The audit from each canary's membership score, its coin (`true`: in training) and a key
/// that orders tied scores (a hash of the canary's id: fixed before training and independent of
/// the coins, so ties — every score of the base model is 0 — cannot leak the coins through the
/// file's order). A NaN score abstains: its canary is never guessed.
pub fn audit(
    scores: &[f64],
    included: &[bool],
    keys: &[u64],
    delta: f64,
    confidence: f64,
) -> AuditResult {
    let m = scores.len() as u64;
    let mut order: Vec<usize> = (0..scores.len()).filter(|&i| !scores[i].is_nan()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(keys[a].cmp(&keys[b])));
    let rungs = ladder(m);
    let per_rung = 1.0 - (1.0 - confidence) / rungs.len().max(1) as f64;
    let mut best = (0.0, 0u64, 0u64);
    // Rungs are fixed by m; one that needs more scored canaries than there are is skipped but
    // still counted in the Bonferroni split.
    for &k in rungs.iter().filter(|&&k| 2 * k as usize <= order.len()) {
        let k = k as usize;
        let hits_in = order[..k].iter().filter(|&&i| included[i]).count();
        let hits_out = order[order.len() - k..]
            .iter()
            .filter(|&&i| !included[i])
            .count();
        let (r, v) = (2 * k as u64, (hits_in + hits_out) as u64);
        let eps = epsilon_lower_bound(m, r, v, delta, per_rung);
        if eps > best.0 || best.1 == 0 {
            best = (eps, r, v);
        }
    }
    let top = rungs.last().map_or(0, |&k| 2 * k);
    AuditResult {
        m,
        included: included.iter().filter(|&&x| x).count() as u64,
        guesses: best.1,
        correct: best.2,
        epsilon_lower_bound: best.0,
        confidence,
        delta,
        ceiling: epsilon_lower_bound(m, top, top, delta, per_rung),
        method: format!(
            "top/bottom k by score, k in {rungs:?}, Bonferroni over {} rungs (Steinke et al. 2023)",
            rungs.len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use triad_data::rng::Rng;

    #[test]
    fn p_value_and_bound_match_scipy() {
        // The same formulas through scipy.stats.binom (values printed by Python 3.11, scipy 1.17).
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1e-12);
        assert!(close(
            p_value(1000, 100, 80, 1.0, 1e-5),
            0.073_009_115_949_177_76
        ));
        assert!(close(
            p_value(1000, 100, 80, 1.0, 0.0),
            0.071_556_246_804_836_74
        ));
        assert!(close(
            p_value(500, 200, 150, 2.0, 1e-3),
            0.999_999_960_775_226_9
        ));
        assert!(
            (epsilon_lower_bound(1000, 100, 80, 1e-5, 0.95) - 0.955_318_534_955_255_8).abs() < 1e-9
        );
        assert_eq!(epsilon_lower_bound(1000, 200, 110, 1e-5, 0.95), 0.0);
        // The ceilings of the paper's Figure 1: all of r guesses right, δ = 0.
        for (r, want) in [
            (100, 3.492_965_431),
            (1000, 5.809_068_339),
            (10_000, 8.113_001_881),
        ] {
            let got = epsilon_lower_bound(r, r, r, 0.0, 0.95);
            assert!((got - want).abs() < 1e-6, "r {r}: {got} vs {want}");
        }
    }

    #[test]
    fn ladder_is_fixed_and_fits_the_canaries() {
        assert_eq!(ladder(9), Vec::<u64>::new());
        assert_eq!(ladder(100), vec![5, 10, 25, 50]);
        assert_eq!(ladder(1000), vec![5, 10, 25, 50, 100, 250, 500]);
    }

    #[test]
    fn scores_unrelated_to_the_coins_rarely_show_any_epsilon() {
        // Soundness: a model that learned nothing about the canaries gives ε_lb = 0 in at least
        // 95% of audits (here: in every one of 100 but a handful).
        let mut rng = Rng::new(7);
        let mut positive = 0;
        for _ in 0..100 {
            let included: Vec<bool> = (0..1000).map(|_| rng.chance(0.5)).collect();
            let scores: Vec<f64> = (0..1000).map(|_| rng.next_u64() as f64).collect();
            let keys: Vec<u64> = (0..1000).collect();
            let a = audit(&scores, &included, &keys, 1e-5, 0.95);
            positive += (a.epsilon_lower_bound > 0.0) as u32;
        }
        assert!(positive <= 5, "{positive} of 100 null audits showed ε > 0");
    }

    #[test]
    fn scores_that_reveal_the_coins_reach_the_ceiling() {
        let mut rng = Rng::new(3);
        let included: Vec<bool> = (0..1000).map(|_| rng.chance(0.5)).collect();
        let scores: Vec<f64> = included
            .iter()
            .map(|&x| x as u8 as f64 + rng.next_u64() as f64 / u64::MAX as f64 * 0.1)
            .collect();
        let keys: Vec<u64> = (0..1000).map(|i| rng.next_u64() ^ i).collect();
        let a = audit(&scores, &included, &keys, 1e-5, 0.95);
        assert_eq!(a.m, 1000);
        assert_eq!(a.guesses, a.correct);
        assert!(a.epsilon_lower_bound > 4.0, "{a:?}");
        assert!(a.epsilon_lower_bound <= a.ceiling + 1e-9, "{a:?}");
    }

    #[test]
    fn ties_follow_the_keys_not_the_file_order_and_nan_abstains() {
        // A file sorted by coin (every included canary first) and a model that learned
        // nothing (all scores 0): ordering ties by position would guess the coins perfectly.
        let mut rng = Rng::new(11);
        let included: Vec<bool> = (0..1000).map(|i| i < 500).collect();
        let scores = vec![0.0; 1000];
        let keys: Vec<u64> = (0..1000).map(|_| rng.next_u64()).collect();
        let a = audit(&scores, &included, &keys, 1e-5, 0.95);
        assert_eq!(a.epsilon_lower_bound, 0.0, "{a:?}");
        // NaN scores are never guessed: with only 12 scored, only the 5-rung can be used.
        let mut scores = vec![f64::NAN; 1000];
        for (i, s) in scores.iter_mut().enumerate().take(12) {
            *s = i as f64;
        }
        let a = audit(&scores, &included, &keys, 1e-5, 0.95);
        assert_eq!(a.guesses, 10, "{a:?}");
    }
}

//! Interval estimates: exact binomial (Clopper–Pearson) intervals for rates, percentile
//! bootstrap intervals over records for everything computed from per-record quantities, and
//! Student t intervals for means of a few values (mean exposure over canaries).

use serde::Serialize;
use triad_data::rng::Rng;

/// A 95% interval `[lo, hi]`; `None` where no interval can be given (no data).
pub type Ci = Option<[f64; 2]>;

/// Replicates of every bootstrap (records resampled with replacement within each split).
pub const REPLICATES: usize = 1000;
/// Fixed, so a METRICS.json is reproducible.
pub const SEED: u64 = 0x7121_AD0B;

/// How the intervals of a METRICS.json were computed (written beside them).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Method {
    pub confidence: f64,
    pub replicates: usize,
    pub seed: u64,
    pub method: String,
}

impl Default for Method {
    fn default() -> Self {
        Method {
            confidence: 0.95,
            replicates: REPLICATES,
            seed: SEED,
            method: "percentile bootstrap: train and test records resampled with replacement, \
                     each split on its own; exposure: exact binomial (Clopper-Pearson) on the \
                     sampled fraction; mean exposure: Student t over canaries, mean ± \
                     t(0.975, m-1) sd/sqrt(m), clipped to [0, the mean ceiling] (a bootstrap of \
                     a few canaries is too narrow)"
                .into(),
        }
    }
}

/// `ln C(n, k)`.
fn ln_choose(n: u64, k: u64) -> f64 {
    libm::lgamma(n as f64 + 1.0) - libm::lgamma(k as f64 + 1.0) - libm::lgamma((n - k) as f64 + 1.0)
}

/// P(X ≤ k) for X ~ Binomial(n, p).
fn binom_cdf(k: u64, n: u64, p: f64) -> f64 {
    if p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return if k >= n { 1.0 } else { 0.0 };
    }
    let (lp, lq) = (p.ln(), (-p).ln_1p());
    (0..=k.min(n))
        .map(|i| (ln_choose(n, i) + i as f64 * lp + (n - i) as f64 * lq).exp())
        .sum::<f64>()
        .min(1.0)
}

/// Solve `f(p) = target` for a function decreasing in p, by bisection on [0, 1].
fn bisect_decreasing(f: impl Fn(f64) -> f64, target: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if f(mid) > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Exact two-sided 95% (Clopper–Pearson) interval for a binomial proportion `k / n`.
pub fn clopper_pearson(k: u64, n: u64) -> Ci {
    if n == 0 || k > n {
        return None;
    }
    let a = 0.025;
    // lo: P(X ≥ k | lo) = a, i.e. P(X ≤ k−1 | lo) = 1 − a; hi: P(X ≤ k | hi) = a.
    let lo = if k == 0 {
        0.0
    } else {
        bisect_decreasing(|p| binom_cdf(k - 1, n, p), 1.0 - a)
    };
    let hi = if k == n {
        1.0
    } else {
        bisect_decreasing(|p| binom_cdf(k, n, p), a)
    };
    Some([lo, hi])
}

/// `P(|T| < t)` for Student's t with `df` ≥ 1 whole degrees of freedom: the closed form in
/// θ = atan(t/√df) (Abramowitz & Stegun 26.7.3–4), so no incomplete beta function is needed.
fn t_central(t: f64, df: u64) -> f64 {
    let theta = (t / (df as f64).sqrt()).atan();
    let (s, c) = theta.sin_cos();
    let (mut term, mut sum) = (1.0, 1.0);
    if df % 2 == 1 {
        for k in 1..df.saturating_sub(1) / 2 {
            term *= (2 * k) as f64 / (2 * k + 1) as f64 * c * c;
            sum += term;
        }
        let tail = if df > 1 { s * c * sum } else { 0.0 };
        std::f64::consts::FRAC_2_PI * (theta + tail)
    } else {
        for k in 1..df / 2 {
            term *= (2 * k - 1) as f64 / (2 * k) as f64 * c * c;
            sum += term;
        }
        s * sum
    }
}

/// `t(0.975, df)`: the two-sided 95% quantile of Student's t, by bisection.
pub fn t_975(df: u64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1e3f64);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if t_central(mid, df.max(1)) < 0.95 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Student t 95% interval of the mean of `xs`: `mean ± t(0.975, m−1) · sd / √m`; `None` below
/// two values (no spread to measure).
pub fn t_mean(xs: &[f64]) -> Ci {
    let m = xs.len();
    if m < 2 {
        return None;
    }
    let mean = xs.iter().sum::<f64>() / m as f64;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (m - 1) as f64;
    let half = t_975(m as u64 - 1) * (var / m as f64).sqrt();
    Some([mean - half, mean + half])
}

/// The 2.5% and 97.5% percentiles of `values` (NaNs dropped); `None` when fewer than half
/// the replicates gave a number.
pub fn percentile_ci(values: &mut Vec<f64>, replicates: usize) -> Ci {
    values.retain(|v| !v.is_nan());
    if values.is_empty() || values.len() * 2 < replicates {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let x = q * (values.len() - 1) as f64;
        let (i, f) = (x.floor() as usize, x.fract());
        let j = (i + 1).min(values.len() - 1);
        values[i] * (1.0 - f) + values[j] * f
    };
    Some([at(0.025), at(0.975)])
}

/// Bootstrap of `k` statistics of two samples: each replicate resamples `a` and `b` with
/// replacement (each on its own) and evaluates `stats`; returns one interval per statistic.
pub fn bootstrap2<T>(
    a: &[T],
    b: &[T],
    k: usize,
    label: &str,
    stats: impl Fn(&[&T], &[&T]) -> Vec<f64>,
) -> Vec<Ci> {
    let mut rng = Rng::new(SEED).fork(label);
    let mut cols: Vec<Vec<f64>> = vec![Vec::with_capacity(REPLICATES); k];
    let mut ra: Vec<&T> = Vec::with_capacity(a.len());
    let mut rb: Vec<&T> = Vec::with_capacity(b.len());
    for _ in 0..REPLICATES {
        ra.clear();
        rb.clear();
        ra.extend((0..a.len()).map(|_| &a[rng.below(a.len())]));
        rb.extend((0..b.len()).map(|_| &b[rng.below(b.len())]));
        for (col, v) in cols.iter_mut().zip(stats(&ra, &rb)) {
            col.push(v);
        }
    }
    cols.iter_mut()
        .map(|c| percentile_ci(c, REPLICATES))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clopper_pearson_matches_known_values() {
        // scipy.stats.binomtest(k, n).proportion_ci(method="exact").
        let [lo, hi] = clopper_pearson(0, 200).unwrap();
        assert_eq!(lo, 0.0);
        assert!((hi - 0.018_275_340).abs() < 1e-8, "{hi}");
        let [lo, hi] = clopper_pearson(5, 20).unwrap();
        assert!((lo - 0.086_571_469).abs() < 1e-8, "{lo}");
        assert!((hi - 0.491_045_872).abs() < 1e-8, "{hi}");
        let [lo, hi] = clopper_pearson(20, 20).unwrap();
        assert!((lo - 0.831_566_529).abs() < 1e-8 && hi == 1.0, "{lo}");
        assert!(clopper_pearson(1, 0).is_none());
    }

    #[test]
    fn bootstrap_of_a_mean_covers_it_with_the_normal_width() {
        // 400 draws of a ±1 coin: the mean's sd is 1/20, so the 95% interval is about ±0.098.
        let mut r = Rng::new(3);
        let xs: Vec<f64> = (0..400)
            .map(|_| if r.chance(0.5) { 1.0 } else { -1.0 })
            .collect();
        let mean = |v: &[&f64]| v.iter().copied().sum::<f64>() / v.len() as f64;
        let m = mean(&xs.iter().collect::<Vec<_>>());
        let ci = bootstrap2(&xs, &xs, 1, "t", |a, _| vec![mean(a)]);
        let [lo, hi] = ci[0].unwrap();
        assert!(lo < m && m < hi);
        assert!((hi - lo - 0.196).abs() < 0.03, "width {}", hi - lo);
    }

    #[test]
    fn t_quantiles_match_tables() {
        // scipy.stats.t.ppf(0.975, df).
        for (df, want) in [
            (1, 12.706_204_736),
            (2, 4.302_652_730),
            (3, 3.182_446_305),
            (4, 2.776_445_105),
            (9, 2.262_157_163),
            (30, 2.042_272_456),
            (1000, 1.962_339_077),
        ] {
            assert!((t_975(df) - want).abs() < 1e-6, "df {df}: {}", t_975(df));
        }
    }

    #[test]
    fn t_interval_of_few_values_is_wider_than_the_normal_one() {
        // Four values, mean 2.5, sd √(5/3): half-width t(0.975, 3) · sd / 2.
        let [lo, hi] = t_mean(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        let half = 3.182_446_305 * (5.0f64 / 3.0).sqrt() / 2.0;
        assert!((lo - (2.5 - half)).abs() < 1e-6 && (hi - (2.5 + half)).abs() < 1e-6);
        assert!(half > 1.96 * (5.0f64 / 3.0).sqrt() / 2.0 * 1.5);
        assert_eq!(t_mean(&[1.0]), None);
        assert_eq!(t_mean(&[3.0, 3.0]), Some([3.0, 3.0]));
    }

    #[test]
    fn percentiles_drop_nans_and_refuse_mostly_nan() {
        let mut v: Vec<f64> = (0..=100).map(|i| i as f64).collect();
        assert_eq!(percentile_ci(&mut v, 101), Some([2.5, 97.5]));
        let mut v = vec![f64::NAN; 10];
        v[0] = 1.0;
        assert_eq!(percentile_ci(&mut v, 10), None);
    }
}

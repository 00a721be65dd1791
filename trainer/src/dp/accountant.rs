//! Rényi-DP accountant for the Poisson-subsampled Gaussian mechanism (Mironov et al. 2019),
//! with the same orders and RDP → (ε, δ) conversion (Balle et al. 2020, Thm. 21) as Opacus's
//! `RDPAccountant`, so the numbers agree with what users of Opacus know.

use super::special::log_erfc;

/// Opacus's default orders: 1.1, 1.2, …, 10.9, then 12, 13, …, 63.
pub const DEFAULT_ORDERS: [f64; 151] = {
    let mut a = [0.0; 151];
    let mut i = 0;
    while i < 99 {
        a[i] = 1.0 + (i + 1) as f64 / 10.0;
        i += 1;
    }
    while i < 151 {
        a[i] = (i - 99 + 12) as f64;
        i += 1;
    }
    a
};

/// The largest noise multiplier the σ search tries, as in Opacus.
pub const MAX_SIGMA: f64 = 1e6;

fn log_add(x: f64, y: f64) -> f64 {
    let (a, b) = (x.min(y), x.max(y));
    if a == f64::NEG_INFINITY {
        return b;
    }
    (a - b).exp().ln_1p() + b
}

fn log_sub(x: f64, y: f64) -> f64 {
    if y == f64::NEG_INFINITY {
        return x;
    }
    if x == y {
        return f64::NEG_INFINITY;
    }
    let d = (x - y).exp_m1();
    if d.is_infinite() {
        return x;
    }
    // x < y cannot happen for the series below (Opacus raises); a NaN would surface in ε.
    d.ln() + y
}

/// Generalised binomial coefficient C(alpha, i) for real alpha.
fn binom(alpha: f64, i: u64) -> f64 {
    let mut c = 1.0;
    for k in 1..=i {
        c *= (alpha - (k as f64) + 1.0) / k as f64;
    }
    c
}

fn log_a_int(q: f64, sigma: f64, alpha: u64) -> f64 {
    let mut log_a = f64::NEG_INFINITY;
    for i in 0..=alpha {
        let coef =
            binom(alpha as f64, i).ln() + i as f64 * q.ln() + (alpha - i) as f64 * (1.0 - q).ln();
        let s = coef + (i * i - i) as f64 / (2.0 * sigma * sigma);
        log_a = log_add(log_a, s);
    }
    log_a
}

fn log_a_frac(q: f64, sigma: f64, alpha: f64) -> f64 {
    let (mut a0, mut a1) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let z0 = sigma * sigma * (1.0 / q - 1.0).ln() + 0.5;
    let half = 0.5f64.ln();
    let mut i: u64 = 0;
    loop {
        let coef = binom(alpha, i);
        let log_coef = coef.abs().ln();
        let fi = i as f64;
        let j = alpha - fi;
        let t0 = log_coef + fi * q.ln() + j * (1.0 - q).ln();
        let t1 = log_coef + j * q.ln() + fi * (1.0 - q).ln();
        let e0 = half + log_erfc((fi - z0) / (std::f64::consts::SQRT_2 * sigma));
        let e1 = half + log_erfc((z0 - j) / (std::f64::consts::SQRT_2 * sigma));
        let s0 = t0 + (fi * fi - fi) / (2.0 * sigma * sigma) + e0;
        let s1 = t1 + (j * j - j) / (2.0 * sigma * sigma) + e1;
        if coef > 0.0 {
            a0 = log_add(a0, s0);
            a1 = log_add(a1, s1);
        } else {
            a0 = log_sub(a0, s0);
            a1 = log_sub(a1, s1);
        }
        i += 1;
        // Converged (also on NaN, which never converges); the cap keeps a bad input from
        // spinning, and a capped sum is not a bound, so it yields NaN (ε = ∞ upstream).
        let top = s0.max(s1);
        if top < -30.0 || top.is_nan() {
            break;
        }
        if i >= 100_000 {
            return f64::NAN;
        }
    }
    log_add(a0, a1)
}

/// RDP of one step at order `alpha`.
pub fn rdp_step(q: f64, sigma: f64, alpha: f64) -> f64 {
    // Out-of-range inputs give NaN, which `privacy_spent` skips: ε = ∞, never a small number.
    if !(0.0..=1.0).contains(&q) || sigma.is_nan() || sigma < 0.0 {
        return f64::NAN;
    }
    if q == 0.0 {
        return 0.0;
    }
    if sigma == 0.0 {
        return f64::INFINITY;
    }
    if q == 1.0 {
        return alpha / (2.0 * sigma * sigma);
    }
    if alpha.is_infinite() {
        return f64::INFINITY;
    }
    let log_a = if alpha.fract() == 0.0 {
        log_a_int(q, sigma, alpha as u64)
    } else {
        log_a_frac(q, sigma, alpha)
    };
    log_a / (alpha - 1.0)
}

/// (ε, best order) from RDP values at `orders`.
pub fn privacy_spent(orders: &[f64], rdp: &[f64], delta: f64) -> (f64, f64) {
    let mut best = (f64::INFINITY, f64::NAN);
    for (&a, &r) in orders.iter().zip(rdp) {
        let eps = r - (delta.ln() + a.ln()) / (a - 1.0) + ((a - 1.0) / a).ln();
        if !eps.is_nan() && (best.1.is_nan() || eps < best.0) {
            best = (eps, a);
        }
    }
    best
}

/// The steps an accountant has seen: (noise multiplier, sampling rate, count), consecutive
/// equal steps merged. Both accountants keep one.
#[derive(Debug, Clone, Default)]
pub struct Steps(Vec<(f64, f64, u64)>);

impl Steps {
    /// `count` steps at noise multiplier `sigma` and sampling rate `q`.
    pub fn of(sigma: f64, q: f64, count: u64) -> Self {
        Steps(vec![(sigma, q, count)])
    }

    pub fn push(&mut self, noise_multiplier: f64, sampling_rate: f64) {
        match self.0.last_mut() {
            Some((s, q, n)) if *s == noise_multiplier && *q == sampling_rate => *n += 1,
            _ => self.0.push((noise_multiplier, sampling_rate, 1)),
        }
    }

    pub fn total(&self) -> u64 {
        self.0.iter().map(|h| h.2).sum()
    }

    pub fn runs(&self) -> &[(f64, f64, u64)] {
        &self.0
    }
}

/// Tracks the steps taken (each with its sampling rate and noise multiplier).
#[derive(Debug, Clone, Default)]
pub struct RdpAccountant {
    history: Steps,
}

impl RdpAccountant {
    pub fn step(&mut self, noise_multiplier: f64, sampling_rate: f64) {
        self.history.push(noise_multiplier, sampling_rate);
    }

    pub fn steps(&self) -> u64 {
        self.history.total()
    }

    /// ε at `delta` over Opacus's default orders (0 before any step).
    pub fn epsilon(&self, delta: f64) -> f64 {
        self.epsilon_and_order(delta).0
    }

    /// ε at `delta` and the RDP order that gives it (NaN before any step).
    pub fn epsilon_and_order(&self, delta: f64) -> (f64, f64) {
        if self.history.runs().is_empty() {
            return (0.0, f64::NAN);
        }
        let rdp: Vec<f64> = DEFAULT_ORDERS
            .iter()
            .map(|&a| {
                self.history
                    .runs()
                    .iter()
                    .map(|&(s, q, n)| rdp_step(q, s, a) * n as f64)
                    .sum()
            })
            .collect();
        privacy_spent(&DEFAULT_ORDERS, &rdp, delta)
    }
}

/// ε after `steps` steps at sampling rate `q` and noise multiplier `sigma`.
pub fn epsilon(q: f64, sigma: f64, steps: u64, delta: f64) -> f64 {
    RdpAccountant {
        history: Steps::of(sigma, q, steps),
    }
    .epsilon(delta)
}

/// The noise multiplier reaching `target_epsilon` within `tolerance` (Opacus's
/// `get_noise_multiplier` search, step for step). `None` when even σ = 10⁶ is not enough.
pub fn noise_multiplier(
    target_epsilon: f64,
    delta: f64,
    q: f64,
    steps: u64,
    tolerance: f64,
) -> Option<f64> {
    search_sigma(
        target_epsilon,
        tolerance,
        |s| epsilon(q, s, steps, delta),
        &|| false,
    )
    .found()
}

/// How a σ search ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Search {
    Found(f64),
    /// Even σ = [`MAX_SIGMA`] spends more than the target (or the target is not a positive
    /// finite ε).
    Unreachable,
    /// `stop` said so between two evaluations of ε.
    Stopped,
}

impl Search {
    pub fn found(self) -> Option<f64> {
        match self {
            Search::Found(s) => Some(s),
            _ => None,
        }
    }
}

/// Opacus's σ search for any accountant: double σ from 20 until ε(σ) ≤ `target_epsilon`, then
/// bisect until ε is within `tolerance` below it. `stop` is asked before every evaluation of ε
/// (one evaluation is at most a fraction of a second; a whole PLD search over millions of
/// steps takes seconds), so a cancelled run does not wait for the search.
pub fn search_sigma(
    target_epsilon: f64,
    tolerance: f64,
    epsilon: impl Fn(f64) -> f64,
    stop: &dyn Fn() -> bool,
) -> Search {
    if !(target_epsilon > 0.0 && target_epsilon.is_finite() && tolerance > 0.0) {
        return Search::Unreachable;
    }
    let mut eps_high = f64::INFINITY;
    let (mut sigma_low, mut sigma_high) = (0.0, 10.0);
    // `!(≤)`: a NaN ε is not a σ that reaches the target.
    while eps_high.is_nan() || eps_high > target_epsilon {
        sigma_high *= 2.0;
        if stop() {
            return Search::Stopped;
        }
        eps_high = epsilon(sigma_high);
        if sigma_high > MAX_SIGMA {
            return Search::Unreachable;
        }
    }
    for _ in 0..200 {
        if target_epsilon - eps_high <= tolerance {
            break;
        }
        let sigma = (sigma_low + sigma_high) / 2.0;
        if stop() {
            return Search::Stopped;
        }
        let eps = epsilon(sigma);
        if eps < target_epsilon {
            sigma_high = sigma;
            eps_high = eps;
        } else {
            sigma_low = sigma;
        }
    }
    Search::Found(sigma_high)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_match_opacus() {
        assert_eq!(DEFAULT_ORDERS[0], 1.1);
        assert_eq!(DEFAULT_ORDERS[98], 10.9);
        assert_eq!(DEFAULT_ORDERS[99], 12.0);
        assert_eq!(DEFAULT_ORDERS[150], 63.0);
    }

    #[test]
    fn sanity() {
        // More noise, less ε; more steps, more ε; no steps, no ε.
        let e = epsilon(0.01, 1.0, 1000, 1e-5);
        assert!(epsilon(0.01, 2.0, 1000, 1e-5) < e && e < epsilon(0.01, 1.0, 2000, 1e-5));
        assert_eq!(RdpAccountant::default().epsilon(1e-5), 0.0);
        let s = noise_multiplier(8.0, 1e-5, 0.01, 1000, 0.01).unwrap();
        let got = epsilon(0.01, s, 1000, 1e-5);
        assert!(got <= 8.0 && 8.0 - got <= 0.01, "{got}");
    }

    #[test]
    fn a_search_stops_when_asked() {
        let calls = std::cell::Cell::new(0);
        let stop = || calls.get() >= 3;
        let r = search_sigma(
            1.0,
            1e-9,
            |s| {
                calls.set(calls.get() + 1);
                10.0 / s
            },
            &stop,
        );
        assert_eq!((r, calls.get()), (Search::Stopped, 3));
    }
}

//! Privacy loss distribution (PLD) accountant for the Poisson-subsampled Gaussian mechanism
//! under add/remove-one neighbours (Koskela et al. 2020; Doroshenko et al. 2022), the numbers of
//! `dp_accounting`'s `PLDAccountant` with its defaults.
//!
//! One step's privacy loss is discretised on a grid of width `h` by *connect-the-dots*: the
//! discrete PLD whose hockey-stick curve δ(ε) passes through the exact curve at every grid point
//! and, between them, along the chord in `e^ε` — above the exact curve, since δ is convex in
//! `e^ε`. So every ε it reports is an upper bound (up to the truncated tail mass, which is added
//! to the mass at +∞). T steps are the T-fold convolution, computed as the T-th power of the
//! pmf's discrete Fourier transform on a support sized by a Chernoff bound. Both directions (a
//! record added, a record removed) are composed and the larger ε reported.
//!
//! RDP converts a whole curve of Rényi bounds to (ε, δ) loosely; the PLD is (up to the grid) the
//! exact privacy curve, so for the same σ it reports a smaller ε — or, for a target ε, a smaller σ.

use super::accountant::Steps;
use rustfft::num_complex::Complex64;
use rustfft::FftPlanner;

/// Grid width of the privacy loss (nats): `dp_accounting`'s default.
pub const DEFAULT_INTERVAL: f64 = 1e-4;
/// Probability mass the composition may drop from its tails; counted at +∞ (pessimistic).
const TAIL_MASS: f64 = 1e-15;
/// The single-step grid covers the outputs within this many σ of either Gaussian's mean
/// (beyond: mass below e^-50, which connect-the-dots puts at the grid's ends or at +∞).
const Z_RANGE: f64 = 10.0;
/// Most grid points a composed PLD may hold (64 MiB of complex numbers in the FFT). Beyond, the
/// grid is coarsened: still an upper bound, and ε is then large enough for the coarser grid
/// to cost nothing in relative terms (this happens for tiny σ, which a σ search visits).
const MAX_POINTS: usize = 1 << 22;

/// Which neighbouring dataset is the "upper" distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// P = (1 − q)·N(0, σ²) + q·N(1, σ²) against Q = N(0, σ²).
    Remove,
    /// P = N(0, σ²) against Q = (1 − q)·N(0, σ²) + q·N(1, σ²).
    Add,
}

fn norm_sf(z: f64) -> f64 {
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

fn norm_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

/// The subsampled Gaussian mechanism in one direction: its exact privacy loss and hockey-stick
/// divergence.
#[derive(Debug, Clone, Copy)]
struct Mechanism {
    q: f64,
    sigma: f64,
    dir: Direction,
}

impl Mechanism {
    /// `ln((1 − q) + q·e^{(2x − 1)/(2σ²)})`: the log-likelihood ratio of mixture to Gaussian.
    fn log_mix_ratio(&self, x: f64) -> f64 {
        let t = (2.0 * x - 1.0) / (2.0 * self.sigma * self.sigma);
        if self.q == 1.0 {
            return t;
        }
        // log_add(ln(1 − q), ln q + t), stably.
        let (a, b) = ((-self.q).ln_1p(), self.q.ln() + t);
        let (lo, hi) = (a.min(b), a.max(b));
        hi + (lo - hi).exp().ln_1p()
    }

    /// The range of privacy loss the grid covers: losses of outputs within `Z_RANGE` σ,
    /// clamped to [−50, 700]. Below −50 lies less than e^-50 of P's mass (P(L < −a) ≤ e^{−a}),
    /// and connect-the-dots is pessimistic for any grid: the chord from (0, 1) puts that mass
    /// at the first point, and the curve beyond the last point goes to +∞. Above 700, e^ε
    /// would overflow.
    fn grid_range(&self) -> (f64, f64) {
        let (lo, hi) = self.loss_range();
        let lo = lo.clamp(-50.0, 700.0);
        (lo, hi.clamp(lo, 700.0))
    }

    fn loss_range(&self) -> (f64, f64) {
        let s = self.sigma;
        match self.dir {
            Direction::Remove => (
                self.log_mix_ratio(-Z_RANGE * s),
                self.log_mix_ratio(1.0 + Z_RANGE * s),
            ),
            Direction::Add => (
                -self.log_mix_ratio(Z_RANGE * s),
                -self.log_mix_ratio(-Z_RANGE * s),
            ),
        }
    }

    /// δ(ε) = E_P[(1 − e^{ε − L})₊], the hockey-stick divergence of P from Q at e^ε.
    fn delta(&self, eps: f64) -> f64 {
        let (q, s) = (self.q, self.sigma);
        let y = eps.exp();
        match self.dir {
            Direction::Remove => {
                // P/Q = (1 − q) + q·e^{(2x−1)/(2σ²)} rises with x; above e^ε for x > x*.
                if y <= 1.0 - q {
                    return 1.0 - y;
                }
                let x = s * s * ((y - (1.0 - q)) / q).ln() + 0.5;
                let (tail1, tail0) = (norm_sf((x - 1.0) / s), norm_sf(x / s));
                (q * tail1 + (1.0 - q) * tail0 - y * tail0).max(0.0)
            }
            Direction::Add => {
                // P/Q = 1 / ((1 − q) + q·e^{…}) falls with x; above e^ε for x < x*.
                let inv = (-eps).exp();
                if inv <= 1.0 - q {
                    return 0.0;
                }
                let x = s * s * ((inv - (1.0 - q)) / q).ln() + 0.5;
                let (below0, below1) = (norm_cdf(x / s), norm_cdf((x - 1.0) / s));
                (below0 - y * (q * below1 + (1.0 - q) * below0)).max(0.0)
            }
        }
    }
}

/// A discrete privacy loss distribution: `probs[i]` is the probability of loss
/// `(offset + i)·h`; `infinity` the probability of an infinite loss.
#[derive(Debug, Clone)]
struct Pmf {
    h: f64,
    offset: i64,
    probs: Vec<f64>,
    infinity: f64,
}

impl Pmf {
    /// Connect-the-dots discretisation of one step (see the module docs).
    fn connect_the_dots(m: &Mechanism, h: f64) -> Pmf {
        // The grid covers the range (its last point at or past the largest loss, where δ may
        // reach 0); `composed` keeps h ≤ 1, so no point passes 701 and e^ε stays finite.
        let (lo, hi) = m.grid_range();
        let (first, last) = ((lo / h).floor() as i64, (hi / h).ceil() as i64);
        let n = (last - first + 1) as usize;
        let eps: Vec<f64> = (0..n).map(|i| (first + i as i64) as f64 * h).collect();
        // A NaN would read as δ = 0 downstream: count it as 1, the pessimistic end.
        let delta: Vec<f64> = eps
            .iter()
            .map(|&e| Some(m.delta(e)).filter(|d| !d.is_nan()).unwrap_or(1.0))
            .collect();
        // Slopes of the chords of δ against y = e^ε: from (0, 1) to the first point, between
        // consecutive points, and 0 after the last (the rest of the curve goes to +∞).
        let mut slopes = Vec::with_capacity(n + 1);
        slopes.push((delta[0] - 1.0) / eps[0].exp());
        for i in 1..n {
            let dy = eps[i - 1].exp() * h.exp_m1();
            slopes.push((delta[i] - delta[i - 1]) / dy);
        }
        slopes.push(0.0);
        // A kink of Δslope at y_i is a mass Δslope·y_i at ε_i.
        let probs = (0..n)
            .map(|i| ((slopes[i + 1] - slopes[i]) * eps[i].exp()).max(0.0))
            .collect();
        let mut probs: Vec<f64> = probs;
        for p in probs.iter_mut().filter(|p| !p.is_finite()) {
            *p = 0.0;
        }
        // Whatever mass rounding or a non-finite slope lost goes to +∞ (pessimistic).
        let finite: f64 = probs.iter().sum();
        Pmf {
            h,
            offset: first,
            probs,
            infinity: delta[n - 1].max(1.0 - finite).clamp(0.0, 1.0),
        }
    }

    /// The composition of `times` independent copies (the privacy loss adds up).
    /// `bounds`: [`Pmf::sum_bounds`] of `times`.
    fn self_compose(&self, times: u64, (lo, hi): (i64, i64)) -> Pmf {
        if times == 1 {
            return self.clone();
        }
        let len = (hi - lo + 1) as usize;
        let size = len.max(self.probs.len()).next_power_of_two();
        let mut buf = vec![Complex64::new(0.0, 0.0); size];
        // Wrapped modulo `size`: the circular convolution is the true one, wrapped alike.
        for (i, &p) in self.probs.iter().enumerate() {
            buf[i % size].re += p;
        }
        let mut planner = FftPlanner::new();
        planner.plan_fft_forward(size).process(&mut buf);
        for z in buf.iter_mut() {
            *z = cpow(*z, times);
        }
        planner.plan_fft_inverse(size).process(&mut buf);
        let probs = (lo..=hi)
            .map(|k| (buf[(k as usize) % size].re / size as f64).max(0.0))
            .collect();
        let finite = 1.0 - self.infinity;
        Pmf {
            h: self.h,
            offset: self.offset * times as i64 + lo,
            probs,
            infinity: (1.0 - finite.powf(times as f64) + TAIL_MASS).min(1.0),
        }
    }

    /// Index bounds `[lo, hi]` (relative to `times·offset`) holding the sum of `times` copies
    /// but for at most `TAIL_MASS / 2` on each side (Chernoff: P(S ≥ a) ≤ M(λ)^T e^{−λa}).
    fn sum_bounds(&self, times: u64) -> (i64, i64) {
        let t = times as f64;
        let max = (self.probs.len() - 1) as f64 * t;
        let log_tail = (TAIL_MASS / 2.0).ln();
        let (mut lo, mut hi) = (0.0f64, max);
        let logs: Vec<(f64, f64)> = (self.probs.iter().enumerate())
            .filter(|(_, &p)| p > 0.0)
            .map(|(i, &p)| (i as f64, p.ln()))
            .collect();
        for j in 0..48 {
            let lambda = 2f64.powi(8 - j) / (self.probs.len() as f64);
            let up = (t * log_mgf(&logs, lambda) - log_tail) / lambda;
            hi = hi.min(up.ceil());
            let down = (log_tail - t * log_mgf(&logs, -lambda)) / lambda;
            lo = lo.max(down.floor());
        }
        let (lo, hi) = (lo.clamp(0.0, max), hi.clamp(0.0, max));
        (lo as i64, hi.max(lo) as i64)
    }

    /// The composition of two independent PLDs on the same grid (different σ or q).
    fn compose(&self, other: &Pmf) -> Pmf {
        let len = self.probs.len() + other.probs.len() - 1;
        let size = len.next_power_of_two();
        let mut planner = FftPlanner::new();
        let fft = planner.plan_fft_forward(size);
        let spectrum = |probs: &[f64]| {
            let mut b = vec![Complex64::new(0.0, 0.0); size];
            for (z, &p) in b.iter_mut().zip(probs) {
                z.re = p;
            }
            fft.process(&mut b);
            b
        };
        let (mut a, b) = (spectrum(&self.probs), spectrum(&other.probs));
        for (x, y) in a.iter_mut().zip(&b) {
            *x *= y;
        }
        planner.plan_fft_inverse(size).process(&mut a);
        let probs: Vec<f64> = a[..len]
            .iter()
            .map(|z| (z.re / size as f64).max(0.0))
            .collect();
        Pmf {
            h: self.h,
            offset: self.offset + other.offset,
            probs,
            infinity: (1.0 - (1.0 - self.infinity) * (1.0 - other.infinity)).min(1.0),
        }
    }

    /// The smallest ε ≥ 0 with δ(ε) ≤ `delta`; ∞ when the mass at +∞ alone exceeds it.
    fn epsilon(&self, delta: f64) -> f64 {
        if delta.is_nan() || self.infinity > delta {
            return f64::INFINITY;
        }
        // δ(ε) = p∞ + Σ_{ε_i > ε} p_i (1 − e^{ε − ε_i}). Walking down from the largest loss,
        // `above` = Σ_{i>j} p_i and `scaled` = Σ_{i>j} p_i e^{ε_j − ε_i} (kept relative to
        // the current ε_j, so nothing overflows).
        let (mut above, mut scaled) = (0.0, 0.0);
        let mut prev: Option<f64> = None;
        for j in (0..self.probs.len()).rev() {
            let e = (self.offset + j as i64) as f64 * self.h;
            if let Some(p) = prev {
                scaled *= (e - p).exp();
            }
            let e0 = e.max(0.0);
            if e <= 0.0 {
                scaled *= (0.0 - e).exp();
            }
            let d = self.infinity + above - scaled;
            if d > delta {
                // The answer lies in (ε_j, ε_{j+1}): solve p∞ + A − e^{ε − ε_j}·C = δ.
                return (e0 + ((self.infinity + above - delta) / scaled).ln()).max(e0);
            }
            if e <= 0.0 {
                return 0.0;
            }
            above += self.probs[j];
            scaled += self.probs[j];
            prev = Some(e);
        }
        // Every loss is positive and δ(ε_0) ≤ `delta`: solve on [0, ε_0).
        let e = prev.unwrap_or(0.0);
        scaled *= (-e).exp();
        let d0 = self.infinity + above - scaled;
        if d0 > delta && scaled > 0.0 {
            ((self.infinity + above - delta) / scaled)
                .ln()
                .clamp(0.0, e)
        } else {
            0.0
        }
    }
}

/// ln E[e^{λ i}] of the finite part, normalised to mass 1, from its `(i, ln p_i)`.
fn log_mgf(logs: &[(f64, f64)], lambda: f64) -> f64 {
    let best = logs
        .iter()
        .map(|&(i, lp)| lp + lambda * i)
        .fold(f64::NEG_INFINITY, f64::max);
    let best_mass = logs
        .iter()
        .map(|&(_, lp)| lp)
        .fold(f64::NEG_INFINITY, f64::max);
    let (mut sum, mut mass) = (0.0, 0.0);
    for &(i, lp) in logs {
        sum += (lp + lambda * i - best).exp();
        mass += (lp - best_mass).exp();
    }
    best + sum.ln() - best_mass - mass.ln()
}

/// The PLD of `segments` (σ, q, steps) in one direction on a grid of width at least `h`
/// (coarser where [`MAX_POINTS`] would be exceeded).
/// `None` when no grid up to 1 nat fits: the privacy loss is too large to resolve (ε = ∞ is
/// then the honest answer).
fn composed(segments: &[(f64, f64, u64)], dir: Direction, mut h: f64) -> Option<Pmf> {
    loop {
        if h.is_nan() || h > 1.0 {
            return None;
        }
        let mechanisms: Vec<(Mechanism, u64)> = segments
            .iter()
            .map(|&(sigma, q, n)| (Mechanism { q, sigma, dir }, n))
            .collect();
        let widest = mechanisms
            .iter()
            .map(|(m, _)| {
                let (lo, hi) = m.grid_range();
                (hi - lo) / h
            })
            .fold(0.0, f64::max);
        if widest > MAX_POINTS as f64 {
            h *= (widest / MAX_POINTS as f64).ceil();
            continue;
        }
        let steps: Vec<(Pmf, u64, (i64, i64))> = mechanisms
            .iter()
            .map(|(m, n)| {
                let pmf = Pmf::connect_the_dots(m, h);
                let bounds = pmf.sum_bounds(*n);
                (pmf, *n, bounds)
            })
            .collect();
        let points: i64 = steps.iter().map(|(_, _, (lo, hi))| hi - lo + 1).sum();
        if points as usize > MAX_POINTS {
            h *= (points as f64 / MAX_POINTS as f64).ceil();
            continue;
        }
        return steps
            .into_iter()
            .map(|(pmf, n, bounds)| pmf.self_compose(n, bounds))
            .reduce(|a, b| a.compose(&b));
    }
}

/// `z^n` by repeated squaring (more accurate than the polar form for large n).
fn cpow(mut z: Complex64, mut n: u64) -> Complex64 {
    let mut acc = Complex64::new(1.0, 0.0);
    while n > 0 {
        if n & 1 == 1 {
            acc *= z;
        }
        z *= z;
        n >>= 1;
    }
    acc
}

/// Tracks the steps taken, like [`super::RdpAccountant`], and reports ε from their PLD.
#[derive(Debug, Clone)]
pub struct PldAccountant {
    history: Steps,
    interval: f64,
}

impl Default for PldAccountant {
    fn default() -> Self {
        PldAccountant {
            history: Steps::default(),
            interval: DEFAULT_INTERVAL,
        }
    }
}

impl PldAccountant {
    pub fn step(&mut self, noise_multiplier: f64, sampling_rate: f64) {
        self.history.push(noise_multiplier, sampling_rate);
    }

    pub fn steps(&self) -> u64 {
        self.history.total()
    }

    /// ε at `delta` (0 before any step, or when nothing was sampled; ∞ without noise).
    pub fn epsilon(&self, delta: f64) -> f64 {
        let mut segments: Vec<(f64, f64, u64)> = vec![];
        for &(s, q, n) in self.history.runs() {
            match segments.iter_mut().find(|(s2, q2, _)| *s2 == s && *q2 == q) {
                Some(seg) => seg.2 += n,
                None => segments.push((s, q, n)),
            }
        }
        // Out-of-range inputs (and σ = 0, no noise) spend ∞, never a small number.
        if segments
            .iter()
            .any(|&(s, q, _)| s.is_nan() || s <= 0.0 || !(0.0..=1.0).contains(&q))
        {
            return if segments.iter().all(|&(_, q, n)| q == 0.0 || n == 0) {
                0.0
            } else {
                f64::INFINITY
            };
        }
        segments.retain(|&(s, q, n)| q > 0.0 && n > 0 && s.is_finite());
        if segments.is_empty() {
            return 0.0;
        }
        [Direction::Remove, Direction::Add]
            .into_iter()
            .map(|dir| {
                composed(&segments, dir, self.interval).map_or(f64::INFINITY, |p| p.epsilon(delta))
            })
            .fold(0.0, f64::max)
    }
}

/// ε after `steps` steps at sampling rate `q` and noise multiplier `sigma`, by PLD.
pub fn epsilon(q: f64, sigma: f64, steps: u64, delta: f64) -> f64 {
    PldAccountant {
        history: Steps::of(sigma, q, steps),
        ..Default::default()
    }
    .epsilon(delta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_step_pmf_is_a_distribution_and_bounds_the_exact_curve() {
        for dir in [Direction::Remove, Direction::Add] {
            let m = Mechanism {
                q: 0.05,
                sigma: 0.8,
                dir,
            };
            let pmf = Pmf::connect_the_dots(&m, 1e-3);
            let total: f64 = pmf.probs.iter().sum::<f64>() + pmf.infinity;
            assert!((total - 1.0).abs() < 1e-9, "{dir:?}: mass {total}");
            // The discretised δ(ε) is never below the exact one (pessimistic) and close to it.
            for eps in [0.05, 0.1, 0.3, 0.7, 1.5] {
                let exact = m.delta(eps);
                let (mut d, h) = (pmf.infinity, pmf.h);
                for (i, &p) in pmf.probs.iter().enumerate() {
                    let l = (pmf.offset + i as i64) as f64 * h;
                    if l > eps {
                        d += p * (1.0 - (eps - l).exp());
                    }
                }
                assert!(d >= exact - 1e-12, "{dir:?} ε {eps}: {d} < {exact}");
                assert!(
                    d - exact < 1e-4 * exact.max(1e-9),
                    "{dir:?} ε {eps}: {d} vs {exact}"
                );
            }
        }
    }

    #[test]
    fn composition_matches_the_gaussian_closed_form() {
        // q = 1: T steps of N(0,σ²) vs N(1,σ²) are one Gaussian mechanism with σ/√T, whose
        // δ(ε) = Φ(−εσ' + 1/(2σ')) − e^ε Φ(−εσ' − 1/(2σ')) (Balle & Wang 2018).
        let (sigma, t, delta) = (4.0, 16u64, 1e-5);
        let s = sigma / (t as f64).sqrt();
        let exact_delta =
            |e: f64| norm_cdf(-e * s + 0.5 / s) - e.exp() * norm_cdf(-e * s - 0.5 / s);
        let (mut lo, mut hi) = (0.0, 50.0);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if exact_delta(mid) > delta {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let got = epsilon(1.0, sigma, t, delta);
        assert!(got >= hi - 1e-9 && got < hi * 1.001, "{got} vs exact {hi}");
    }

    #[test]
    fn sanity_and_edges() {
        let e = epsilon(0.01, 1.0, 1000, 1e-5);
        assert!(e.is_finite() && e > 0.0);
        assert!(epsilon(0.01, 2.0, 1000, 1e-5) < e && e < epsilon(0.01, 1.0, 2000, 1e-5));
        // PLD is tighter than RDP for the same mechanism.
        assert!(e < super::super::accountant::epsilon(0.01, 1.0, 1000, 1e-5));
        assert_eq!(PldAccountant::default().epsilon(1e-5), 0.0);
        assert_eq!(epsilon(0.0, 1.0, 10, 1e-5), 0.0);
        assert_eq!(epsilon(0.1, 0.0, 10, 1e-5), f64::INFINITY);
        // Segments of the same (σ, q) are merged wherever they fall in the history; two
        // different segments compose to more than either alone.
        let mut a = PldAccountant::default();
        let mut b = PldAccountant::default();
        for i in 0..310 {
            a.step(if i < 300 { 1.1 } else { 2.0 }, 0.02);
            b.step(if (150..160).contains(&i) { 2.0 } else { 1.1 }, 0.02);
        }
        let (ea, eb) = (a.epsilon(1e-5), b.epsilon(1e-5));
        assert!((ea - eb).abs() < 1e-12, "{ea} vs {eb}");
        assert!(ea > epsilon(0.02, 1.1, 300, 1e-5) && ea > epsilon(0.02, 2.0, 10, 1e-5));
        // Bad inputs spend ∞ at once (never a hang, never a small ε).
        for s in [-1.0, f64::NAN] {
            assert_eq!(epsilon(0.1, s, 10, 1e-5), f64::INFINITY, "σ {s}");
            assert_eq!(
                super::super::accountant::epsilon(0.1, s, 10, 1e-5),
                f64::INFINITY
            );
        }
        assert_eq!(epsilon(1.5, 1.0, 10, 1e-5), f64::INFINITY);
        assert_eq!(epsilon(0.1, f64::INFINITY, 10, 1e-5), 0.0);
        assert!(
            super::super::accountant::search_sigma(f64::NAN, 0.01, |_| 1.0, &|| false)
                .found()
                .is_none()
        );
        assert!(
            super::super::accountant::search_sigma(1.0, 0.01, |_| f64::NAN, &|| false)
                .found()
                .is_none()
        );
    }

    #[test]
    fn almost_no_noise_or_absurdly_many_steps_spend_infinity() {
        // σ → 0: a sampled record's output reveals it; P(sampled in 10 steps) ≫ δ, so ε = ∞.
        // (A coarse grid once stepped past e^700 here and silently reported 0.1 or 0.)
        for (q, sigma) in [(0.01, 1e-5), (1.0, 1e-5), (1.0, 1.2e-4)] {
            let e = epsilon(q, sigma, 10, 1e-5);
            assert_eq!(e, f64::INFINITY, "q {q} σ {sigma}: {e}");
        }
        // No grid up to 1 nat resolves 10¹² steps at σ = 1: ∞, not 0.
        assert_eq!(epsilon(1.0, 1.0, 1_000_000_000_000, 1e-5), f64::INFINITY);
        assert_eq!(PldAccountant::default().epsilon(f64::NAN), 0.0);
        let mut a = PldAccountant::default();
        a.step(1.0, 0.1);
        assert_eq!(a.epsilon(f64::NAN), f64::INFINITY);
    }
}

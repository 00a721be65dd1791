//! The unit a private run protects: one record (the default) or one user, every record of a
//! person together. With users, each step samples users (Poisson at q = expected users per
//! step / users), a sampled user's contribution is the mean gradient of up to
//! `max_records_per_user` of their records (drawn afresh each step), clipped as a whole to C:
//! removing a user changes the noised sum by at most C, so the accountants' ε is per user.
//!
//! A record-level run on data where users have several records states, beside its record ε,
//! what it promises the user with the most records (k of them): each of their records is
//! sampled independently with q and moves the sum by at most C, so per step their records move
//! it by at most k·C with probability 1 − (1 − q)^k. That is the subsampled Gaussian at that
//! rate with noise multiplier σ/k, which dominates every mixture of "some of the k sampled"
//! (hockey-stick and Rényi divergences are jointly convex), so its ε at the run's δ bounds the
//! user's. The textbook conversion (k·ε at δ·k·e^{(k−1)ε}) is stated beside it: a smaller ε,
//! but at a δ that grows as e^{(k−1)ε} and soon promises nothing.

use super::Accountant;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    #[default]
    Record,
    User,
}

impl Unit {
    pub fn name(self) -> &'static str {
        match self {
            Unit::Record => "record",
            Unit::User => "user",
        }
    }
}

/// What a private run's ε is about, as `run.json` states it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrivacyUnit {
    pub unit: Unit,
    /// Users in the training data as the run saw them (a record without `user` is its own);
    /// withheld (absent) when `dp.dataset_size` makes the counts private.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<u64>,
    /// User-level: the most records of one user a step uses (absent: all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_records_per_user: Option<u64>,
    /// Record-level on data with named users: the most records any user has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub largest_user_records: Option<u64>,
    /// Record-level on data with named users: ε for the user with the most records, at the
    /// run's δ (see the module's comment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_epsilon_bound: Option<f64>,
    /// The textbook group-privacy conversion for that user: k·ε at δ·k·e^{(k−1)ε} (a δ of 1
    /// or more promises nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_epsilon: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_delta: Option<f64>,
}

/// k·ε and δ·k·e^{(k−1)ε}: what a record-level (ε, δ) promises a group of k records.
pub fn group_conversion(epsilon: f64, delta: f64, k: u64) -> (f64, f64) {
    let k = k as f64;
    (k * epsilon, delta * k * ((k - 1.0) * epsilon).exp())
}

/// ε at `delta` for a group of `k` records of a record-level run (q, σ, `steps`): the
/// subsampled Gaussian at rate 1 − (1 − q)^k with noise multiplier σ/k. Both accountants
/// bound the same curve; the smaller is kept (RDP alone where PLD's grid would need too fine a
/// discretisation at σ/k below 0.2).
pub fn group_epsilon(
    accountant: Accountant,
    q: f64,
    sigma: f64,
    steps: u64,
    delta: f64,
    k: u64,
) -> f64 {
    if k <= 1 {
        return accountant.epsilon(q, sigma, steps, delta);
    }
    let rate = 1.0 - (1.0 - q).powi(k.min(i32::MAX as u64) as i32);
    let s = sigma / k as f64;
    let rdp = Accountant::Rdp.epsilon(rate, s, steps, delta);
    if accountant == Accountant::Pld && s >= 0.2 {
        rdp.min(Accountant::Pld.epsilon(rate, s, steps, delta))
    } else {
        rdp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_of_one_is_a_record_and_groups_cost_more() {
        let (q, s, t, d) = (0.05, 1.0, 200, 1e-5);
        let one = group_epsilon(Accountant::Pld, q, s, t, d, 1);
        assert_eq!(one, Accountant::Pld.epsilon(q, s, t, d));
        let mut prev = one;
        for k in [2, 4, 8] {
            let e = group_epsilon(Accountant::Pld, q, s, t, d, k);
            assert!(e > prev, "k {k}: {e} ≤ {prev}");
            prev = e;
        }
        // Never worse than what the mechanism with k·C sensitivity at full rate k·q would give.
        let k8 = group_epsilon(Accountant::Rdp, q, s, t, d, 8);
        assert!(k8 <= Accountant::Rdp.epsilon((8.0 * q).min(1.0), s / 8.0, t, d) * 1.0001);
    }
}

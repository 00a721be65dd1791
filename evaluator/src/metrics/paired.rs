//! Paired comparisons of two evaluations of the same data: the difference of every
//! record-level statistic ([`records::NAMES`]) with a paired bootstrap interval. Records are
//! resampled once per replicate and both evaluations are read at the same resample, so what
//! the two share (which records happened to be drawn, how hard their secrets are) cancels
//! and only how the two models differ on each record is left.
//!
//! Records pair when their split, id and digest (the tokens scored) agree. Records only one
//! side has (a different non-member draw, say) are resampled on their own side, so a partly
//! paired comparison is still sound; with nothing shared it is an ordinary two-sample
//! bootstrap.

use super::interval::{percentile_ci, Ci, REPLICATES, SEED};
use super::records::{stats, RecordStat, NAMES};
use std::collections::HashMap;
use triad_data::rng::Rng;

/// One evaluation's records: members (train) and non-members (test).
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    pub train: &'a [RecordStat],
    pub test: &'a [RecordStat],
}

/// The difference `a − b` of one statistic.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub name: &'static str,
    pub a: f64,
    pub b: f64,
    pub diff: f64,
    /// Paired percentile bootstrap (records resampled once, both sides read at it).
    pub ci95: Ci,
    /// Each side resampled on its own, as the two marginal intervals treat them: what the
    /// difference would look like without pairing.
    pub unpaired_ci95: Ci,
}

/// Whether a 95% interval of a difference excludes 0 (the two differ at 95%); `None` where
/// there is no interval.
pub fn distinguishable(ci: Ci) -> Option<bool> {
    ci.map(|[lo, hi]| lo > 0.0 || hi < 0.0)
}

/// Members and non-members of a `RecordStats` message, as the bootstrap reads them.
pub fn sides_of(r: &triad_proto::v1::RecordStats) -> (Vec<RecordStat>, Vec<RecordStat>) {
    let conv = |v: &[triad_proto::v1::RecordStat]| v.iter().map(RecordStat::from).collect();
    (conv(&r.train), conv(&r.test))
}

/// How the records of one split matched up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pairing {
    pub paired: usize,
    pub only_a: usize,
    pub only_b: usize,
}

#[derive(Debug, Clone)]
pub struct Comparison {
    pub train: Pairing,
    pub test: Pairing,
    pub differences: Vec<Difference>,
}

impl Comparison {
    pub fn get(&self, name: &str) -> Option<&Difference> {
        self.differences.iter().find(|d| d.name == name)
    }
}

/// The records of one split split into pairs and each side's own.
struct Matched<'a> {
    pairs: Vec<(&'a RecordStat, &'a RecordStat)>,
    only_a: Vec<&'a RecordStat>,
    only_b: Vec<&'a RecordStat>,
}

/// Pair by (id, digest, occurrence): a repeated id pairs its first copy with the other side's
/// first, and so on.
fn pair<'a>(a: &'a [RecordStat], b: &'a [RecordStat]) -> Matched<'a> {
    let keys = |rs: &'a [RecordStat]| {
        let mut seen: HashMap<(&str, u64), usize> = HashMap::new();
        rs.iter()
            .map(|r| {
                let n = seen.entry((r.id.as_str(), r.digest)).or_insert(0);
                *n += 1;
                (r.id.as_str(), r.digest, *n)
            })
            .collect::<Vec<_>>()
    };
    let (ka, kb) = (keys(a), keys(b));
    let mut in_b: HashMap<(&str, u64, usize), usize> =
        kb.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let (mut pairs, mut only_a) = (vec![], vec![]);
    for (r, k) in a.iter().zip(&ka) {
        match in_b.remove(k) {
            Some(j) => pairs.push((r, &b[j])),
            None => only_a.push(r),
        }
    }
    // What b has left, in b's order (the bootstrap's draws must not depend on a hash order).
    let mut left: Vec<usize> = in_b.into_values().collect();
    left.sort_unstable();
    Matched {
        pairs,
        only_a,
        only_b: left.into_iter().map(|j| &b[j]).collect(),
    }
}

/// One resample of a split: the same draws of the pairs for both sides, each side's own
/// records drawn on their own.
fn resample<'a>(
    m: &Matched<'a>,
    rng: &mut Rng,
    a: &mut Vec<&'a RecordStat>,
    b: &mut Vec<&'a RecordStat>,
) {
    a.clear();
    b.clear();
    for _ in 0..m.pairs.len() {
        let (x, y) = m.pairs[rng.below(m.pairs.len())];
        a.push(x);
        b.push(y);
    }
    for _ in 0..m.only_a.len() {
        a.push(m.only_a[rng.below(m.only_a.len())]);
    }
    for _ in 0..m.only_b.len() {
        b.push(m.only_b[rng.below(m.only_b.len())]);
    }
}

/// Each side resampled alone (the unpaired reference).
fn resample_alone<'a>(rs: &'a [RecordStat], rng: &mut Rng, out: &mut Vec<&'a RecordStat>) {
    out.clear();
    out.extend((0..rs.len()).map(|_| &rs[rng.below(rs.len())]));
}

fn all(rs: &[RecordStat]) -> Vec<&RecordStat> {
    rs.iter().collect()
}

/// `a − b` for every statistic, with paired and unpaired 95% bootstrap intervals.
pub fn compare(a: Side, b: Side) -> Comparison {
    let (train, test) = (pair(a.train, b.train), pair(a.test, b.test));
    let pa = stats(&all(a.train), &all(a.test));
    let pb = stats(&all(b.train), &all(b.test));
    let mut paired: Vec<Vec<f64>> = vec![Vec::with_capacity(REPLICATES); NAMES.len()];
    let mut unpaired = paired.clone();
    let mut rng = Rng::new(SEED).fork("paired");
    let mut alone = Rng::new(SEED).fork("unpaired");
    let (mut atr, mut ate, mut btr, mut bte) = (vec![], vec![], vec![], vec![]);
    for _ in 0..REPLICATES {
        resample(&train, &mut rng, &mut atr, &mut btr);
        resample(&test, &mut rng, &mut ate, &mut bte);
        let d = stats(&atr, &ate).into_iter().zip(stats(&btr, &bte));
        for (col, (x, y)) in paired.iter_mut().zip(d) {
            col.push(x - y);
        }
        resample_alone(a.train, &mut alone, &mut atr);
        resample_alone(a.test, &mut alone, &mut ate);
        resample_alone(b.train, &mut alone, &mut btr);
        resample_alone(b.test, &mut alone, &mut bte);
        let d = stats(&atr, &ate).into_iter().zip(stats(&btr, &bte));
        for (col, (x, y)) in unpaired.iter_mut().zip(d) {
            col.push(x - y);
        }
    }
    let count = |m: &Matched| Pairing {
        paired: m.pairs.len(),
        only_a: m.only_a.len(),
        only_b: m.only_b.len(),
    };
    let differences = NAMES
        .iter()
        .enumerate()
        .map(|(i, &name)| Difference {
            name,
            a: pa[i],
            b: pb[i],
            diff: pa[i] - pb[i],
            ci95: percentile_ci(&mut paired[i], REPLICATES),
            unpaired_ci95: percentile_ci(&mut unpaired[i], REPLICATES),
        })
        .collect();
    Comparison {
        train: count(&train),
        test: count(&test),
        differences,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: usize, nll: f64, base: f64) -> RecordStat {
        let mut r = RecordStat {
            id: format!("r{id}"),
            digest: id as u64,
            ..RecordStat::default()
        };
        r.sensitive.add(nll, base);
        r.non_sensitive.add(nll, base);
        r.attack = [base - nll; 6];
        r
    }

    fn side(n: usize, f: impl Fn(usize) -> (f64, f64)) -> Vec<RecordStat> {
        (0..n)
            .map(|i| {
                let (x, y) = f(i);
                rec(i, x, y)
            })
            .collect()
    }

    #[test]
    fn a_side_compared_with_itself_differs_by_exactly_zero() {
        let tr = side(40, |i| (1.0 + (i % 7) as f64, 2.0 + (i % 5) as f64));
        let te = side(40, |i| (2.0 + (i % 3) as f64, 2.5));
        let s = Side {
            train: &tr,
            test: &te,
        };
        let c = compare(s, s);
        assert_eq!(c.train.paired, 40);
        for d in &c.differences {
            if d.a.is_nan() {
                continue;
            }
            assert_eq!(d.diff, 0.0, "{}", d.name);
            assert_eq!(d.ci95, Some([0.0, 0.0]), "{}", d.name);
        }
    }

    #[test]
    fn a_shift_every_record_shares_is_resolved_by_pairing_alone() {
        // Records' gains vary a lot between themselves; b gains 0.1 nats less on every one.
        let base = |i: usize| 3.0 + ((i * 7919) % 13) as f64;
        let gain = |i: usize| ((i * 104_729) % 11) as f64 / 5.0;
        let a_tr = side(50, |i| (base(i) - gain(i), base(i)));
        let b_tr = side(50, |i| (base(i) - gain(i) + 0.1, base(i)));
        let te = side(50, |i| (base(i), base(i)));
        let c = compare(
            Side {
                train: &a_tr,
                test: &te,
            },
            Side {
                train: &b_tr,
                test: &te,
            },
        );
        let d = c.get("privacy_loss").unwrap();
        assert!((d.diff - 0.1).abs() < 1e-9);
        let [lo, hi] = d.ci95.unwrap();
        assert!(lo > 0.0 && hi < 0.2, "paired {lo}..{hi}");
        let [ulo, uhi] = d.unpaired_ci95.unwrap();
        // Pairing removes the records' own spread: an interval several times narrower.
        assert!(uhi - ulo > 3.0 * (hi - lo), "unpaired {ulo}..{uhi}");
        assert!(ulo < 0.0, "unpaired cannot tell them apart: {ulo}");
    }

    #[test]
    fn records_only_one_side_has_are_resampled_on_their_side() {
        let tr = side(30, |i| (1.0 + (i % 4) as f64, 2.0));
        let te_a = side(30, |i| (2.0 + (i % 3) as f64, 2.0));
        // A different non-member draw: ids 100.. that a does not have.
        let te_b: Vec<RecordStat> = (100..130)
            .map(|i| rec(i, 2.0 + (i % 3) as f64, 2.0))
            .collect();
        let c = compare(
            Side {
                train: &tr,
                test: &te_a,
            },
            Side {
                train: &tr,
                test: &te_b,
            },
        );
        assert_eq!(c.train.paired, 30);
        assert_eq!(
            c.test,
            Pairing {
                paired: 0,
                only_a: 30,
                only_b: 30
            }
        );
        let d = c.get("utility_nll").unwrap();
        let [lo, hi] = d.ci95.unwrap();
        assert!(
            lo < d.diff && d.diff < hi && lo < 0.0 && hi > 0.0,
            "{lo}..{hi}"
        );
        // Train is shared and identical: its statistics do not move.
        assert_eq!(c.get("privacy_loss").unwrap().ci95, Some([0.0, 0.0]));
    }
}

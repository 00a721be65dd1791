//! Per-record summaries, and the bootstrap intervals of every record-level estimate: privacy
//! loss, utility and its gain, memorisation gap (raw and base-corrected), each attack's AUC and
//! TPRs, extraction rates. Train and test records are resampled each on their own.

use super::interval::{bootstrap2, Ci};
use super::mia;

/// Token count and summed NLL under θ and θ0 over some tokens of a record.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sum {
    pub n: f64,
    pub nll: f64,
    pub base: f64,
}

impl Sum {
    pub fn add(&mut self, nll: f64, base: f64) {
        self.n += 1.0;
        self.nll += nll;
        self.base += base;
    }
}

/// The membership attacks, in the order of [`RecordStat::attack`].
pub const ATTACKS: [&str; 6] = [
    "loss",
    "reference",
    "min_k",
    "token_reference",
    "min_k_plus_plus",
    "zlib",
];

/// Everything the record-level estimates need from one record.
#[derive(Debug, Clone, Default)]
pub struct RecordStat {
    /// The record's id, and a digest of the tokens scored: two evaluations' records pair when
    /// both agree (the same record, scored over the same tokens).
    pub id: String,
    pub digest: u64,
    pub sensitive: Sum,
    pub non_sensitive: Sum,
    /// Secrets counted for extraction, and how many of them greedy decoding reproduces under θ
    /// and θ0.
    pub secrets: u32,
    pub extracted: u32,
    pub extracted_base: u32,
    /// Membership scores, one per [`ATTACKS`]; NaN when the record has no scored token.
    pub attack: [f64; 6],
}

/// The statistics, in this order.
pub const NAMES: [&str; 30] = [
    "privacy_loss",
    "utility_nll",
    "utility_gain",
    "memorisation_gap",
    "memorisation_gap_corrected",
    "auc_loss",
    "auc_reference",
    "auc_min_k",
    "auc_token_reference",
    "auc_min_k_plus_plus",
    "auc_zlib",
    "tpr1_loss",
    "tpr1_reference",
    "tpr1_min_k",
    "tpr1_token_reference",
    "tpr1_min_k_plus_plus",
    "tpr1_zlib",
    "tpr01_loss",
    "tpr01_reference",
    "tpr01_min_k",
    "tpr01_token_reference",
    "tpr01_min_k_plus_plus",
    "tpr01_zlib",
    "extraction_train",
    "extraction_test",
    "extraction_train_base",
    "extraction_test_base",
    "utility_nll_base",
    "memorisation_gap_base",
    "privacy_loss_general",
];

pub fn index(name: &str) -> usize {
    NAMES
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("no statistic {name}"))
}

/// A digest of a record's scored token ids (first 8 bytes of their SHA-256, little-endian ids).
pub fn digest(ids: &[u32]) -> u64 {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for id in ids {
        h.update(id.to_le_bytes());
    }
    u64::from_le_bytes(h.finalize()[..8].try_into().expect("8 bytes"))
}

fn total(rs: &[&RecordStat], f: impl Fn(&RecordStat) -> Sum) -> Sum {
    rs.iter().fold(Sum::default(), |mut a, r| {
        let s = f(r);
        a.n += s.n;
        a.nll += s.nll;
        a.base += s.base;
        a
    })
}

fn ratio(a: f64, n: f64) -> f64 {
    if n == 0.0 {
        f64::NAN
    } else {
        a / n
    }
}

/// TPR at `fpr`, or NaN where `fpr` is finer than one non-member can resolve.
fn tpr(members: &[f64], non: &[f64], fpr: f64) -> f64 {
    if mia::tpr_reportable(non.len(), fpr) {
        mia::tpr_at(members, non, fpr)
    } else {
        f64::NAN
    }
}

/// Attack `a`'s scores of the records that have one (records with no scored token have none).
pub fn attack_scores<'a>(rs: impl IntoIterator<Item = &'a RecordStat>, a: usize) -> Vec<f64> {
    rs.into_iter()
        .map(|r| r.attack[a])
        .filter(|x| !x.is_nan())
        .collect()
}

/// Every statistic of [`NAMES`] from train (member) and test (non-member) records.
pub fn stats(train: &[&RecordStat], test: &[&RecordStat]) -> Vec<f64> {
    let trs = total(train, |r| r.sensitive);
    let tes = total(test, |r| r.sensitive);
    let ten = total(test, |r| r.non_sensitive);
    let gap = ratio(tes.nll, tes.n) - ratio(trs.nll, trs.n);
    let gap_base = ratio(tes.base, tes.n) - ratio(trs.base, trs.n);
    let mut out = vec![
        ratio(trs.base - trs.nll, trs.n),
        ratio(ten.nll, ten.n),
        ratio(ten.base - ten.nll, ten.n),
        gap,
        gap - gap_base,
    ];
    let scores = |rs: &[&RecordStat], a: usize| attack_scores(rs.iter().copied(), a);
    let per_attack: Vec<(Vec<f64>, Vec<f64>)> = (0..ATTACKS.len())
        .map(|a| (scores(train, a), scores(test, a)))
        .collect();
    for (m, n) in &per_attack {
        out.push(if m.is_empty() || n.is_empty() {
            f64::NAN
        } else {
            mia::auc(m, n)
        });
    }
    for fpr in [0.01, 0.001] {
        for (m, n) in &per_attack {
            out.push(tpr(m, n, fpr));
        }
    }
    let rate = |rs: &[&RecordStat], base: bool| {
        let secrets: u32 = rs.iter().map(|r| r.secrets).sum();
        let hit: u32 = rs
            .iter()
            .map(|r| if base { r.extracted_base } else { r.extracted })
            .sum();
        ratio(hit as f64, secrets as f64)
    };
    out.extend([
        rate(train, false),
        rate(test, false),
        rate(train, true),
        rate(test, true),
        ratio(ten.base, ten.n),
        gap_base,
        // What fine-tuning taught about secrets in general: the gain on held-out secrets.
        ratio(tes.base - tes.nll, tes.n),
    ]);
    debug_assert_eq!(out.len(), NAMES.len());
    out
}

/// 95% bootstrap intervals of every statistic of [`NAMES`].
pub fn intervals(train: &[RecordStat], test: &[RecordStat]) -> Vec<Ci> {
    bootstrap2(train, test, NAMES.len(), "metrics", stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(nll: f64, base: f64, attack: f64) -> RecordStat {
        let mut r = RecordStat::default();
        r.sensitive.add(nll, base);
        r.non_sensitive.add(nll, base);
        r.attack = [attack; 6];
        r.secrets = 1;
        r.extracted = (nll < 1.0) as u32;
        r
    }

    #[test]
    fn statistics_follow_their_definitions() {
        let train: Vec<RecordStat> = vec![rec(0.5, 1.0, 2.0), rec(1.5, 2.0, 1.0)];
        let test: Vec<RecordStat> = vec![rec(2.0, 2.0, 0.0), rec(3.0, 2.5, 1.5)];
        let s = stats(
            &train.iter().collect::<Vec<_>>(),
            &test.iter().collect::<Vec<_>>(),
        );
        assert_eq!(s[index("privacy_loss")], 0.5);
        assert_eq!(s[index("utility_nll")], 2.5);
        assert_eq!(s[index("utility_gain")], -0.25);
        assert_eq!(s[index("memorisation_gap")], 1.5);
        // Base gap 2.25 − 1.5 = 0.75: half the raw gap is the data's own.
        assert_eq!(s[index("memorisation_gap_corrected")], 0.75);
        assert_eq!(s[index("auc_loss")], 0.75);
        // Two non-members resolve no FPR below 50%.
        assert!(s[index("tpr1_loss")].is_nan());
        assert_eq!(s[index("extraction_train")], 0.5);
        assert_eq!(s[index("extraction_test")], 0.0);
        // Test gain (2.25 − 2.5) = −0.25; general + memorised = privacy loss.
        assert_eq!(s[index("privacy_loss_general")], -0.25);
        assert_eq!(
            s[index("privacy_loss_general")] + s[index("memorisation_gap_corrected")],
            s[index("privacy_loss")]
        );
    }

    #[test]
    fn identical_models_give_a_zero_width_privacy_loss_interval() {
        let train: Vec<RecordStat> = (0..50).map(|i| rec(i as f64, i as f64, 0.0)).collect();
        let test = train.clone();
        let ci = intervals(&train, &test);
        assert_eq!(ci[index("privacy_loss")], Some([0.0, 0.0]));
        // Every score tied: the AUC is ½ in every replicate.
        assert_eq!(ci[index("auc_loss")], Some([0.5, 0.5]));
    }
}

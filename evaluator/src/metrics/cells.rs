//! {train, test} × {sensitive, non-sensitive} cells, privacy loss, utility, memorisation gap,
//! and the same per label.

use super::interval::Ci;
use crate::scoring::Tokenised;
use serde::Serialize;
use std::collections::BTreeMap;

/// Token count and mean NLL under the checkpoint and the base.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Cell {
    pub tokens: u64,
    pub nll: f64,
    pub nll_base: f64,
}

#[derive(Default)]
struct Acc {
    n: u64,
    sum: f64,
    sum_base: f64,
}

impl Acc {
    fn add(&mut self, l: f64, l0: f64) {
        self.n += 1;
        self.sum += l;
        self.sum_base += l0;
    }
    fn cell(&self) -> Cell {
        let n = self.n.max(1) as f64;
        if self.n == 0 {
            return Cell {
                tokens: 0,
                nll: f64::NAN,
                nll_base: f64::NAN,
            };
        }
        Cell {
            tokens: self.n,
            nll: self.sum / n,
            nll_base: self.sum_base / n,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Split {
    pub sensitive: Cell,
    pub non_sensitive: Cell,
}

#[derive(Debug, Clone, Serialize)]
pub struct Utility {
    /// Mean NLL of the checkpoint on non-sensitive test tokens.
    pub nll: f64,
    pub perplexity: f64,
    pub nll_base: f64,
    pub perplexity_base: f64,
    /// `nll_base − nll`: how much fine-tuning improved prediction of unseen ordinary text.
    pub gain: f64,
    pub nll_ci95: Ci,
    pub gain_ci95: Ci,
}

#[derive(Debug, Clone, Serialize)]
pub struct LabelMetrics {
    pub train: Cell,
    pub test: Cell,
    pub privacy_loss: f64,
    pub memorisation_gap: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cells {
    pub train: Split,
    pub test: Split,
    /// Mean over sensitive training tokens of `ℓ_θ0 − ℓ_θ`.
    pub privacy_loss: f64,
    pub privacy_loss_ci95: Ci,
    pub utility: Utility,
    /// Mean `ℓ_θ` on sensitive test tokens minus on sensitive train tokens.
    pub memorisation_gap: f64,
    pub memorisation_gap_ci95: Ci,
    /// The same gap under the base model: how much harder the test split's secrets are anyway.
    pub memorisation_gap_base: f64,
    /// `memorisation_gap − memorisation_gap_base`: the part of the gap fine-tuning made.
    pub memorisation_gap_corrected: f64,
    pub memorisation_gap_corrected_ci95: Ci,
    pub per_label: BTreeMap<String, LabelMetrics>,
    /// Mean over sensitive **test** tokens of `ℓ_θ0 − ℓ_θ`: what fine-tuning taught about
    /// secrets in general. `privacy_loss = privacy_loss_general + memorisation_gap_corrected`.
    pub privacy_loss_general: f64,
    pub privacy_loss_general_ci95: Ci,
}

/// `nll[r][i]` and `nll_base[r][i]` for each split's tokenised records.
pub fn compute(
    train: (&[Tokenised], &[Vec<f64>], &[Vec<f64>]),
    test: (&[Tokenised], &[Vec<f64>], &[Vec<f64>]),
) -> Cells {
    let mut split_acc = [
        [Acc::default(), Acc::default()],
        [Acc::default(), Acc::default()],
    ];
    let mut label_acc: BTreeMap<String, [Acc; 2]> = BTreeMap::new();
    for (s, (data, nll, base)) in [train, test].into_iter().enumerate() {
        for ((t, l), l0) in data.iter().zip(nll).zip(base) {
            for ((label, &x), &x0) in t.labels.iter().zip(l).zip(l0) {
                let sensitive = label.is_some();
                split_acc[s][if sensitive { 0 } else { 1 }].add(x, x0);
                if let Some(label) = label {
                    label_acc.entry(label.clone()).or_default()[s].add(x, x0);
                }
            }
        }
    }
    let split = |s: usize| Split {
        sensitive: split_acc[s][0].cell(),
        non_sensitive: split_acc[s][1].cell(),
    };
    let (tr, te) = (split(0), split(1));
    let u = te.non_sensitive;
    let gap = te.sensitive.nll - tr.sensitive.nll;
    let gap_base = te.sensitive.nll_base - tr.sensitive.nll_base;
    Cells {
        privacy_loss: tr.sensitive.nll_base - tr.sensitive.nll,
        privacy_loss_ci95: None,
        utility: Utility {
            nll: u.nll,
            perplexity: u.nll.exp(),
            nll_base: u.nll_base,
            perplexity_base: u.nll_base.exp(),
            gain: u.nll_base - u.nll,
            nll_ci95: None,
            gain_ci95: None,
        },
        memorisation_gap: gap,
        memorisation_gap_ci95: None,
        memorisation_gap_base: gap_base,
        memorisation_gap_corrected: gap - gap_base,
        memorisation_gap_corrected_ci95: None,
        per_label: label_acc
            .into_iter()
            .map(|(label, [a, b])| {
                let (train, test) = (a.cell(), b.cell());
                let m = LabelMetrics {
                    train,
                    test,
                    privacy_loss: train.nll_base - train.nll,
                    memorisation_gap: test.nll - train.nll,
                };
                (label, m)
            })
            .collect(),
        privacy_loss_general: te.sensitive.nll_base - te.sensitive.nll,
        privacy_loss_general_ci95: None,
        train: tr,
        test: te,
    }
}

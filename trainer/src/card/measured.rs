//! What a study measured of a checkpoint, as the card states it: exact numbers in the front
//! matter (`triad.measured`, the front matter's last key), a table in the body between two
//! markers, so a study can splice a new evaluation into a card the trainer wrote.

use super::words::{interval_words, short};
use super::yaml::{self, Block};

/// The measured part of the body lies between these (HTML comments: the Hub shows nothing).
const MEASURED_OPEN: &str = "<!-- triad:measured -->";
const MEASURED_CLOSE: &str = "<!-- end of triad:measured -->";
/// The measured part of the front matter: `triad:`'s last key, up to the closing `---`.
const MEASURED_KEY: &str = "\n  measured:";

/// A measured value and its 95% interval, as METRICS.json has them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    pub value: f64,
    pub ci95: Option<[f64; 2]>,
}

impl Metric {
    /// From METRICS.json's form: the interval is `[lo, hi]`, or empty where there is none.
    pub fn new(value: f64, ci95: &[f64]) -> Metric {
        Metric {
            value,
            ci95: match ci95 {
                [lo, hi] => Some([*lo, *hi]),
                _ => None,
            },
        }
    }
}

/// The one-run audit's outcome: ε shown not to hold, at `confidence`, at `delta`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AuditBound {
    pub epsilon_lower_bound: f64,
    pub confidence: f64,
    pub delta: f64,
}

/// What a study's evaluation measured of the checkpoint (docs/evaluator.md defines each).
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// Base NLL minus checkpoint NLL over the sensitive tokens of the training records (nats).
    pub privacy_loss: Metric,
    /// Mean canary exposure (bits), where the data has canaries.
    pub exposure: Option<Metric>,
    /// Membership-inference AUC of the reference-calibrated attack (0.5 on the base).
    pub auc_reference: Option<Metric>,
    /// Membership-inference AUC of the LOSS attack.
    pub auc_loss: Option<Metric>,
    /// The test split's NLL under the checkpoint (nats per token).
    pub utility_nll: Option<Metric>,
    /// Where the study planted audit canaries.
    pub audit: Option<AuditBound>,
}

/// `card` with its measured parts replaced: the front matter from `  measured:` to the closing
/// `---`, and the body between the markers.
pub(super) fn splice(card: &str, m: &Measured) -> Option<String> {
    let fm_end = card.strip_prefix("---\n")?.find("\n---\n")? + 4;
    let key = card[..fm_end].rfind(MEASURED_KEY)?;
    let open = card[fm_end..].find(MEASURED_OPEN)? + fm_end;
    let close = card[open..].find(MEASURED_CLOSE)? + open;
    Some(format!(
        "{}{}{}{}{}",
        &card[..=key],
        measured_yaml(Some(m)),
        &card[fm_end + 1..open],
        measured_body(Some(m)),
        &card[close + MEASURED_CLOSE.len()..]
    ))
}

pub(super) fn measured_yaml(m: Option<&Measured>) -> String {
    let mut out = String::new();
    let mut t = Block {
        out: &mut out,
        indent: 2,
    };
    let Some(m) = m else {
        t.line("measured", "null");
        return out;
    };
    let mut b = t.open("measured");
    metric_yaml(&mut b, "privacy_loss", Some(&m.privacy_loss));
    metric_yaml(&mut b, "canary_exposure", m.exposure.as_ref());
    if m.auc_reference.is_some() || m.auc_loss.is_some() {
        let mut a = b.open("membership_auc");
        metric_yaml(&mut a, "reference", m.auc_reference.as_ref());
        metric_yaml(&mut a, "loss", m.auc_loss.as_ref());
    }
    metric_yaml(&mut b, "utility_nll", m.utility_nll.as_ref());
    if let Some(a) = &m.audit {
        let mut ab = b.open("audit");
        ab.line("epsilon_lower_bound", yaml::float(a.epsilon_lower_bound));
        ab.line("confidence", yaml::float(a.confidence));
        ab.line("delta", yaml::float(a.delta));
    }
    out
}

fn metric_yaml(b: &mut Block, key: &str, m: Option<&Metric>) {
    if let Some(m) = m {
        let mut mb = b.open(key);
        mb.line("value", yaml::float(m.value));
        mb.line("ci95", yaml::interval(m.ci95));
    }
}

pub(super) fn measured_body(m: Option<&Measured>) -> String {
    let Some(m) = m else {
        return format!("{MEASURED_OPEN}\nNot evaluated yet.\n{MEASURED_CLOSE}");
    };
    let mut rows = vec![(
        "Privacy loss (nats per sensitive training token: base NLL − checkpoint NLL)",
        Some(m.privacy_loss),
    )];
    rows.push(("Canary exposure (bits, mean over canaries)", m.exposure));
    rows.push((
        "Membership-inference AUC, reference attack (0.5: chance)",
        m.auc_reference,
    ));
    rows.push(("Membership-inference AUC, LOSS attack", m.auc_loss));
    rows.push(("Utility: test NLL (nats per token)", m.utility_nll));
    let mut s = format!(
        "{MEASURED_OPEN}\nMeasured by Triad's evaluator against the base model. 95% \
         intervals: a percentile bootstrap over records (over canaries for exposure).\n\n\
         | measure | value | 95% interval |\n|---|---|---|\n"
    );
    for (what, metric) in rows {
        if let Some(x) = metric {
            s.push_str(&format!(
                "| {what} | {} | {} |\n",
                short(x.value),
                interval_words(x.ci95)
            ));
        }
    }
    if let Some(a) = &m.audit {
        s.push_str(&format!(
            "| One-run audit: ε lower bound (at {}% confidence, δ = {:e}) | {} | – |\n",
            (a.confidence * 1000.0).round() / 10.0,
            a.delta,
            short(a.epsilon_lower_bound)
        ));
    }
    s.push_str(
        "\nThese measurements are computed on the training records themselves, without noise: \
         no formal guarantee covers them, this checkpoint's ε included.\n",
    );
    s.push_str(MEASURED_CLOSE);
    s
}

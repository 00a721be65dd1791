//! "What this study shows": sentences generated from the numbers, each tied to an interval.
//! Runs of one model are evaluated on the same records, so each pair (and each run against
//! the base) is compared record by record (`triad_evaluator::metrics::paired`); a difference
//! whose paired 95% interval holds 0 is said to be "not distinguishable at this size".
//! Nothing here is hand-written about a particular study.

use super::{Report, Row};
use triad_evaluator::metrics::paired::{self, Comparison, Side};

/// A measure compared between runs: its statistic, how the report names it, and what a
/// positive difference A − B says about A.
pub struct Measure {
    pub key: &'static str,
    pub label: &'static str,
    pub unit: &'static str,
    pub more: &'static str,
    /// What a negative difference says about A.
    pub less: &'static str,
}

/// The headline measures, in the order the sentences give them.
pub const MEASURES: [Measure; 5] = [
    Measure {
        key: "privacy_loss",
        label: "privacy loss",
        unit: " nats",
        more: "made the secrets it saw likelier",
        less: "made the secrets it saw less likely",
    },
    Measure {
        key: "privacy_loss_general",
        label: "learnt about secrets in general",
        unit: " nats",
        more: "learns more about the secrets' form",
        less: "learns less about the secrets' form",
    },
    Measure {
        key: "memorisation_gap_corrected",
        label: "memorised beyond that",
        unit: " nats",
        more: "memorises more of these very secrets",
        less: "memorises less of these very secrets",
    },
    Measure {
        key: "utility_nll",
        label: "utility NLL",
        unit: " nats",
        more: "predicts held-out text worse",
        less: "predicts held-out text better",
    },
    Measure {
        key: "extraction_train",
        label: "extraction rate",
        unit: "",
        more: "reproduces more of its secrets greedily",
        less: "reproduces fewer of its secrets greedily",
    },
];

/// The membership attacks: statistic suffix, report name, and the Row's AUC.
pub const ATTACKS: [(&str, &str); 6] = [
    ("loss", "LOSS"),
    ("reference", "reference"),
    ("min_k", "Min-K%"),
    ("token_reference", "token-reference"),
    ("min_k_plus_plus", "Min-K%++"),
    ("zlib", "zlib"),
];

pub fn auc_of(x: &Row, attack: &str) -> (f64, super::Ci) {
    match attack {
        "loss" => (x.auc_loss, x.auc_loss_ci),
        "reference" => (x.auc_reference, x.auc_reference_ci),
        "min_k" => (x.auc_min_k, x.auc_min_k_ci),
        "token_reference" => (x.auc_token_reference, x.auc_token_reference_ci),
        "min_k_plus_plus" => (x.auc_min_k_plus_plus, x.auc_min_k_plus_plus_ci),
        _ => (x.auc_zlib, x.auc_zlib_ci),
    }
}

/// How the sentences name a run: its label, with its grid point where another run of the
/// report has the same label (several grid points or seeds of one method).
pub fn run_name(r: &Report, run: &super::RunSummary) -> String {
    let shared = r.runs.iter().filter(|x| x.label == run.label).count() > 1;
    if shared && !run.params.is_empty() {
        format!("{} ({})", run.label, run.params)
    } else {
        run.label.clone()
    }
}

/// The strongest attack of a study: the largest AUC any run reaches above the base row's AUC
/// for that attack (0.5 where there is no base row); none when no attack rises above it.
pub struct Strongest {
    pub attack: &'static str,
    pub name: &'static str,
    pub run: String,
    pub auc: f64,
    pub ci: super::Ci,
    pub base_auc: f64,
}

pub fn strongest(r: &Report) -> Option<Strongest> {
    let mut best: Option<(f64, Strongest)> = None;
    for (attack, name) in ATTACKS {
        let base_auc = r.base.as_ref().map_or(0.5, |b| auc_of(b, attack).0);
        for run in &r.runs {
            let Some(x) = run.last() else { continue };
            let (auc, ci) = auc_of(x, attack);
            let lift = auc - if base_auc.is_finite() { base_auc } else { 0.5 };
            if !lift.is_finite() || lift <= 0.0 || best.as_ref().is_some_and(|b| b.0 >= lift) {
                continue;
            }
            best = Some((
                lift,
                Strongest {
                    attack,
                    name,
                    run: run_name(r, run),
                    auc,
                    ci,
                    base_auc,
                },
            ));
        }
    }
    best.map(|b| b.1)
}

/// One paired comparison A − B of two evaluations of the same records.
pub struct Pair {
    pub a: String,
    pub b: String,
    pub comparison: Comparison,
}

/// Every run against the base, then every pair of runs (in the report's order), where both
/// evaluations kept their per-record statistics.
pub fn pairs(r: &Report) -> Vec<Pair> {
    let runs: Vec<(String, &Row)> = r
        .runs
        .iter()
        .filter_map(|run| run.last().map(|x| (run_name(r, run), x)))
        .collect();
    let side = |x: &Row| x.records.clone();
    let mut out = vec![];
    let mut push = |a: &str, xa: &Row, b: &str, xb: &Row| {
        if let (Some(ra), Some(rb)) = (side(xa), side(xb)) {
            out.push(Pair {
                a: a.to_string(),
                b: b.to_string(),
                comparison: paired::compare(
                    Side {
                        train: &ra.train,
                        test: &ra.test,
                    },
                    Side {
                        train: &rb.train,
                        test: &rb.test,
                    },
                ),
            });
        }
    };
    if let Some(base) = &r.base {
        for (label, x) in &runs {
            push(label, x, "base", base);
        }
    }
    for (i, (la, xa)) in runs.iter().enumerate() {
        for (lb, xb) in &runs[i + 1..] {
            push(la, xa, lb, xb);
        }
    }
    out
}

/// `+0.300 [0.260, 0.340]`.
pub fn diff_text(d: f64, ci: super::Ci, unit: &str) -> String {
    match ci {
        Some([lo, hi]) => format!("{d:+.3} [{lo:+.3}, {hi:+.3}]{unit}"),
        None => format!("{d:+.3} (no interval){unit}"),
    }
}

fn value_text(v: f64, ci: super::Ci) -> String {
    match ci {
        Some([lo, hi]) => format!("{v:.3} [{lo:.3}, {hi:.3}]"),
        None => format!("{v:.3}"),
    }
}

/// What a paired difference says, in words: which way, or that the data cannot tell.
fn verdict(a: &str, m: &Measure, ci: super::Ci, diff: f64) -> String {
    match paired::distinguishable(ci) {
        Some(true) if diff > 0.0 => format!("{a} {}", m.more),
        Some(true) => format!("{a} {}", m.less),
        Some(false) => "not distinguishable at this size".into(),
        None => "no interval".into(),
    }
}

fn measure(key: &str) -> &'static Measure {
    MEASURES
        .iter()
        .find(|m| m.key == key)
        .expect("a headline measure")
}

/// The sentence for one measure of a pair: `privacy loss +0.30 [0.26, 0.34] nats — A learns…`.
fn clause(p: &Pair, key: &str) -> Option<String> {
    let m = measure(key);
    let d = p.comparison.get(key)?;
    if !d.diff.is_finite() {
        return None;
    }
    Some(format!(
        "{} {} — {}",
        m.label,
        diff_text(d.diff, d.ci95, m.unit),
        verdict(&p.a, m, d.ci95, d.diff)
    ))
}

fn attack_clause(p: &Pair, s: &Strongest) -> Option<String> {
    let d = p.comparison.get(&format!("auc_{}", s.attack))?;
    if !d.diff.is_finite() {
        return None;
    }
    let words = match paired::distinguishable(d.ci95) {
        Some(true) if d.diff > 0.0 => format!("{} is easier to attack", p.a),
        Some(true) => format!("{} is harder to attack", p.a),
        Some(false) => "not distinguishable at this size".into(),
        None => "no interval".into(),
    };
    Some(format!(
        "{} attack AUC {} — {words}",
        s.name,
        diff_text(d.diff, d.ci95, "")
    ))
}

/// A DP run's label with its ε, for the claim's sentence.
fn is_dp(method: &str) -> bool {
    method == "dp" || method == "dp-lora"
}

/// The report's sentences, most important first.
pub fn sentences(r: &Report, pairs: &[Pair]) -> Vec<String> {
    let mut out = vec![];
    for run in &r.runs {
        let Some(x) = run.last() else { continue };
        out.push(format!(
            "{}: privacy loss {} nats = learnt about secrets in general {} + memorised of these very secrets {}.",
            run_name(r, run),
            value_text(x.privacy_loss, x.privacy_loss_ci),
            value_text(x.privacy_loss_general, x.privacy_loss_general_ci),
            value_text(x.memorisation_gap_corrected, x.memorisation_gap_corrected_ci),
        ));
    }
    let strong = strongest(r);
    if let Some(s) = &strong {
        out.push(format!(
            "Strongest membership attack in this study: {} (AUC {} on {}, against {:.3} on the base model).",
            s.name,
            value_text(s.auc, s.ci),
            s.run,
            s.base_auc
        ));
    }
    if pairs.is_empty() {
        out.push(
            "No paired comparison: these evaluations kept no per-record statistics (made before \
             they were kept), or the study has a single run and no base row. Each number above \
             carries only its own interval; re-running the study's evaluations adds the pairs."
                .into(),
        );
        return out;
    }
    for p in pairs {
        let mut parts: Vec<String> = [
            "privacy_loss_general",
            "memorisation_gap_corrected",
            "utility_nll",
        ]
        .iter()
        .filter_map(|k| clause(p, k))
        .collect();
        if let Some(s) = &strong {
            parts.extend(attack_clause(p, s));
        }
        out.push(format!("{} vs {}: {}.", p.a, p.b, parts.join("; ")));
    }
    out.extend(claim(r, pairs));
    out
}

/// The paper's claim, tested where the study has a LoRA run and a DP run: "LoRA is about as
/// private as DP-SGD" holds on a measure when their paired difference is not distinguishable.
fn claim(r: &Report, pairs: &[Pair]) -> Vec<String> {
    let label_of = |pred: &dyn Fn(&str) -> bool| {
        r.runs
            .iter()
            .find(|run| run.last().is_some_and(|x| pred(&x.method)))
            .map(|run| run_name(r, run))
    };
    let (Some(lora), Some(dp)) = (label_of(&|m| m == "lora"), label_of(&|m| is_dp(m))) else {
        return vec![];
    };
    let Some(p) = pairs
        .iter()
        .find(|p| (p.a == lora && p.b == dp) || (p.a == dp && p.b == lora))
    else {
        return vec![];
    };
    // Read as LoRA − DP whichever way round the pair was made.
    let sign = if p.a == lora { 1.0 } else { -1.0 };
    let part = |key: &str| -> Option<String> {
        let d = p.comparison.get(key)?;
        let ci = d
            .ci95
            .map(|[lo, hi]| if sign > 0.0 { [lo, hi] } else { [-hi, -lo] });
        let v = sign * d.diff;
        let m = measure(key);
        let holds = match paired::distinguishable(ci) {
            Some(false) => "holds (not distinguishable at this size)",
            Some(true) if v > 0.0 => "does not hold: LoRA is worse",
            Some(true) => "does not hold: LoRA is better",
            None => "cannot be judged (no interval)",
        };
        Some(format!(
            "{} {} — {holds}",
            m.label,
            diff_text(v, ci, m.unit)
        ))
    };
    let parts: Vec<String> = [
        "memorisation_gap_corrected",
        "privacy_loss_general",
        "privacy_loss",
    ]
    .iter()
    .filter_map(|k| part(k))
    .collect();
    vec![format!(
        "The claim \"LoRA is about as private as DP-SGD\", tested as {lora} − {dp} on the same records: {}.",
        parts.join("; ")
    )]
}

/// The pairs table: a header, then per pair its name and a cell per measure (the strongest
/// attack's AUC last): the difference with its paired interval, and whether it excludes 0.
pub struct Table {
    pub head: Vec<String>,
    pub rows: Vec<(String, Vec<(String, bool)>)>,
}

pub fn table(r: &Report) -> Table {
    let strong = strongest(r);
    let mut keys: Vec<(String, String)> = MEASURES
        .iter()
        .map(|m| (m.key.to_string(), m.label.to_string()))
        .collect();
    if let Some(s) = &strong {
        keys.push((format!("auc_{}", s.attack), format!("{} AUC", s.name)));
    }
    let head = std::iter::once("A − B".to_string())
        .chain(keys.iter().map(|k| k.1.clone()))
        .collect();
    let rows = r
        .pairs
        .iter()
        .map(|p| {
            let cells = keys
                .iter()
                .map(|(k, _)| match p.comparison.get(k) {
                    Some(d) if d.diff.is_finite() => (
                        diff_text(d.diff, d.ci95, ""),
                        paired::distinguishable(d.ci95) == Some(true),
                    ),
                    _ => ("–".into(), false),
                })
                .collect();
            (format!("{} − {}", p.a, p.b), cells)
        })
        .collect();
    Table { head, rows }
}

/// How the paired intervals were made, for both reports.
pub const METHOD_NOTE: &str = "Paired 95% intervals: the records are resampled once per bootstrap replicate (1,000, fixed seed) and both evaluations are read at the same resample, so what the two runs share cancels. A difference whose interval excludes 0 is marked; one whose interval holds 0 is not distinguishable at this size — which is not evidence that the two are equal. Privacy loss = learnt about secrets in general (the gain on held-out records' secrets) + memorised beyond that (the corrected memorisation gap). Definitions: docs/evaluator.md.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_the_interval() {
        let m = measure("memorisation_gap_corrected");
        assert_eq!(
            verdict("lora", m, Some([-0.02, 0.02]), 0.0),
            "not distinguishable at this size"
        );
        assert_eq!(
            verdict("lora", m, Some([0.01, 0.05]), 0.03),
            "lora memorises more of these very secrets"
        );
        assert_eq!(
            diff_text(0.3, Some([0.26, 0.34]), " nats"),
            "+0.300 [+0.260, +0.340] nats"
        );
    }
}

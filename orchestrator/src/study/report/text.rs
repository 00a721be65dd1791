//! results.csv, report.md and the terminal table.

use super::{Ci, Report, Row, Spread};

pub const CSV_HEADER: &str = "run,label,method,params,epoch,epsilon,epsilon_rdp,epsilon_pld,\
audit_canaries,audit_guesses,audit_correct,audit_epsilon_lb,audit_ceiling,audit_delta,\
privacy_loss,privacy_loss_lo,privacy_loss_hi,\
utility_nll,utility_nll_lo,utility_nll_hi,utility_perplexity,\
utility_gain,utility_gain_lo,utility_gain_hi,\
memorisation_gap,memorisation_gap_lo,memorisation_gap_hi,\
memorisation_gap_corrected,memorisation_gap_corrected_lo,memorisation_gap_corrected_hi,\
exposure_bits,exposure_bits_lo,exposure_bits_hi,\
mia_auc_loss,mia_auc_loss_lo,mia_auc_loss_hi,\
mia_auc_reference,mia_auc_reference_lo,mia_auc_reference_hi,\
mia_auc_min_k,mia_auc_min_k_lo,mia_auc_min_k_hi,\
mia_tpr_at_1pct_fpr_loss,mia_tpr_at_1pct_fpr_loss_lo,mia_tpr_at_1pct_fpr_loss_hi,\
extraction_rate_train,extraction_rate_train_lo,extraction_rate_train_hi,\
extraction_rate_test,extraction_rate_test_lo,extraction_rate_test_hi,\
train_seconds,train_tokens_per_s,peak_memory_gib,peak_gpu_memory_gib,trainable_parameters,\
eval_seconds,pareto,\
privacy_loss_general,privacy_loss_general_lo,privacy_loss_general_hi,\
mia_auc_token_reference,mia_auc_token_reference_lo,mia_auc_token_reference_hi,\
mia_auc_min_k_plus_plus,mia_auc_min_k_plus_plus_lo,mia_auc_min_k_plus_plus_hi,\
mia_auc_zlib,mia_auc_zlib_lo,mia_auc_zlib_hi,\
guarantee,scrub,scrub_spans_replaced,scrub_span_recall,\
dp_unit,largest_user_records,user_group_epsilon,user_group_delta";

fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.6}")
    } else {
        String::new()
    }
}

fn opt(x: Option<f64>) -> String {
    x.map(num).unwrap_or_default()
}

fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A metric and its interval's ends (empty where there is none).
fn with_ci(v: Option<f64>, ci: Ci) -> [String; 3] {
    [opt(v), opt(ci.map(|c| c[0])), opt(ci.map(|c| c[1]))]
}

/// One results.csv line's fields, in CSV_HEADER's order.
fn fields(x: &Row, pareto: bool) -> Vec<String> {
    let mut v = vec![
        quote(&x.run),
        quote(&x.label),
        x.method.clone(),
        quote(&x.params),
        x.epoch.to_string(),
        opt(x.epsilon),
        opt(x.epsilon_rdp),
        opt(x.epsilon_pld),
    ];
    match &x.audit {
        Some(a) => v.extend([
            a.m.to_string(),
            a.guesses.to_string(),
            a.correct.to_string(),
            num(a.epsilon_lb),
            num(a.ceiling),
            format!("{:e}", a.delta),
        ]),
        None => v.extend(std::iter::repeat_n(String::new(), 6)),
    }
    v.extend(with_ci(Some(x.privacy_loss), x.privacy_loss_ci));
    v.extend(with_ci(Some(x.utility_nll), x.utility_nll_ci));
    v.push(num(x.utility_ppl));
    v.extend(with_ci(Some(x.utility_gain), x.utility_gain_ci));
    v.extend(with_ci(Some(x.memorisation_gap), x.memorisation_gap_ci));
    v.extend(with_ci(
        Some(x.memorisation_gap_corrected),
        x.memorisation_gap_corrected_ci,
    ));
    v.extend(with_ci(x.exposure, x.exposure_ci));
    v.extend(with_ci(Some(x.auc_loss), x.auc_loss_ci));
    v.extend(with_ci(Some(x.auc_reference), x.auc_reference_ci));
    v.extend(with_ci(Some(x.auc_min_k), x.auc_min_k_ci));
    v.extend(with_ci(x.tpr_1pct, x.tpr_1pct_ci));
    v.extend(with_ci(Some(x.extraction_train), x.extraction_train_ci));
    v.extend(with_ci(Some(x.extraction_test), x.extraction_test_ci));
    v.extend([
        opt(x.train_s),
        opt(x.tokens_per_s),
        opt(x.peak_gib),
        opt(x.peak_gpu_gib),
        x.trainable.map(|t| t.to_string()).unwrap_or_default(),
        num(x.eval_s),
        pareto.to_string(),
    ]);
    // Added in issue 29, after the older columns so those keep their places.
    v.extend(with_ci(
        Some(x.privacy_loss_general),
        x.privacy_loss_general_ci,
    ));
    v.extend(with_ci(
        Some(x.auc_token_reference),
        x.auc_token_reference_ci,
    ));
    v.extend(with_ci(
        Some(x.auc_min_k_plus_plus),
        x.auc_min_k_plus_plus_ci,
    ));
    v.extend(with_ci(Some(x.auc_zlib), x.auc_zlib_ci));
    // Added in issue 30.
    v.push(quote(&super::guarantee::words(x)));
    match &x.scrub {
        Some(s) => v.extend([s.key(), s.spans_replaced.to_string(), opt(s.span_recall)]),
        None => v.extend(vec![String::from("none"), String::new(), String::new()]),
    }
    // Added in issue 31.
    let group = x.unit.as_ref().zip(x.epsilon).and_then(|(u, e)| u.group(e));
    v.extend([
        x.unit.as_ref().map(|u| u.unit.clone()).unwrap_or_default(),
        group.map(|g| g.0.to_string()).unwrap_or_default(),
        opt(group.map(|g| g.1)),
        group.map(|g| format!("{:e}", g.2)).unwrap_or_default(),
    ]);
    v
}

pub fn csv(r: &Report) -> String {
    let mut out = format!("{CSV_HEADER}\n");
    let base = r.base.iter().map(|x| (x, false));
    let rows = r.runs.iter().flat_map(|run| {
        run.rows
            .iter()
            .enumerate()
            .map(|(i, x)| (x, i + 1 == run.rows.len() && run.pareto))
    });
    for (x, pareto) in base.chain(rows) {
        out.push_str(&fields(x, pareto).join(","));
        out.push('\n');
    }
    out
}

/// Formal ε: under both accountants where the run has both (`PLD 6.29 / RDP 8.00`), else the
/// run's own; `∞` without DP.
pub(super) fn eps(x: &Row) -> String {
    let mark = if x.seeded_noise { SEEDED_MARK } else { "" };
    let unit = x
        .unit
        .as_ref()
        .map(|u| format!(" per {}", u.unit))
        .unwrap_or_default();
    match (x.epsilon_pld, x.epsilon_rdp, x.epsilon) {
        (Some(p), Some(r), _) => format!("PLD {p:.2} / RDP {r:.2}{unit}{mark}"),
        (_, _, Some(e)) => format!("{e:.2}{unit}{mark}"),
        _ => "∞".into(),
    }
}

/// Beside the ε of a run whose noise came from its seed.
pub(super) const SEEDED_MARK: &str = " †";
/// What [`SEEDED_MARK`] means.
pub(super) const SEEDED_NOTE: &str = "† reproducible noise (dp.reproducible_noise): the noise and samples derive from the run's seed, so this ε assumes the seed stays secret";

/// The audit's ε lower bound (`–`: not audited).
pub(super) fn audit_eps(x: &Row) -> String {
    x.audit
        .map(|a| format!("≥ {:.2}", a.epsilon_lb))
        .unwrap_or_else(|| "–".into())
}

fn cells(x: &Row) -> Vec<String> {
    vec![
        x.label.clone(),
        x.params.clone(),
        x.epoch.to_string(),
        eps(x),
        super::guarantee::words(x),
        audit_eps(x),
        format!("{:.3}", x.privacy_loss),
        format!("{:.3}", x.utility_nll),
        format!("{:+.3}", x.utility_gain),
        x.exposure.map(|e| format!("{e:.1}")).unwrap_or("–".into()),
        format!("{:.3}", x.auc_loss),
        format!("{:.3}", x.auc_reference),
        format!("{:.0}%", 100.0 * x.extraction_train),
        x.train_s
            .map(super::super::runner::human)
            .unwrap_or("–".into()),
        // On a GPU the device's peak is what limits a run; the host's is in the CSV.
        match (x.peak_gpu_gib, x.peak_gib) {
            (Some(g), _) => format!("{g:.1} GPU"),
            (None, Some(g)) => format!("{g:.1}"),
            (None, None) => "–".into(),
        },
    ]
}

/// `v` at `prec` decimals, without the sign of a value that rounds to zero (a bootstrap end
/// just below 0 would read `-0.000`).
fn fixed(v: f64, prec: usize) -> String {
    let s = format!("{v:.prec$}");
    match s.strip_prefix('-') {
        Some(abs) if abs.chars().all(|c| c == '0' || c == '.') => abs.to_string(),
        _ => s,
    }
}

/// `[lo, hi]` at `prec` decimals; empty where there is no interval.
pub(super) fn interval(ci: Ci, prec: usize) -> String {
    ci.map(|[lo, hi]| format!("[{}, {}]", fixed(lo, prec), fixed(hi, prec)))
        .unwrap_or_default()
}

/// The intervals of `cells`' metrics, column for column (empty elsewhere).
fn ci_cells(x: &Row) -> Vec<String> {
    let mut c = vec![String::new(); HEAD.len()];
    c[6] = interval(x.privacy_loss_ci, 3);
    c[7] = interval(x.utility_nll_ci, 3);
    c[8] = x
        .utility_gain_ci
        .map(|[lo, hi]| format!("[{lo:+.3}, {hi:+.3}]"))
        .unwrap_or_default();
    c[9] = interval(x.exposure_ci, 1);
    c[10] = interval(x.auc_loss_ci, 3);
    c[11] = interval(x.auc_reference_ci, 3);
    c[12] = x
        .extraction_train_ci
        .map(|[lo, hi]| format!("[{:.0}%, {:.0}%]", 100.0 * lo, 100.0 * hi))
        .unwrap_or_default();
    c
}

/// Each value followed by its interval, for report.md (`0.123 [0.101, 0.145]`).
fn md_cells(x: &Row, values: Vec<String>) -> Vec<String> {
    values
        .into_iter()
        .zip(ci_cells(x))
        .map(|(v, ci)| {
            if ci.is_empty() {
                v
            } else {
                format!("{v} {ci}")
            }
        })
        .collect()
}

/// `mean ± sd` at `prec` decimals (sd `–` for a single run; `–` alone for none), with the
/// count when it is not every run of the group (a metric missing from some).
pub(super) fn spread_text(s: &Spread, prec: usize, runs: usize) -> String {
    if s.n == 0 {
        return "–".into();
    }
    let sd = if s.sd.is_finite() {
        format!("{:.prec$}", s.sd)
    } else {
        "–".into()
    };
    let n = if s.n == runs {
        String::new()
    } else {
        format!(" (n={})", s.n)
    };
    format!("{:.prec$} ± {sd}{n}", s.mean)
}

/// The reference row: the base model before fine-tuning (no training, nothing learned: ε 0).
fn base_cells(x: &Row) -> Vec<String> {
    let mut c = cells(x);
    c[0] = "base (before fine-tuning)".into();
    c[3] = "0".into();
    c[4] = "–".into();
    c
}

const HEAD: [&str; 15] = [
    "method",
    "grid point",
    "epoch",
    "formal ε",
    "guarantee",
    "audit ε",
    "privacy loss",
    "utility NLL",
    "gain",
    "exposure",
    "AUC loss",
    "AUC ref",
    "extracted",
    "train time",
    "peak GiB",
];

/// Each run's last evaluation, front members marked with `*`.
pub fn table(r: &Report) -> String {
    let mut rows: Vec<Vec<String>> = vec![HEAD.iter().map(|s| s.to_string()).collect()];
    // Intervals go on a line of their own under the values, so the columns stay narrow.
    let with_ci = |rows: &mut Vec<Vec<String>>, x: &Row, c: Vec<String>| {
        rows.push(c);
        let ci = ci_cells(x);
        if ci.iter().any(|s| !s.is_empty()) {
            rows.push(ci);
        }
    };
    if let Some(b) = &r.base {
        with_ci(&mut rows, b, base_cells(b));
    }
    for run in &r.runs {
        match run.last() {
            Some(x) => {
                let mut c = cells(x);
                if run.pareto {
                    c[0] = format!("{} *", c[0]);
                }
                with_ci(&mut rows, x, c);
            }
            None => rows.push(vec![
                run.label.clone(),
                run.params.clone(),
                format!("({})", run.state.as_str()),
            ]),
        }
    }
    let widths: Vec<usize> = (0..HEAD.len())
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (k, row) in rows.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
        if k == 0 {
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
            out.push('\n');
        }
    }
    out.push_str(
        "* on the privacy–utility Pareto front (lower privacy loss and lower utility NLL)\n",
    );
    out.push_str(INTERVALS);
    out.push('\n');
    if r.runs
        .iter()
        .filter_map(|run| run.last())
        .any(|x| x.seeded_noise)
    {
        out.push_str(SEEDED_NOTE);
        out.push('\n');
    }
    out
}

/// What the bracketed ranges are.
const INTERVALS: &str =
    "[lo, hi]: 95% intervals (bootstrap over records; exposure: Student t over canaries)";

fn md_head() -> String {
    format!("| {} |\n|{}\n", HEAD.join(" | "), "---|".repeat(HEAD.len()))
}

/// "What this study shows": the generated sentences and the paired-differences table.
fn md_findings(r: &Report) -> String {
    let mut out = "## What this study shows\n\n".to_string();
    for s in super::findings::sentences(r, &r.pairs) {
        out.push_str(&format!("- {}\n", s.replace('|', "\\|")));
    }
    let t = super::findings::table(r);
    if !t.rows.is_empty() {
        out.push_str(&format!(
            "\n| {} |\n|{}\n",
            t.head.join(" | "),
            "---|".repeat(t.head.len())
        ));
        for (name, cells) in &t.rows {
            let cells: Vec<String> = cells
                .iter()
                .map(|(c, sig)| if *sig { format!("**{c}**") } else { c.clone() })
                .collect();
            out.push_str(&format!("| {name} | {} |\n", cells.join(" | ")));
        }
        out.push_str("\n**Bold**: the paired interval excludes 0. ");
    } else {
        out.push('\n');
    }
    out.push_str(super::findings::METHOD_NOTE);
    out.push_str("\n\n## Runs\n\n");
    out
}

pub fn markdown(r: &Report) -> String {
    let mut out = format!("# Study `{}`\n\n", r.name);
    out.push_str(&md_findings(r));
    out.push_str("Each run's last evaluated checkpoint; **bold** rows are on the privacy–utility Pareto front (no other run has both lower privacy loss and lower utility NLL); the first row, when present, is the base model before fine-tuning.\n\n");
    out.push_str(&md_head());
    if let Some(b) = &r.base {
        out.push_str(&format!("| {} |\n", md_cells(b, base_cells(b)).join(" | ")));
    }
    for run in &r.runs {
        if let Some(x) = run.last() {
            let c = md_cells(x, cells(x));
            let c: Vec<String> = if run.pareto {
                c.into_iter().map(|s| format!("**{s}**")).collect()
            } else {
                c
            };
            out.push_str(&format!("| {} |\n", c.join(" | ")));
        }
    }
    let failed: Vec<_> = r.runs.iter().filter(|x| x.last().is_none()).collect();
    if !failed.is_empty() {
        out.push_str("\nNot evaluated:\n\n");
        for x in failed {
            out.push_str(&format!(
                "- `{}`: {}{}\n",
                x.id,
                x.state.as_str(),
                x.error
                    .as_deref()
                    .map(|e| format!(" — {e}"))
                    .unwrap_or_default()
            ));
        }
    }
    if r.runs
        .iter()
        .flat_map(|run| &run.rows)
        .any(|x| x.seeded_noise)
    {
        out.push_str(&format!("\n{SEEDED_NOTE}.\n"));
    }
    out.push_str(&md_seeds(r));
    out.push_str("\n## Per epoch\n\n");
    out.push_str(&md_head());
    for run in &r.runs {
        for x in &run.rows {
            out.push_str(&format!("| {} |\n", md_cells(x, cells(x)).join(" | ")));
        }
    }
    out.push_str(&format!("\nDefinitions: docs/evaluator.md. Privacy loss: mean NLL drop on sensitive training tokens (nats). Utility NLL: mean NLL on non-sensitive test tokens. Exposure: mean canary exposure (bits). AUC: LOSS and reference-calibrated membership inference. Extracted: training secrets reproduced by greedy decoding. ε: formal, under the run's accountant (∞: no DP). Audit ε: the one-run audit's empirical lower bound at 95% confidence (0: no ε rejected; –: not audited). {INTERVALS}.\n"));
    out
}

/// What the across-seeds numbers are, for report.md and report.html.
pub(super) const SEEDS_NOTE: &str = "Each method and grid point was run once per seed. Mean ± sample standard deviation over the seeds of each run's last evaluation; in parentheses the mean width of the runs' own 95% intervals. A spread across seeds wider than that width is training randomness that a single run's interval does not show.";

/// The "Across seeds" section; empty when the study lists no `seeds`.
fn md_seeds(r: &Report) -> String {
    if r.across_seeds.is_empty() {
        return String::new();
    }
    let mut out = format!("\n## Across seeds\n\n{SEEDS_NOTE}\n\n");
    out.push_str("| method | grid point | seeds | n | privacy loss | utility NLL | exposure | AUC loss |\n|---|---|---|---|---|---|---|---|\n");
    for g in &r.across_seeds {
        let n = g.evaluated;
        let cell = |s: &Spread, prec: usize| {
            let w = s
                .ci_width
                .map(|w| format!(" ({w:.prec$})"))
                .unwrap_or_default();
            format!("{}{w}", spread_text(s, prec, n))
        };
        out.push_str(&format!(
            "| {} | {} | {} | {n} | {} | {} | {} | {} |\n",
            g.label,
            g.point,
            g.seeds.join(", "),
            cell(&g.privacy_loss, 3),
            cell(&g.utility_nll, 3),
            cell(&g.exposure, 2),
            cell(&g.auc_loss, 3),
        ));
    }
    out
}

/// results.csv of every model's runs (the model is in each run's id and params).
pub fn csv_all(rs: &[Report]) -> String {
    let mut out = format!("{CSV_HEADER}\n");
    for r in rs {
        out.extend(csv(r).lines().skip(1).map(|l| format!("{l}\n")));
    }
    out
}

/// The heading of one model's part in a study of several.
fn model_heading(r: &Report) -> String {
    format!("Model `{}`", r.model)
}

/// report.md: one model's as before; several models' under a heading each, each with its front.
pub fn markdown_all(rs: &[Report], terms: &[String]) -> String {
    let notes: String = terms.iter().map(|t| format!("> {t}\n\n")).collect();
    if let [one] = rs {
        let md = markdown(one);
        let (title, rest) = md.split_once("\n\n").unwrap_or((&md, ""));
        return format!("{title}\n\n{notes}{rest}");
    }
    let name = rs.first().map_or("", |r| r.name.as_str());
    let mut out = format!("# Study `{name}`\n\n{notes}");
    out.push_str("Every method ran on every model; each model's part has its own privacy–utility front (runs of different models do not compete).\n\n");
    for r in rs {
        let md = markdown(r);
        let body = md.split_once("\n\n").map_or("", |x| x.1);
        out.push_str(&format!("## {}\n\n", model_heading(r)));
        out.push_str(format!("\n{body}").replace("\n## ", "\n### ").trim_start());
        out.push('\n');
    }
    out
}

/// The terminal table: one per model, each under its model's name.
pub fn table_all(rs: &[Report], terms: &[String]) -> String {
    let mut out = String::new();
    for r in rs {
        if rs.len() > 1 {
            out.push_str(&format!("\n{}\n", model_heading(r).replace('`', "")));
        }
        out.push_str(&table(r));
    }
    for t in terms {
        out.push_str(&format!("Note: {t}\n"));
    }
    out
}

//! results.csv, report.md and the terminal table.

use super::{Report, Row};

pub const CSV_HEADER: &str = "run,label,method,params,epoch,epsilon,privacy_loss,utility_nll,utility_perplexity,utility_gain,memorisation_gap,exposure_bits,mia_auc_loss,mia_auc_reference,mia_auc_min_k,mia_tpr_at_1pct_fpr_loss,extraction_rate_train,extraction_rate_test,train_seconds,train_tokens_per_s,peak_memory_gib,peak_gpu_memory_gib,trainable_parameters,eval_seconds,pareto";

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

pub fn csv(r: &Report) -> String {
    let mut out = format!("{CSV_HEADER}\n");
    let base = r.base.iter().map(|x| (x, false));
    let rows = r.runs.iter().flat_map(|run| {
        run.rows
            .iter()
            .enumerate()
            .map(|(i, x)| (x, i + 1 == run.rows.len() && run.pareto))
    });
    {
        for (x, pareto) in base.chain(rows) {
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                quote(&x.run),
                quote(&x.label),
                x.method,
                quote(&x.params),
                x.epoch,
                opt(x.epsilon),
                num(x.privacy_loss),
                num(x.utility_nll),
                num(x.utility_ppl),
                num(x.utility_gain),
                num(x.memorisation_gap),
                opt(x.exposure),
                num(x.auc_loss),
                num(x.auc_reference),
                num(x.auc_min_k),
                num(x.tpr_1pct),
                num(x.extraction_train),
                num(x.extraction_test),
                opt(x.train_s),
                opt(x.tokens_per_s),
                opt(x.peak_gib),
                opt(x.peak_gpu_gib),
                x.trainable.map(|t| t.to_string()).unwrap_or_default(),
                num(x.eval_s),
                pareto
            ));
        }
    }
    out
}

fn eps(x: &Row) -> String {
    x.epsilon
        .map(|e| format!("{e:.2}"))
        .unwrap_or_else(|| "∞".into())
}

fn cells(x: &Row) -> Vec<String> {
    vec![
        x.label.clone(),
        x.params.clone(),
        x.epoch.to_string(),
        eps(x),
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

/// The reference row: the base model before fine-tuning (no training, nothing learned: ε 0).
fn base_cells(x: &Row) -> Vec<String> {
    let mut c = cells(x);
    c[0] = "base (before fine-tuning)".into();
    c[3] = "0".into();
    c
}

const HEAD: [&str; 13] = [
    "method",
    "grid point",
    "epoch",
    "ε",
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
    rows.extend(r.base.iter().map(base_cells));
    for run in &r.runs {
        match run.last() {
            Some(x) => {
                let mut c = cells(x);
                if run.pareto {
                    c[0] = format!("{} *", c[0]);
                }
                rows.push(c);
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
    out
}

fn md_head() -> String {
    format!("| {} |\n|{}\n", HEAD.join(" | "), "---|".repeat(HEAD.len()))
}

pub fn markdown(r: &Report) -> String {
    let mut out = format!("# Study `{}`\n\n", r.name);
    out.push_str("Each run's last evaluated checkpoint; **bold** rows are on the privacy–utility Pareto front (no other run has both lower privacy loss and lower utility NLL); the first row, when present, is the base model before fine-tuning.\n\n");
    out.push_str(&md_head());
    if let Some(b) = &r.base {
        out.push_str(&format!("| {} |\n", base_cells(b).join(" | ")));
    }
    for run in &r.runs {
        if let Some(x) = run.last() {
            let c = cells(x);
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
    out.push_str("\n## Per epoch\n\n");
    out.push_str(&md_head());
    for run in &r.runs {
        for x in &run.rows {
            out.push_str(&format!("| {} |\n", cells(x).join(" | ")));
        }
    }
    out.push_str("\nDefinitions: docs/evaluator.md. Privacy loss: mean NLL drop on sensitive training tokens (nats). Utility NLL: mean NLL on non-sensitive test tokens. Exposure: mean canary exposure (bits). AUC: LOSS and reference-calibrated membership inference. Extracted: training secrets reproduced by greedy decoding.\n");
    out
}

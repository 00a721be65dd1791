//! report.html: one self-contained page (no scripts, no external files).

use super::svg::{self, esc, Bar, EpsPoint, Point};

const AUDIT_CAPTION: &str = "Each run's last checkpoint. x: formal ε (the tighter of PLD and RDP; ∞ for full and LoRA fine-tuning, which promise none; 0 for the base model, which saw nothing). y: the one-run audit's lower bound at 95% confidence (Steinke, Nasr & Jagielski 2023): ε the run is shown not to satisfy. A sound DP run stays on or under the diagonal; the dashed line is the most these canaries could show.";
use super::findings;
use super::text;
use super::{Ci, Report, Row, RunSummary, Spread};

/// A value with its interval in small grey type under it (no interval: the value alone).
fn with_ci(value: String, ci: Ci, prec: usize) -> String {
    match ci {
        Some(_) => format!(
            "{value}<br><span class=\"ci\">{}</span>",
            text::interval(ci, prec)
        ),
        None => value,
    }
}

/// Extraction on train and test: the rates on one line, their intervals under them.
fn extraction_cell(x: &Row) -> String {
    let pct = |ci: Ci| {
        ci.map(|[lo, hi]| format!("[{:.1}, {:.1}]%", 100.0 * lo, 100.0 * hi))
            .unwrap_or("–".into())
    };
    let cis = if x.extraction_train_ci.is_some() || x.extraction_test_ci.is_some() {
        format!(
            "<br><span class=\"ci\">{} / {}</span>",
            pct(x.extraction_train_ci),
            pct(x.extraction_test_ci)
        )
    } else {
        String::new()
    };
    format!(
        "<td>{:.1}% / {:.1}%{cis}</td>",
        100.0 * x.extraction_train,
        100.0 * x.extraction_test
    )
}

/// TPR at 1% FPR, or why there is none (too few non-members), as the cell's tooltip.
fn tpr_cell(x: &Row) -> String {
    match x.tpr_1pct {
        Some(t) => format!("<td>{}</td>", with_ci(format!("{t:.3}"), x.tpr_1pct_ci, 3)),
        None => format!(
            "<td title=\"{}\">–</td>",
            esc(x.tpr_1pct_note.as_deref().unwrap_or("not measured"))
        ),
    }
}

/// The table cells from privacy loss to extraction, shared by the base row and the runs' rows.
fn metric_cells(x: &Row) -> String {
    let td = |v: f64, ci: Ci| format!("<td>{}</td>", with_ci(format!("{v:.3}"), ci, 3));
    [
        audit_cell(x),
        td(x.privacy_loss, x.privacy_loss_ci),
        td(x.utility_nll, x.utility_nll_ci),
        format!(
            "<td>{}</td>",
            with_ci(format!("{:+.3}", x.utility_gain), x.utility_gain_ci, 3)
        ),
        td(x.memorisation_gap, x.memorisation_gap_ci),
        if x.memorisation_gap_corrected.is_finite() {
            td(
                x.memorisation_gap_corrected,
                x.memorisation_gap_corrected_ci,
            )
        } else {
            "<td>–</td>".into()
        },
        match x.exposure {
            Some(e) => format!("<td>{}</td>", with_ci(format!("{e:.2}"), x.exposure_ci, 2)),
            None => "<td>–</td>".into(),
        },
        td(x.auc_loss, x.auc_loss_ci),
        td(x.auc_reference, x.auc_reference_ci),
        td(x.auc_min_k, x.auc_min_k_ci),
        tpr_cell(x),
        extraction_cell(x),
    ]
    .concat()
}

/// The audit's bound, with what it rests on as the tooltip.
fn audit_cell(x: &Row) -> String {
    match &x.audit {
        Some(a) => format!(
            "<td title=\"{} of {} guesses right among {} audit canaries; 95% confidence, δ {:e}; at most {:.2} could be shown\">{}</td>",
            a.correct,
            a.guesses,
            a.m,
            a.delta,
            a.ceiling,
            esc(&text::audit_eps(x))
        ),
        None => "<td>–</td>".into(),
    }
}

/// Columns of the runs table (the failed-run row spans all but the first).
const COLUMNS: [&str; 18] = [
    "run",
    "formal ε, guarantee",
    "audit ε",
    "privacy loss",
    "utility NLL",
    "gain",
    "memorisation gap",
    "gap less base's",
    "exposure (bits)",
    "AUC LOSS",
    "AUC ref",
    "AUC Min-K",
    "TPR @1% FPR",
    "extracted (train / test)",
    "train time",
    "tokens/s",
    "peak GiB",
    "trainable params",
];

/// The "Across seeds" section; empty when the study lists no `seeds`.
fn seeds_section(r: &Report) -> String {
    if r.across_seeds.is_empty() {
        return String::new();
    }
    let mut t = format!("<h2>Across seeds</h2>\n<p class=\"note\">{}</p>\n<table><thead><tr><th>method</th><th>grid point</th><th>seeds</th><th>n</th><th>privacy loss</th><th>utility NLL</th><th>exposure (bits)</th><th>AUC LOSS</th></tr></thead><tbody>", text::SEEDS_NOTE);
    for g in &r.across_seeds {
        let cell = |s: &Spread, prec: usize| {
            let w = s
                .ci_width
                .map(|w| format!("<br><span class=\"ci\">({w:.prec$})</span>"))
                .unwrap_or_default();
            format!("<td>{}{w}</td>", text::spread_text(s, prec, g.evaluated))
        };
        t += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{}{}{}{}</tr>",
            esc(&g.label),
            esc(&g.point),
            esc(&g.seeds.join(", ")),
            g.evaluated,
            cell(&g.privacy_loss, 3),
            cell(&g.utility_nll, 3),
            cell(&g.exposure, 2),
            cell(&g.auc_loss, 3),
        );
    }
    t + "</tbody></table>\n"
}

/// The base model's label in the table and the charts.
const BASE_LABEL: &str = "base (before fine-tuning)";

/// The page's style sheet.
const STYLE: &str = "body { font-family: system-ui, sans-serif; margin: 24px auto; padding: 0 12px; max-width: 1320px; color: #222; box-sizing: border-box; }
div.wide { overflow-x: auto; max-width: 100%; }
ul.findings li { margin: 4px 0; font-size: 14px; }
td.sig { font-weight: 600; background: #fdf3e7; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; border: 1px solid #ddd; padding: 6px; }
figcaption { font-size: 13px; color: #555; max-width: 560px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.front { background: #f3f8ee; font-weight: 600; }
tr.base { color: #666; font-style: italic; }
p.note { font-size: 13px; color: #555; }
span.ci { font-size: 11px; color: #888; font-weight: normal; white-space: nowrap; }
span.guarantee { font-size: 11px; color: #444; }
";

/// The whole page: head, the runs table, the seeds summary, then the figures by topic.
#[cfg(test)]
pub fn render(r: &Report) -> String {
    render_all(std::slice::from_ref(r), &[])
}

/// The page of a study: its terms notes, then each model's tables and figures (under the
/// model's name when there are several, each with its own front).
pub fn render_all(rs: &[Report], terms: &[String]) -> String {
    let name = rs.first().map_or("", |r| r.name.as_str());
    let mut page = head(&esc(name));
    for t in terms {
        page += &format!("<p class=\"note\"><b>Terms.</b> {}</p>\n", esc(t));
    }
    if rs.len() > 1 {
        page += "<p class=\"note\">Every method ran on every model; each model's part has its own privacy–utility front (runs of different models do not compete).</p>\n";
    }
    for r in rs {
        if rs.len() > 1 {
            page += &format!(
                "<h2 class=\"model\">Model <code>{}</code></h2>\n",
                esc(&r.model)
            );
        }
        page += &body(r);
    }
    page + "</body></html>\n"
}

/// One model's runs table, seeds summary and figures by topic.
fn body(r: &Report) -> String {
    let charts = Charts::new(r);
    [
        findings_section(r),
        runs_section(r),
        seeds_section(r),
        "\n".into(),
        privacy_utility_section(&charts),
        audit_section(&charts),
        "\n".into(),
        memorisation_section(&charts),
        cost_section(&charts),
        epoch_section(&charts),
    ]
    .concat()
}

/// "What this study shows": the generated sentences, then the paired differences.
fn findings_section(r: &Report) -> String {
    let items: String = findings::sentences(r, &r.pairs)
        .iter()
        .map(|s| format!("<li class=\"finding\">{}</li>", esc(s)))
        .collect();
    let t = findings::table(r);
    let table = if t.rows.is_empty() {
        String::new()
    } else {
        let head: String = t
            .head
            .iter()
            .map(|h| format!("<th>{}</th>", esc(h)))
            .collect();
        let rows: String = t
            .rows
            .iter()
            .map(|(name, cells)| {
                let cells: String = cells
                    .iter()
                    .map(|(c, sig)| {
                        format!(
                            "<td{}>{}</td>",
                            if *sig { " class=\"sig\"" } else { "" },
                            esc(c)
                        )
                    })
                    .collect();
                format!("<tr><td>{}</td>{cells}</tr>", esc(name))
            })
            .collect();
        format!("<div class=\"wide\"><table class=\"pairs\"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>\n")
    };
    format!(
        "<section id=\"findings\"><h2>What this study shows</h2>\n<ul class=\"findings\">{items}</ul>\n{table}<p class=\"note\">{}{}</p></section>\n<h2>Runs</h2>\n",
        if t.rows.is_empty() { "" } else { "Bold cells: the paired interval excludes 0. " },
        esc(findings::METHOD_NOTE)
    )
}

/// From the doctype to the opening `<body>`: title and style sheet.
fn head(name: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Triad study {name}</title>\n<style>\n{STYLE}</style></head><body>\n<h1>Triad study <code>{name}</code></h1>\n"
    )
}

/// The run's name in the table: its label, with its grid point when it has one.
fn run_name(run: &RunSummary) -> String {
    if run.params.is_empty() {
        run.label.clone()
    } else {
        format!("{} ({})", run.label, run.params)
    }
}

/// The note on how to read the table, then the runs table itself.
fn runs_section(r: &Report) -> String {
    format!(
        "<p class=\"note\">Each run's last evaluated checkpoint. ★ marks the privacy–utility Pareto front: no other run has both lower privacy loss and lower utility NLL. Grey <span class=\"ci\">[lo, hi]</span>: 95% intervals (bootstrap over records; exposure: Student t over canaries). Definitions of every number: docs/evaluator.md.{}</p>\n<div class=\"wide\">{}</div>\n",
        if r.runs.iter().filter_map(|run| run.last()).any(|x| x.seeded_noise) {
            format!(" {}.", esc(text::SEEDED_NOTE))
        } else {
            String::new()
        },
        runs_table(r)
    )
}

/// The runs table: the base model's row first (when evaluated), then one row per run.
fn runs_table(r: &Report) -> String {
    let head: String = COLUMNS.iter().map(|c| format!("<th>{c}</th>")).collect();
    let mut table = format!("<table><thead><tr>{head}</tr></thead><tbody>");
    if let Some(x) = &r.base {
        table += &format!(
            "<tr class=\"base\"><td>{BASE_LABEL}</td><td>0</td>{}<td colspan=\"4\">reference: the model before fine-tuning</td></tr>",
            metric_cells(x)
        );
    }
    for run in &r.runs {
        table += &match run.last() {
            Some(x) => run_row(run, x),
            None => failed_row(run),
        };
    }
    table += "</tbody></table>";
    table
}

/// An evaluated run's row: its last checkpoint's metrics, then its costs.
fn run_row(run: &RunSummary, x: &Row) -> String {
    format!(
        "<tr{}><td>{}{}</td><td>{}<br><span class=\"guarantee\">{}</span></td>{}<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        if run.pareto { " class=\"front\"" } else { "" },
        esc(&run_name(run)),
        if run.pareto { " ★" } else { "" },
        esc(&text::eps(x)),
        esc(&super::guarantee::words(x)),
        metric_cells(x),
        x.train_s
            .map(crate::study::runner::human)
            .unwrap_or("–".into()),
        x.tokens_per_s
            .map(|t| format!("{t:.0}"))
            .unwrap_or("–".into()),
        match (x.peak_gpu_gib, x.peak_gib) {
            (Some(g), Some(h)) => format!("{g:.2} GPU / {h:.2} host"),
            (Some(g), None) => format!("{g:.2} GPU"),
            (None, Some(h)) => format!("{h:.2}"),
            (None, None) => "–".into(),
        },
        x.trainable.map(|t| t.to_string()).unwrap_or("–".into()),
    )
}

/// A run with no evaluation: its state and error across the metric columns.
fn failed_row(run: &RunSummary) -> String {
    format!(
        "<tr><td>{}</td><td colspan=\"{}\">{}{}</td></tr>",
        esc(&run_name(run)),
        COLUMNS.len() - 1,
        run.state.as_str(),
        run.error
            .as_deref()
            .map(|e| format!(": {}", esc(e)))
            .unwrap_or_default()
    )
}

/// What every chart shares: the evaluated runs, a colour per method label, short labels.
struct Charts<'a> {
    r: &'a Report,
    /// Method labels in plan order; a label's colour is its index.
    labels: Vec<String>,
    /// The runs with at least one evaluated checkpoint.
    done: Vec<&'a RunSummary>,
}

impl<'a> Charts<'a> {
    fn new(r: &'a Report) -> Self {
        // One colour per method label, in plan order.
        let mut labels: Vec<String> = vec![];
        for run in &r.runs {
            if !labels.contains(&run.label) {
                labels.push(run.label.clone());
            }
        }
        let done = r.runs.iter().filter(|x| x.last().is_some()).collect();
        Charts { r, labels, done }
    }

    /// The colour (palette index) of a method label.
    fn color(&self, label: &str) -> usize {
        self.labels.iter().position(|l| l == label).unwrap_or(0)
    }

    /// Chart labels: the method label, with the grid point when the label is not unique.
    fn short(&self, run: &RunSummary) -> String {
        if self.r.runs.iter().filter(|x| x.label == run.label).count() > 1 {
            run_name(run)
        } else {
            run.label.clone()
        }
    }

    /// One bar per evaluated run, of `f` of its last checkpoint.
    fn bars(&self, f: &dyn Fn(&Row) -> (Option<f64>, Ci)) -> Vec<Bar> {
        self.done
            .iter()
            .map(|run| {
                let (v, ci) = f(run.last().expect("evaluated"));
                Bar {
                    label: self.short(run),
                    value: v.unwrap_or(f64::NAN),
                    ci,
                    color: self.color(&run.label),
                }
            })
            .collect()
    }

    /// The runs' bars after the base model's, the level before any fine-tuning.
    fn bars_with_base(&self, f: &dyn Fn(&Row) -> (Option<f64>, Ci)) -> Vec<Bar> {
        let mut v: Vec<Bar> = self
            .r
            .base
            .as_ref()
            .map(|b| {
                let (v, ci) = f(b);
                Bar {
                    label: "base".into(),
                    value: v.unwrap_or(f64::NAN),
                    ci,
                    color: svg::BASE_COLOR,
                }
            })
            .into_iter()
            .collect();
        v.extend(self.bars(f));
        v
    }

    /// One line per evaluated run over its epochs, from the base model at epoch 0.
    fn series(&self, f: &dyn Fn(&Row) -> (f64, Ci)) -> Vec<svg::Series> {
        self.done
            .iter()
            .map(|run| {
                (
                    self.short(run),
                    self.color(&run.label),
                    // Every trajectory starts from the base model at epoch 0.
                    self.r
                        .base
                        .iter()
                        .chain(&run.rows)
                        .map(|x| {
                            let (v, ci) = f(x);
                            (x.epoch as f64, v, ci)
                        })
                        .collect(),
                )
            })
            .collect()
    }
}

/// The privacy-utility scatter: each run's last checkpoint, and the base model.
fn privacy_utility_section(c: &Charts) -> String {
    let mut pts: Vec<Point> = c
        .done
        .iter()
        .map(|run| {
            let x = run.last().expect("evaluated");
            Point {
                x: x.privacy_loss,
                y: x.utility_nll,
                xci: x.privacy_loss_ci,
                yci: x.utility_nll_ci,
                label: c.short(run),
                color: c.color(&run.label),
                front: run.pareto,
                mark: if x.selective.is_some() {
                    svg::Mark::Diamond
                } else if x.scrub.is_some() {
                    svg::Mark::Square
                } else {
                    svg::Mark::Circle
                },
            }
        })
        .collect();
    if let Some(b) = &c.r.base {
        pts.push(Point {
            x: b.privacy_loss,
            y: b.utility_nll,
            xci: b.privacy_loss_ci,
            yci: b.utility_nll_ci,
            label: BASE_LABEL.into(),
            color: svg::BASE_COLOR,
            front: false,
            mark: svg::Mark::Circle,
        });
    }
    let scatter = svg::scatter(
        "Privacy loss against utility",
        "privacy loss (nats, lower is more private)",
        "utility NLL (nats, lower is better)",
        &pts,
    );
    format!(
        "<h2>Privacy against utility</h2>\n<div class=\"grid\"><figure>{scatter}<figcaption>Each point is a run; the dashed line joins the Pareto front; grey: the base model before fine-tuning; squares trained on scrubbed text, diamonds are redact-then-DP runs. Error bars are 95% intervals (bootstrap over records): horizontal for privacy loss, vertical for utility NLL.</figcaption></figure></div>\n"
    )
}

/// A point's label with the unit of its formal ε where users make it matter: a user-level
/// run, or a record-level one on data with users (its x is per record, the audit per user).
fn unit_label(label: String, x: &Row) -> String {
    match &x.unit {
        Some(u) if u.unit == "user" || u.largest_user_records.is_some() => {
            format!("{label} (ε per {})", u.unit)
        }
        _ => label,
    }
}

/// Formal against audited ε, for the base model and every audited run; empty when none
/// was audited.
fn audit_section(c: &Charts) -> String {
    let audited: Vec<EpsPoint> =
        c.r.base
            .as_ref()
            .map(|b| (BASE_LABEL.to_string(), svg::BASE_COLOR, b, Some(0.0)))
            .into_iter()
            .chain(c.done.iter().map(|run| {
                let x = run.last().expect("evaluated");
                // The tightest formal ε the run has.
                let formal = match (x.epsilon_pld, x.epsilon_rdp) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b).or(x.epsilon),
                };
                (unit_label(c.short(run), x), c.color(&run.label), x, formal)
            }))
            .filter_map(|(label, color, x, formal)| {
                Some(EpsPoint {
                    label,
                    color,
                    formal,
                    audit: x.audit?.epsilon_lb,
                })
            })
            .collect();
    if audited.is_empty() {
        return String::new();
    }
    let ceiling = c
        .done
        .iter()
        .filter_map(|run| run.last()?.audit.map(|a| a.ceiling))
        .fold(None, |m: Option<f64>, c| Some(m.map_or(c, |m| m.max(c))));
    format!(
        "<h2>Formal against empirical ε</h2>\n<div class=\"grid\"><figure>{}<figcaption>{}</figcaption></figure></div>",
        svg::epsilon_audit("Formal ε against audit ε", &audited, ceiling),
        AUDIT_CAPTION
    )
}

/// Canary exposure and membership inference: the base-referenced attack (whose base row is
/// 0.5 by construction, so a bar above it is what fine-tuning did), and the study's strongest
/// attack where that is another one. The LOSS attack is not charted: its base row carries the
/// luck of the split and sits far from 0.5.
fn memorisation_section(c: &Charts) -> String {
    let exposure = svg::bars(
        "Canary exposure",
        "mean exposure (bits)",
        &c.bars_with_base(&|x| (x.exposure, x.exposure_ci)),
        None,
    );
    let auc_chart = |attack: &'static str, name: &str| {
        svg::bars(
            &format!("Membership inference ({name} attack)"),
            "AUC (0.5 = chance)",
            &c.bars_with_base(&move |x| {
                let (v, ci) = findings::auc_of(x, attack);
                (Some(v).filter(|v| v.is_finite()), ci)
            }),
            Some(0.5),
        )
    };
    let mut figures = vec![
        format!("<figure>{exposure}<figcaption>Mean canary exposure (Carlini et al. 2019); grey: the base model. Error bars are 95% intervals (Student t over canaries).</figcaption></figure>"),
        format!("<figure>{}<figcaption>Membership-inference AUC of the reference attack (the checkpoint's likelihood over the base model's, per record): the base model sits at 0.5 by construction; the dashed line is chance. Error bars are 95% intervals (bootstrap over records).</figcaption></figure>", auc_chart("reference", "reference")),
    ];
    if let Some(s) = findings::strongest(c.r).filter(|s| s.attack != "reference") {
        figures.push(format!(
            "<figure>{}<figcaption>The study's strongest attack, {} (largest AUC above its own base row); grey: the base model, whose AUC is this attack's null here. Error bars are 95% intervals (bootstrap over records).</figcaption></figure>",
            auc_chart(s.attack, s.name),
            esc(s.name)
        ));
    }
    format!(
        "<h2>Memorisation</h2>\n<div class=\"grid\">{}</div>\n",
        figures.concat()
    )
}

/// Training time and peak memory (the GPU's when any run had one), measured once per run:
/// no intervals.
fn cost_section(c: &Charts) -> String {
    let cost = svg::bars(
        "Training time",
        "seconds",
        &c.bars(&|x| (x.train_s, None)),
        None,
    );
    // GPU runs: the device's peak allocation is the memory that limits them.
    let gpu = c
        .done
        .iter()
        .any(|run| run.last().is_some_and(|x| x.peak_gpu_gib.is_some()));
    let (memory, memory_caption) = if gpu {
        (
            svg::bars(
                "Peak GPU memory",
                "GiB",
                &c.bars(&|x| (x.peak_gpu_gib, None)),
                None,
            ),
            "Peak allocation of libtorch's CUDA allocator during training (torch.cuda.max_memory_allocated).",
        )
    } else {
        (
            svg::bars("Peak memory", "GiB", &c.bars(&|x| (x.peak_gib, None)), None),
            "Peak resident memory of the trainer process.",
        )
    };
    format!(
        "<h2>Cost</h2>\n<div class=\"grid\"><figure>{cost}<figcaption>Wall time of training.</figcaption></figure><figure>{memory}<figcaption>{memory_caption}</figcaption></figure></div>\n"
    )
}

/// Privacy loss and utility over the epochs of every run.
fn epoch_section(c: &Charts) -> String {
    let traj_pl = svg::lines(
        "Privacy loss per epoch",
        "epoch",
        "privacy loss (nats)",
        &c.series(&|x| (x.privacy_loss, x.privacy_loss_ci)),
    );
    let traj_u = svg::lines(
        "Utility per epoch",
        "epoch",
        "utility NLL (nats)",
        &c.series(&|x| (x.utility_nll, x.utility_nll_ci)),
    );
    format!(
        "<h2>Per epoch</h2>\n<div class=\"grid\"><figure>{traj_pl}<figcaption>Epoch 0 is the base model, when the study evaluated it. Error bars are 95% intervals (bootstrap over records).</figcaption></figure><figure>{traj_u}<figcaption>Error bars are 95% intervals (bootstrap over records).</figcaption></figure></div>\n"
    )
}

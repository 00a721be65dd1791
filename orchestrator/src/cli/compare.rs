//! `triad compare`: two evaluations of the same data compared record by record (paired
//! bootstrap; docs/evaluator.md, "Paired comparisons").

use anyhow::{bail, Context, Result};
use clap::Args;
use std::io::Read;
use std::path::{Path, PathBuf};
use triad_evaluator::metrics::paired::{self, Comparison, Side};
use triad_evaluator::metrics::records::RecordStat;
use triad_proto::v1 as pb;

/// The largest RECORDS.json read (a million records is about 300 MB of JSON).
const MAX_RECORDS_BYTES: u64 = 512 << 20;

#[derive(Args)]
pub struct CompareArgs {
    /// Per-record statistics of evaluation A (`<metrics>.records.json` from `triad eval`).
    a: PathBuf,
    /// The same for evaluation B; every difference is A − B.
    b: PathBuf,
    /// Also write every difference as JSON here.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// A RECORDS.json, bounded and checked.
pub fn read_records(path: &Path) -> Result<(Vec<RecordStat>, Vec<RecordStat>)> {
    let f =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut text = String::new();
    f.take(MAX_RECORDS_BYTES + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("{}: cannot read as UTF-8 text", path.display()))?;
    if text.len() as u64 > MAX_RECORDS_BYTES {
        bail!(
            "{}: larger than {} MiB; not a RECORDS.json",
            path.display(),
            MAX_RECORDS_BYTES >> 20
        );
    }
    let r: pb::RecordStats = triad_proto::json::from_file_text(&text)
        .map_err(|e| anyhow::anyhow!("{}: not a RECORDS.json ({e})", path.display()))?;
    Ok(paired::sides_of(&r))
}

/// The differences the command prints, in this order.
const SHOWN: [(&str, &str); 11] = [
    ("privacy_loss", "privacy loss (nats)"),
    ("privacy_loss_general", "  learnt about secrets in general"),
    ("memorisation_gap_corrected", "  memorised beyond that"),
    ("utility_nll", "utility NLL (nats)"),
    ("auc_loss", "MIA AUC loss"),
    ("auc_reference", "MIA AUC reference"),
    ("auc_min_k", "MIA AUC min-k"),
    ("auc_token_reference", "MIA AUC token-reference"),
    ("auc_min_k_plus_plus", "MIA AUC min-k++"),
    ("auc_zlib", "MIA AUC zlib"),
    ("extraction_train", "extraction rate (train)"),
];

fn interval(ci: Option<[f64; 2]>) -> String {
    match ci {
        Some([lo, hi]) => format!("[{lo:+.4}, {hi:+.4}]"),
        None => "—".into(),
    }
}

fn print(c: &Comparison) {
    println!(
        "paired records: train {} (only A {}, only B {}), test {} (only A {}, only B {})",
        c.train.paired, c.train.only_a, c.train.only_b, c.test.paired, c.test.only_a, c.test.only_b
    );
    println!(
        "{:<34} {:>9} {:>9} {:>9}  {:<22} {:<22} verdict",
        "measure", "A", "B", "A − B", "paired 95%", "unpaired 95%"
    );
    for (name, label) in SHOWN {
        let Some(d) = c.get(name) else { continue };
        let verdict = match paired::distinguishable(d.ci95) {
            Some(true) => "distinguishable",
            Some(false) => "not distinguishable at this size",
            None => "no interval",
        };
        println!(
            "{label:<34} {:>9.4} {:>9.4} {:>+9.4}  {:<22} {:<22} {verdict}",
            d.a,
            d.b,
            d.diff,
            interval(d.ci95),
            interval(d.unpaired_ci95)
        );
    }
}

fn to_json(c: &Comparison) -> serde_json::Value {
    let num = |x: f64| {
        if x.is_finite() {
            x.into()
        } else {
            serde_json::Value::Null
        }
    };
    let ci =
        |c: Option<[f64; 2]>| c.map_or(serde_json::Value::Null, |[a, b]| serde_json::json!([a, b]));
    let pairing = |p: &paired::Pairing| serde_json::json!({"paired": p.paired, "only_a": p.only_a, "only_b": p.only_b});
    serde_json::json!({
        "train": pairing(&c.train),
        "test": pairing(&c.test),
        "method": "paired percentile bootstrap: records paired by id and scored tokens, resampled once per replicate with both evaluations read at the same resample (unpaired records resampled on their own side); 1000 replicates, fixed seed",
        "differences": c.differences.iter().map(|d| serde_json::json!({
            "name": d.name, "a": num(d.a), "b": num(d.b), "diff": num(d.diff),
            "ci95": ci(d.ci95), "unpaired_ci95": ci(d.unpaired_ci95),
        })).collect::<Vec<_>>(),
    })
}

pub fn run(a: CompareArgs) -> Result<()> {
    let (atr, ate) = read_records(&a.a)?;
    let (btr, bte) = read_records(&a.b)?;
    let c = paired::compare(
        Side {
            train: &atr,
            test: &ate,
        },
        Side {
            train: &btr,
            test: &bte,
        },
    );
    if c.train.paired + c.test.paired == 0 {
        eprintln!(
            "warning: no record of {} pairs with one of {} (ids or scored tokens differ): the \
             intervals are unpaired",
            a.a.display(),
            a.b.display()
        );
    }
    print(&c);
    if let Some(out) = &a.out {
        let text = serde_json::to_string_pretty(&to_json(&c))?;
        triad_data::fsutil::write_atomic(out, text.as_bytes())?;
    }
    Ok(())
}

//! The rule-based tagger against the generators' labels, on seeds never used while writing the
//! rules. The numbers printed here are the ones in docs/datasets.md.

use triad_data::generate::{generate, Domain, Spec};
use triad_data::tag_eval::evaluate;
use triad_data::tagger::tag_record;
use triad_data::Record;

fn measure(
    domain: Domain,
    seed: u64,
) -> (
    std::collections::BTreeMap<String, triad_data::tag_eval::Counts>,
    Vec<Record>,
) {
    let d = generate(&Spec {
        domain,
        train: 2000,
        test: 0,
        canaries: 0,
        canary_repeats: 0,
        records_per_user: None,
        seed,
    });
    let pred: Vec<Record> = d.train.iter().map(tag_record).collect();
    let (per, all) = evaluate(&d.train, &pred);
    println!("{} seed {seed}:", domain.name());
    print_table(&per, &all);
    (per, d.train)
}

#[test]
fn customer_support_precision_and_recall() {
    for seed in [2026, 4242] {
        let (per, _) = measure(Domain::CustomerSupport, seed);
        let all = per
            .values()
            .fold((0, 0, 0), |a, c| (a.0 + c.tp, a.1 + c.fp, a.2 + c.fn_));
        let (p, r) = (
            all.0 as f64 / (all.0 + all.1) as f64,
            all.0 as f64 / (all.0 + all.2) as f64,
        );
        assert!(
            p >= 0.95 && r >= 0.90,
            "seed {seed}: precision {p:.3}, recall {r:.3}"
        );
        for (label, c) in &per {
            assert!(c.recall() >= 0.8, "{label}: recall {:.3}", c.recall());
        }
    }
}

#[test]
fn biographies_on_the_classes_the_tagger_covers() {
    let (per, _) = measure(Domain::Biographies, 2026);
    for label in ["NAME", "DATE", "EMAIL"] {
        let c = per[label];
        assert!(
            c.precision() >= 0.95 && c.recall() >= 0.90,
            "{label}: {c:?}"
        );
    }
    // Cities, employers and universities are outside the tagger's rules: recall 0, said in the docs.
    assert_eq!(per["CITY"].tp, 0);
}

/// Out of distribution: values from Python Faker (en_US, en_GB, de_DE: other name lists and
/// address, phone and date layouts than Triad's generators) in sentences written for this test.
/// The rules were last adjusted looking at Faker seed 7; this measures seed 11.
#[test]
fn faker_values_out_of_distribution() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("faker.jsonl");
    triad_tests::run_oracle("faker_pii.py", &[file.to_str().unwrap(), "1000", "11"]);
    let gold: Vec<Record> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let pred: Vec<Record> = gold.iter().map(tag_record).collect();
    let (per, all) = evaluate(&gold, &pred);
    println!("faker seed 11 ({} records):", gold.len());
    print_table(&per, &all);
    // Regression guards a little under the measured values (see docs/datasets.md).
    assert!(all.precision() >= 0.95, "precision {:.3}", all.precision());
    assert!(all.recall() >= 0.85, "recall {:.3}", all.recall());
}

fn print_table(
    per: &std::collections::BTreeMap<String, triad_data::tag_eval::Counts>,
    all: &triad_data::tag_eval::Counts,
) {
    for (label, c) in per {
        println!(
            "  {label:12} P {:.3}  R {:.3}  ({} gold chars)",
            c.precision(),
            c.recall(),
            c.tp + c.fn_
        );
    }
    println!(
        "  overall      P {:.3}  R {:.3}",
        all.precision(),
        all.recall()
    );
}

//! The null tests of paired comparisons (issue 29): an evaluation compared with itself differs
//! by exactly 0 with intervals [0, 0]; two evaluations of the base model as its own checkpoint
//! on different non-member draws differ only by sampling, so over repeated draws their paired
//! intervals cover 0 at about the nominal 95% — and are as wide as the draws' own spread says,
//! not wider (an interval that always covers because it is huge would pass the first check).

use std::path::{Path, PathBuf};
use triad_data::generate::{generate, Domain, Spec};
use triad_evaluator::eval::run;
use triad_evaluator::metrics::paired::{compare, Comparison, Side};
use triad_evaluator::metrics::records::RecordStat;
use triad_evaluator::spec::EvalSpec;
use triad_lm::tch::Device;

const DRAWS: usize = 24;
const PER_SIDE: usize = 32;

fn tiny(dir: &Path) -> PathBuf {
    let model = dir.join("tiny");
    triad_tests::run_oracle(
        "tiny_lm_with_tokenizer.py",
        &[
            model.to_str().unwrap(),
            triad_tests::neox_tokenizer().to_str().unwrap(),
        ],
    );
    model
}

fn write(path: &Path, records: &[triad_data::Record]) {
    let text: String = records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    std::fs::write(path, text).unwrap();
}

type Stats = (Vec<RecordStat>, Vec<RecordStat>);

/// The base model as its own checkpoint on `train` and `test`: its per-record statistics.
fn evaluate(model: &Path, train: &Path, test: &Path, cache: &Path) -> Stats {
    let mut s = EvalSpec::new(
        model.to_path_buf(),
        train.to_path_buf(),
        test.to_path_buf(),
        Device::Cpu,
    );
    s.checkpoint = Some(model.to_path_buf());
    s.cache_dir = Some(cache.to_path_buf());
    let e = run(&s, &mut |_, _, _| {}).unwrap();
    triad_evaluator::metrics::paired::sides_of(&e.records)
}

fn side(s: &Stats) -> Side<'_> {
    Side {
        train: &s.0,
        test: &s.1,
    }
}

fn cmp(a: &Stats, b: &Stats) -> Comparison {
    compare(side(a), side(b))
}

#[test]
fn paired_intervals_sit_at_their_nulls() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny(tmp.path());
    let data = generate(&Spec {
        domain: Domain::CustomerSupport,
        train: PER_SIDE,
        test: 2 * DRAWS * PER_SIDE,
        canaries: 0,
        canary_repeats: 0,
        records_per_user: None,
        seed: 29,
    });
    let train = tmp.path().join("train.jsonl");
    write(&train, &data.train);
    let cache = tmp.path().join("cache");

    // Itself: every difference exactly 0, every interval [0, 0].
    let test = tmp.path().join("test-self.jsonl");
    write(&test, &data.test[..PER_SIDE]);
    let one = evaluate(&model, &train, &test, &cache);
    let c = cmp(&one, &one);
    assert_eq!((c.train.paired, c.test.paired), (PER_SIDE, PER_SIDE));
    for d in &c.differences {
        if d.a.is_nan() {
            continue; // a TPR 32 non-members cannot resolve
        }
        assert_eq!(d.diff, 0.0, "{}", d.name);
        assert_eq!(d.ci95, Some([0.0, 0.0]), "{}", d.name);
    }

    // Different non-member draws, same members, same model.
    let measures = ["utility_nll", "auc_loss", "auc_min_k_plus_plus", "auc_zlib"];
    let mut covered = [0usize; 4];
    let mut diffs: Vec<Vec<f64>> = vec![vec![]; 4];
    let mut widths: Vec<Vec<f64>> = vec![vec![]; 4];
    for i in 0..DRAWS {
        let part = |k: usize| &data.test[(2 * i + k) * PER_SIDE..(2 * i + k + 1) * PER_SIDE];
        let (ta, tb) = (tmp.path().join("a.jsonl"), tmp.path().join("b.jsonl"));
        write(&ta, part(0));
        write(&tb, part(1));
        let c = cmp(
            &evaluate(&model, &train, &ta, &cache),
            &evaluate(&model, &train, &tb, &cache),
        );
        assert_eq!(c.test.paired, 0, "the draws share no record");
        // The members and the model are the same: what depends on them alone does not move.
        for name in ["privacy_loss", "auc_reference", "auc_token_reference"] {
            let d = c.get(name).unwrap();
            assert_eq!((d.diff, d.ci95), (0.0, Some([0.0, 0.0])), "{name}");
        }
        for (k, name) in measures.iter().enumerate() {
            let d = c.get(name).unwrap();
            let [lo, hi] = d.ci95.unwrap();
            covered[k] += (lo <= 0.0 && 0.0 <= hi) as usize;
            diffs[k].push(d.diff);
            widths[k].push(hi - lo);
        }
    }
    for (k, name) in measures.iter().enumerate() {
        let n = DRAWS as f64;
        let mean = diffs[k].iter().sum::<f64>() / n;
        let sd = (diffs[k].iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let width = widths[k].iter().sum::<f64>() / n;
        println!(
            "{name}: {}/{DRAWS} paired intervals cover 0; mean width {width:.4}, 3.92 × sd of \
             the draws' differences {:.4}",
            covered[k],
            3.92 * sd
        );
        // P(at most 19 of 24 cover | 95%) ≈ 0.008.
        assert!(covered[k] >= 20, "{name}: {}/{DRAWS}", covered[k]);
        // The width matches the spread the draws really have (±50%; the sd of 24 draws is
        // itself uncertain by about 15%).
        let ratio = width / (3.92 * sd);
        assert!(
            (0.5..1.5).contains(&ratio),
            "{name}: width / spread {ratio:.2}"
        );
    }
}

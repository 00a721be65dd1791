//! Triad's PLD accountant against dp_accounting's `PLDAccountant` (its defaults: add/remove
//! neighbours, grid 1e-4, connect-the-dots), and the PLD σ search against the same oracle.

use triad_trainer::dp::{pld, Accountant};

fn oracle(grid: &[(f64, f64, u64, f64)]) -> Vec<f64> {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("grid.json");
    let json = serde_json::json!({
        "epsilon": grid.iter().map(|&(q, s, t, d)| serde_json::json!([q, s, t, d])).collect::<Vec<_>>(),
    });
    std::fs::write(&file, json.to_string()).unwrap();
    let out = triad_tests::run_oracle("dp_accounting_pld.py", &[file.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    v["epsilon"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::INFINITY))
        .collect()
}

#[test]
fn epsilon_matches_dp_accounting_within_one_percent() {
    let mut grid = vec![];
    // (q, T) as DP fine-tuning uses them: small q over many steps, large q over few.
    for (q, steps) in [
        (0.001, 3000u64),
        (0.01, 1),
        (0.01, 1000),
        (0.05, 100),
        (0.25, 30),
        (1.0, 10),
    ] {
        for sigma in [0.6, 1.0, 2.0, 5.0] {
            for delta in [1e-5, 1e-7] {
                grid.push((q, sigma, steps, delta));
            }
        }
    }
    let want = oracle(&grid);
    let mut worst: f64 = 0.0;
    for (&(q, s, t, d), &theirs) in grid.iter().zip(&want) {
        let ours = pld::epsilon(q, s, t, d);
        if theirs == 0.0 {
            assert!(ours < 1e-3, "q={q} σ={s} T={t} δ={d}: triad {ours} vs 0");
            continue;
        }
        let rel = ((ours - theirs) / theirs).abs();
        worst = worst.max(rel);
        // Never below the reference (both are pessimistic bounds on the same curve).
        assert!(
            ours >= theirs * (1.0 - 1e-6),
            "q={q} σ={s} T={t} δ={d}: triad {ours} below dp_accounting {theirs}"
        );
        assert!(
            rel <= 0.01,
            "q={q} σ={s} T={t} δ={d}: triad {ours} vs dp_accounting {theirs} (rel {rel:.2e})"
        );
    }
    println!(
        "PLD ε: {} grid points, worst relative difference {worst:.1e}",
        grid.len()
    );
}

#[test]
fn noise_search_lands_within_one_percent_below_the_target() {
    let mut cases = vec![];
    for target in [0.5, 8.0] {
        for (q, steps) in [(0.01, 1000u64), (0.125, 24), (1.0, 10)] {
            cases.push((target, q, steps));
        }
    }
    let delta = 1e-5;
    let sigmas: Vec<f64> = cases
        .iter()
        .map(|&(e, q, t)| {
            Accountant::Pld
                .noise_multiplier(e, delta, q, t, 0.01)
                .unwrap_or_else(|| panic!("target {e} q={q} T={t}: no σ"))
        })
        .collect();
    let grid: Vec<_> = cases
        .iter()
        .zip(&sigmas)
        .map(|(&(_, q, t), &s)| (q, s, t, delta))
        .collect();
    let theirs = oracle(&grid);
    for ((&(target, q, t), &s), &eps) in cases.iter().zip(&sigmas).zip(&theirs) {
        assert!(
            eps <= target && eps >= 0.99 * target,
            "target {target} q={q} T={t}: σ {s} gives dp_accounting ε {eps}"
        );
        // Less noise than RDP asks for the same target.
        let rdp = Accountant::Rdp
            .noise_multiplier(target, delta, q, t, 0.01)
            .unwrap();
        assert!(
            s < rdp,
            "target {target} q={q} T={t}: PLD σ {s} ≥ RDP σ {rdp}"
        );
    }
}

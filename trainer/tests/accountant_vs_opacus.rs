//! Triad's RDP accountant against Opacus's `RDPAccountant` and `get_noise_multiplier`.

use triad_trainer::dp::{epsilon, noise_multiplier};

#[test]
fn epsilon_and_noise_match_opacus() {
    let mut eps_grid = vec![];
    for q in [0.001, 0.004, 0.01, 0.05, 0.2, 1.0] {
        for sigma in [0.5, 0.7, 1.0, 1.3, 2.0, 5.0] {
            for steps in [1u64, 100, 1000, 10000] {
                for delta in [1e-5, 1e-6] {
                    eps_grid.push((q, sigma, steps, delta));
                }
            }
        }
    }
    let mut noise_grid = vec![];
    for target in [0.5, 1.0, 3.0, 8.0] {
        for (q, steps) in [(0.01, 100u64), (0.01, 3000), (0.05, 1000), (0.2, 50)] {
            noise_grid.push((target, 1e-5, q, steps));
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let grid_file = tmp.path().join("grid.json");
    let grid = serde_json::json!({
        "epsilon": eps_grid.iter().map(|&(q, s, t, d)| serde_json::json!([q, s, t, d])).collect::<Vec<_>>(),
        "noise": noise_grid.iter().map(|&(e, d, q, t)| serde_json::json!([e, d, q, t])).collect::<Vec<_>>(),
    });
    std::fs::write(&grid_file, grid.to_string()).unwrap();
    let out = triad_tests::run_oracle("opacus_rdp.py", &[grid_file.to_str().unwrap()]);
    let want: serde_json::Value = serde_json::from_str(out.trim()).unwrap();

    let mut worst: f64 = 0.0;
    for (i, &(q, s, t, d)) in eps_grid.iter().enumerate() {
        let theirs = want["epsilon"][i].as_f64().unwrap();
        let ours = epsilon(q, s, t, d);
        let rel = ((ours - theirs) / theirs).abs();
        worst = worst.max(rel);
        assert!(
            rel <= 1e-6,
            "q={q} σ={s} T={t} δ={d}: triad {ours} vs opacus {theirs} (rel {rel:e})"
        );
    }
    println!(
        "epsilon: {} grid points, worst relative difference {worst:.1e}",
        eps_grid.len()
    );
    for (i, &(e, d, q, t)) in noise_grid.iter().enumerate() {
        let theirs = want["noise"][i].as_f64();
        let ours = noise_multiplier(e, d, q, t, 0.01);
        match (ours, theirs) {
            (Some(a), Some(b)) => {
                // Same bisection, same steps: equal up to float noise; and within the tolerance in ε.
                assert!(
                    (a - b).abs() <= 1e-9 * b,
                    "target ε={e} q={q} T={t}: σ {a} vs opacus {b}"
                );
                let reached = epsilon(q, a, t, d);
                assert!(
                    reached <= e && e - reached <= 0.01,
                    "ε {reached} for target {e}"
                );
            }
            (None, None) => {}
            other => panic!("target ε={e} q={q} T={t}: {other:?}"),
        }
    }
}

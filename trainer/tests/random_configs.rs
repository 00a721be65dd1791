//! The config parser against thousands of random RUN.toml variants (`triad_tests::fuzz`):
//! each parses to a config whose numbers are in range, or fails with a message that names the
//! file — never a panic, and quickly.

use std::path::Path;
use std::time::{Duration, Instant};

#[test]
fn thousands_of_random_configs_parse_or_fail_naming_what_is_wrong() {
    let mut r = triad_tests::fuzz::Rand(14);
    let start = Instant::now();
    let (mut ok, mut refused) = (0, 0);
    for i in 0..5000 {
        let text = triad_tests::fuzz::random_config(&mut r);
        let parsed = std::panic::catch_unwind(|| {
            triad_trainer::config::RunConfig::from_toml(&text, Path::new("RUN.toml"))
        });
        match parsed {
            Err(_) => panic!("case {i} panicked the parser:\n{text}"),
            Ok(Ok(cfg)) => {
                ok += 1;
                // What is accepted is in range.
                let o = &cfg.optimizer;
                assert!(o.lr > 0.0 && o.lr.is_finite(), "case {i}:\n{text}");
                assert!(
                    cfg.batch_size > 0 && cfg.max_length >= 2,
                    "case {i}:\n{text}"
                );
                let finite = [o.weight_decay, o.eps, o.betas[0], o.betas[1], o.momentum];
                assert!(
                    finite.iter().all(|x| x.is_finite() && *x >= 0.0),
                    "case {i}:\n{text}"
                );
                let steps = cfg.steps.unwrap_or(1).max(cfg.epochs.unwrap_or(1));
                assert!(steps <= 1_000_000_000, "case {i}:\n{text}");
                if let Some(l) = &cfg.lora {
                    assert!(
                        l.r > 0 && l.alpha > 0.0 && l.alpha.is_finite(),
                        "case {i}:\n{text}"
                    );
                }
                if let Some(dp) = cfg.dp.as_ref().filter(|_| cfg.method.is_private()) {
                    let s = dp.noise_multiplier.or(dp.target_epsilon).unwrap();
                    assert!(s > 0.0 && s.is_finite(), "case {i}:\n{text}");
                }
            }
            Ok(Err(e)) => {
                refused += 1;
                let msg = e.to_string();
                assert!(msg.starts_with("RUN.toml: "), "case {i}: {msg}");
                assert!(msg.len() < 2000, "case {i}: a {}-byte message", msg.len());
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "too slow at case {i}"
        );
    }
    println!(
        "5000 configs: {ok} accepted, {refused} refused, {:?}",
        start.elapsed()
    );
    assert!(
        ok > 100 && refused > 1000,
        "the generator must reach both sides"
    );
}

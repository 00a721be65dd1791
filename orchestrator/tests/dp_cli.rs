//! `triad dp epsilon | noise` through the binary (the accountant itself is checked against Opacus
//! in triad-trainer's tests).

use std::process::Command;

fn triad(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_triad"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn epsilon_and_noise_roundtrip() {
    let out = triad(&[
        "dp",
        "noise",
        "--sampling-rate",
        "0.01",
        "--steps",
        "3000",
        "--delta",
        "1e-5",
        "--target-epsilon",
        "8",
        "--accountant",
        "rdp",
        "--json",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sigma = v["noise_multiplier"].as_f64().unwrap();
    let s = sigma.to_string();
    let out = triad(&[
        "dp",
        "epsilon",
        "--sampling-rate",
        "0.01",
        "--noise-multiplier",
        &s,
        "--steps",
        "3000",
        "--delta",
        "1e-5",
        "--accountant",
        "rdp",
    ]);
    assert!(out.status.success());
    let eps: f64 = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(eps <= 8.0 && eps > 7.99, "{eps}");
    assert_eq!(eps, v["epsilon"].as_f64().unwrap());
}

/// The default accountant is PLD: its σ for ε = 8 is smaller than RDP's, and spends at most 8
/// (within the search's 0.5%).
#[test]
fn pld_is_the_default_and_needs_less_noise() {
    let sigma = |acc: &[&str]| -> (f64, f64) {
        let mut args = vec![
            "dp",
            "noise",
            "--sampling-rate",
            "0.01",
            "--steps",
            "3000",
            "--delta",
            "1e-5",
            "--target-epsilon",
            "8",
            "--json",
        ];
        args.extend(acc);
        let out = triad(&args);
        assert!(out.status.success());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            v["noise_multiplier"].as_f64().unwrap(),
            v["epsilon"].as_f64().unwrap(),
        )
    };
    let (default, eps) = sigma(&[]);
    assert_eq!((default, eps), sigma(&["--accountant", "pld"]));
    assert!((7.96..=8.0).contains(&eps), "{eps}");
    let (rdp, _) = sigma(&["--accountant", "rdp"]);
    assert!(default < rdp * 0.97, "PLD σ {default} vs RDP σ {rdp}");
}

#[test]
fn bad_arguments_are_clear_errors() {
    for (args, what) in [
        (
            vec![
                "dp",
                "epsilon",
                "--sampling-rate",
                "1.5",
                "--noise-multiplier",
                "1",
                "--steps",
                "10",
                "--delta",
                "1e-5",
            ],
            "--sampling-rate",
        ),
        (
            vec![
                "dp",
                "epsilon",
                "--sampling-rate",
                "0.1",
                "--noise-multiplier",
                "1",
                "--steps",
                "10",
                "--delta",
                "2",
            ],
            "--delta",
        ),
        (
            vec![
                "dp",
                "noise",
                "--sampling-rate",
                "1",
                "--steps",
                "100000",
                "--delta",
                "1e-5",
                "--target-epsilon",
                "0.0001",
            ],
            "budget is too low",
        ),
    ] {
        let out = triad(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error:") && err.contains(what), "{err}");
    }
}

//! `triad dp epsilon | noise`: the RDP accountant (Opacus's numbers) or the PLD accountant
//! (dp_accounting's), `--accountant rdp|pld`.

use anyhow::{ensure, Result};
use clap::Subcommand;
use triad_trainer::dp::Accountant;

#[derive(Subcommand)]
pub enum DpCommand {
    /// ε spent after T steps of DP-SGD with Poisson sampling rate q and noise multiplier σ.
    Epsilon {
        #[arg(long)]
        sampling_rate: f64,
        #[arg(long)]
        noise_multiplier: f64,
        #[arg(long)]
        steps: u64,
        #[arg(long)]
        delta: f64,
        /// `pld` (dp_accounting's PLDAccountant, tighter) or `rdp` (Opacus's RDPAccountant).
        #[arg(long, default_value = "pld")]
        accountant: Accountant,
        /// Print a JSON object instead of the number.
        #[arg(long)]
        json: bool,
    },
    /// The noise multiplier σ that spends at most the target ε over T steps.
    Noise {
        #[arg(long)]
        sampling_rate: f64,
        #[arg(long)]
        steps: u64,
        #[arg(long)]
        delta: f64,
        #[arg(long)]
        target_epsilon: f64,
        /// How close below the target ε the search stops (Opacus's epsilon_tolerance; PLD
        /// also stops within 0.5% of the target).
        #[arg(long, default_value_t = 0.01)]
        tolerance: f64,
        #[arg(long, default_value = "pld")]
        accountant: Accountant,
        #[arg(long)]
        json: bool,
    },
}

fn check_common(q: f64, delta: f64) -> Result<()> {
    ensure!(
        q > 0.0 && q <= 1.0,
        "--sampling-rate must be in (0, 1], got {q}"
    );
    ensure!(
        delta > 0.0 && delta < 1.0,
        "--delta must be in (0, 1), got {delta}"
    );
    Ok(())
}

pub fn run(cmd: DpCommand) -> Result<()> {
    match cmd {
        DpCommand::Epsilon {
            sampling_rate,
            noise_multiplier,
            steps,
            delta,
            accountant,
            json,
        } => {
            check_common(sampling_rate, delta)?;
            ensure!(
                noise_multiplier >= 0.0,
                "--noise-multiplier must be non-negative, got {noise_multiplier}"
            );
            let eps = accountant.epsilon(sampling_rate, noise_multiplier, steps, delta);
            if json {
                println!(
                    "{}",
                    serde_json::json!({"epsilon": eps, "delta": delta, "sampling_rate": sampling_rate,
                        "noise_multiplier": noise_multiplier, "steps": steps, "accountant": accountant.name()})
                );
            } else {
                println!("{eps}");
            }
        }
        DpCommand::Noise {
            sampling_rate,
            steps,
            delta,
            target_epsilon,
            tolerance,
            accountant,
            json,
        } => {
            check_common(sampling_rate, delta)?;
            ensure!(
                target_epsilon > 0.0,
                "--target-epsilon must be positive, got {target_epsilon}"
            );
            ensure!(tolerance > 0.0, "--tolerance must be positive");
            let sigma = accountant.noise_multiplier(target_epsilon, delta, sampling_rate, steps, tolerance).ok_or_else(|| {
                anyhow::anyhow!("ε = {target_epsilon} cannot be reached with σ ≤ 1e6 over {steps} steps at q = {sampling_rate}: the privacy budget is too low")
            })?;
            let eps = accountant.epsilon(sampling_rate, sigma, steps, delta);
            if json {
                println!(
                    "{}",
                    serde_json::json!({"noise_multiplier": sigma, "epsilon": eps, "target_epsilon": target_epsilon,
                        "delta": delta, "sampling_rate": sampling_rate, "steps": steps, "accountant": accountant.name()})
                );
            } else {
                println!("{sigma}");
            }
        }
    }
    Ok(())
}

//! `triad train --config RUN.toml [--out DIR]`: one run, in-process, with progress.

use anyhow::Result;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;
use triad_trainer::{Event, RunConfig};

pub fn run(config: &Path, out: Option<PathBuf>) -> Result<()> {
    let cfg = RunConfig::from_file(config)?;
    let out = out.unwrap_or_else(|| {
        let stem = config
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or("run".into());
        config
            .parent()
            .unwrap_or(Path::new("."))
            .join("runs")
            .join(stem)
    });
    let tty = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut last_print = Instant::now() - std::time::Duration::from_secs(60);
    let record = triad_trainer::train(&cfg, &out, None, |e| {
        match e {
        Event::Started { total_steps, examples, trainable_parameters } => eprintln!(
            "training {:?} on {examples} examples: {total_steps} steps, {trainable_parameters} trainable parameters → {}",
            cfg.method,
            out.display()
        ),
        Event::Step { step, total_steps, epoch, loss, lr, tokens_per_second, epsilon } => {
            let every = if tty { 0.2 } else { 5.0 };
            if last_print.elapsed().as_secs_f64() < every && step < total_steps {
                return;
            }
            last_print = Instant::now();
            let elapsed = started.elapsed().as_secs_f64();
            let eta = elapsed / *step as f64 * (*total_steps - *step) as f64;
            let eps = if *epsilon > 0.0 { format!("  ε {epsilon:.2}") } else { String::new() };
            // Private runs publish no loss (it is not noised): steps and ε only.
            let loss = loss.map(|l| format!("  loss {l:.4}")).unwrap_or_default();
            let line = format!(
                "step {step}/{total_steps} (epoch {epoch}){loss}  lr {lr:.2e}  {tokens_per_second:.0} tok/s{eps}  ETA {eta:.0}s"
            );
            if tty {
                eprint!("\r\x1b[2K{line}");
            } else {
                eprintln!("{line}");
            }
        }
        Event::Checkpoint { epoch, path, .. } => {
            if tty {
                eprintln!();
            }
            eprintln!("epoch {epoch}: checkpoint {}", path.display());
        }
    }
    })?;
    eprintln!(
        "done: {} steps, {:.1}s, {:.0} tokens/s, peak memory {:.2} GiB{}; run record {}",
        record.steps_done,
        record.wall_time_s,
        record.tokens_per_second,
        record.peak_memory_bytes.unwrap_or(0) as f64 / (1u64 << 30) as f64,
        record
            .peak_device_memory_bytes
            .map(|b| format!(" (GPU {:.2} GiB)", b as f64 / (1u64 << 30) as f64))
            .unwrap_or_default(),
        out.join("run.json").display()
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub fn bench(
    model: &Path,
    method: &str,
    batch: i64,
    seq: i64,
    warmup: usize,
    steps: usize,
    targets: &str,
    r: i64,
    device: &str,
) -> Result<()> {
    let method: triad_trainer::config::Method = serde_json::from_value(serde_json::json!(method))
        .map_err(|_| {
        anyhow::anyhow!("--method `{method}`: expected full, lora, dp or dp-lora")
    })?;
    anyhow::ensure!(
        batch > 0 && seq > 1 && steps > 0,
        "--batch, --seq and --steps must be positive"
    );
    let device = triad_lm::device::parse_device(device)?;
    let lm = triad_lm::CausalLm::load(model, triad_lm::tch::Kind::Float, device)?;
    let lora = triad_trainer::config::LoraConfig {
        r,
        target_modules: targets.split(',').map(str::to_owned).collect(),
        ..Default::default()
    };
    let t = triad_trainer::bench::time_steps(lm, method, &lora, batch, seq, warmup, steps)?;
    let mut v = serde_json::to_value(&t)?;
    v["impl"] = "triad".into();
    v["threads"] = triad_lm::tch::get_num_threads().into();
    v["peak_rss_bytes"] = triad_trainer::memory::peak_rss_bytes().unwrap_or(0).into();
    println!("{v}");
    Ok(())
}

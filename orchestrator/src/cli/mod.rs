//! Command-line parsing and dispatch.

mod compare;
mod data;
mod dp;
mod eval;
mod guard;
mod model;
mod study;
mod train;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "triad",
    version,
    about = "Fine-tune language models on private data and measure what it costs."
)]
pub struct Cli {
    /// CPU threads for libtorch (default: libtorch's choice, usually all cores).
    #[arg(long, global = true)]
    threads: Option<i32>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Import, score with and generate from models.
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// Generate, check and tag datasets with sensitive spans.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Fine-tune a model: one run described by RUN.toml.
    Train {
        #[arg(long)]
        config: std::path::PathBuf,
        /// Output folder (default: runs/<config name> next to the config).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Time training steps of one method on a random batch; prints one JSON line.
    BenchTrain {
        #[arg(long)]
        model: std::path::PathBuf,
        /// full, lora, dp or dp-lora.
        #[arg(long)]
        method: String,
        #[arg(long, default_value_t = 8)]
        batch: i64,
        #[arg(long, default_value_t = 128)]
        seq: i64,
        #[arg(long, default_value_t = 1)]
        warmup: usize,
        #[arg(long, default_value_t = 3)]
        steps: usize,
        /// LoRA target modules, comma-separated.
        #[arg(long, default_value = "q_proj,v_proj")]
        lora_targets: String,
        #[arg(long, default_value_t = 8)]
        lora_r: i64,
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// One-run privacy audits: plant audit canaries into your own training data.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Score a checkpoint for memorisation of sensitive tokens and for utility (METRICS.json).
    Eval(eval::EvalArgs),
    /// Compare two evaluations of the same data record by record: every difference A − B
    /// with a paired bootstrap interval (RECORDS.json files from `triad eval`).
    Compare(compare::CompareArgs),
    /// The DP-SGD privacy accountant (RDP, as Opacus).
    #[command(subcommand)]
    Dp(dp::DpCommand),
    /// Run a study: train every method of a spec, evaluate every checkpoint, write the report.
    #[command(subcommand)]
    Study(StudyCommand),
    /// Re-render a study's report (report.html, report.md, results.csv) from its ledger.
    Report {
        /// The study folder.
        dir: std::path::PathBuf,
    },
    /// The default study: full, LoRA, DP and DP-LoRA fine-tuning of SmolLM2-135M on generated
    /// customer-support dialogues with canaries, evaluated every epoch, reported.
    Demo(study::DemoArgs),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Plant audit canaries into a training file: DIR/train.jsonl (the input plus the canaries
    /// the coins include, once each) and DIR/audit.jsonl (every canary with its coin). Train on
    /// DIR/train.jsonl and keep audit.jsonl away from training; `triad eval --audit` scores it.
    Plant {
        /// Your training file (JSONL: id, text, spans).
        input: std::path::PathBuf,
        /// Audit canaries to draw (each included by a fair coin).
        #[arg(long)]
        canaries: usize,
        /// Seed of the secrets, the coins and the positions.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// The secrets' design: random digits, or rare tokens of the model's vocabulary.
        #[arg(long, value_enum, default_value_t = data::AuditDesign::RareTokens)]
        design: data::AuditDesign,
        /// Model folder whose tokenizer.json the rare-token design draws from.
        #[arg(long)]
        model: Option<std::path::PathBuf>,
        /// Records per included canary; above 1 each canary is a user of its own and the audit
        /// bounds ε per user.
        #[arg(long, default_value_t = 1)]
        copies: usize,
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum StudyCommand {
    /// Run (or resume) the study a spec describes.
    Run(study::StudyArgs),
}

/// Longest error text the CLI prints, in bytes: an error quoting a megabyte of input (a
/// config value, a service's reply) is cut, not printed whole.
const MAX_ERROR_BYTES: usize = 4096;

pub fn run(cli: Cli) -> anyhow::Result<()> {
    dispatch(cli).map_err(|e| {
        let line = triad_lm::runtime::error_line(e.chain().map(|c| c.to_string()));
        if line.len() <= MAX_ERROR_BYTES {
            return e;
        }
        let mut cut = MAX_ERROR_BYTES;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        anyhow::anyhow!("{}… (error cut: {} bytes in all)", &line[..cut], line.len())
    })
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    if let Some(n) = cli.threads {
        anyhow::ensure!(n > 0, "--threads must be positive, got {n}");
        triad_lm::tch::set_num_threads(n);
        triad_lm::threads::set_total(n as usize);
    }
    match cli.command {
        Command::Model(c) => model::run(c),
        Command::Data(c) => data::run(c),
        Command::Dp(c) => dp::run(c),
        Command::Eval(a) => eval::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Audit(AuditCommand::Plant {
            input,
            canaries,
            seed,
            design,
            model,
            copies,
            out,
        }) => {
            let audit = data::AuditArgs {
                audit_canaries: canaries,
                audit_design: design,
                audit_model: model,
                audit_copies: copies,
            };
            data::plant(&input, seed, &audit, &out)
        }
        Command::Study(StudyCommand::Run(a)) => study::run_study(&a.spec, a.dir, a.place),
        Command::Report { dir } => study::report(&dir),
        Command::Demo(a) => study::demo(a),
        Command::Train { config, out } => train::run(&config, out),
        Command::BenchTrain {
            model,
            method,
            batch,
            seq,
            warmup,
            steps,
            lora_targets,
            lora_r,
            device,
        } => train::bench(
            &model,
            &method,
            batch,
            seq,
            warmup,
            steps,
            &lora_targets,
            lora_r,
            &device,
        ),
    }
}

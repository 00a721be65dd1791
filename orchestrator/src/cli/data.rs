//! `triad data …`: generate, check and tag datasets with sensitive spans.

use anyhow::{bail, Context, Result};
use clap::{Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use triad_lm::data::check::check_bytes;
use triad_lm::data::generate::{self, Domain, Spec};
use triad_lm::data::mask::sensitive_spans;
use triad_lm::data::{tag_eval, tagger, Record};
use triad_lm::fsutil::AtomicFile;
use triad_lm::tokenizer::Tokenizer;

#[derive(Clone, Copy, ValueEnum)]
pub enum Generator {
    /// Multi-turn dialogues between a support agent and a customer.
    CustomerSupport,
    /// Short biographies.
    Biographies,
}

#[derive(Subcommand)]
pub enum DataCommand {
    /// Generate a synthetic dataset with exactly labelled personal data.
    Generate {
        generator: Generator,
        #[arg(long, default_value_t = 1000)]
        train: usize,
        #[arg(long, default_value_t = 200)]
        test: usize,
        /// Canary records (fixed pattern, random 6-digit PIN) written to canaries.jsonl.
        #[arg(long, default_value_t = 0)]
        canaries: usize,
        /// How many times each canary is inserted into the training split.
        #[arg(long, default_value_t = 1)]
        canary_repeats: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output folder: train.jsonl, test.jsonl, canaries.jsonl, dataset.json.
        #[arg(long)]
        out: PathBuf,
    },
    /// Validate a dataset file; with --model, print token statistics per label.
    Check {
        file: PathBuf,
        /// Model folder whose tokenizer.json to count tokens with.
        #[arg(long)]
        model: Option<PathBuf>,
    },
    /// Tag personal data in unlabelled text with rules. When the input already has spans, also
    /// prints the tagger's precision and recall against them.
    Tag {
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(cmd: DataCommand) -> Result<()> {
    match cmd {
        DataCommand::Generate {
            generator,
            train,
            test,
            canaries,
            canary_repeats,
            seed,
            out,
        } => {
            anyhow::ensure!(train > 0, "--train must be positive");
            anyhow::ensure!(
                canaries == 0 || canary_repeats > 0,
                "--canary-repeats must be positive"
            );
            let spec = Spec {
                domain: match generator {
                    Generator::CustomerSupport => Domain::CustomerSupport,
                    Generator::Biographies => Domain::Biographies,
                },
                train,
                test,
                canaries,
                canary_repeats,
                seed,
            };
            let d = generate::generate(&spec);
            generate::write(&out, &spec, &d)?;
            let spans: usize = d.train.iter().chain(&d.test).map(|r| r.spans.len()).sum();
            eprintln!(
                "wrote {}: {} train records ({} canary copies), {} test records, {spans} labelled spans, seed {seed}",
                out.display(),
                d.train.len(),
                canaries * canary_repeats,
                d.test.len()
            );
        }
        DataCommand::Check { file, model } => check(&file, model.as_deref())?,
        DataCommand::Tag { input, out } => tag(&input, &out)?,
    }
    Ok(())
}

fn check(file: &Path, model: Option<&Path>) -> Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("{}", file.display()))?;
    let checked = check_bytes(&bytes);
    let mut err = std::io::stderr().lock();
    for p in &checked.problems {
        writeln!(err, "{}:{}: {}", file.display(), p.line, p.message)?;
    }
    if !checked.problems.is_empty() {
        let lines: std::collections::BTreeSet<usize> =
            checked.problems.iter().map(|p| p.line).collect();
        bail!(
            "{}: {} problems on {} lines",
            file.display(),
            checked.problems.len(),
            lines.len()
        );
    }
    let spans: usize = checked.records.iter().map(|(_, r)| r.spans.len()).sum();
    println!(
        "{}: ok — {} records, {spans} spans",
        file.display(),
        checked.records.len()
    );
    if let Some(m) = model {
        let tok = Tokenizer::from_file(m.join("tokenizer.json"))?;
        let (mut tokens, mut sensitive) = (0usize, 0usize);
        let mut per_label: BTreeMap<String, usize> = BTreeMap::new();
        for (line, r) in &checked.records {
            let enc = tok
                .encode(&r.text)
                .with_context(|| format!("{}:{line}: tokenising", file.display()))?;
            tokens += enc.ids.len();
            for k in sensitive_spans(&enc.offsets, &r.spans)
                .into_iter()
                .flatten()
            {
                sensitive += 1;
                *per_label.entry(r.spans[k].label.clone()).or_default() += 1;
            }
        }
        println!(
            "tokens: {tokens}, sensitive: {sensitive} ({:.2}%)",
            100.0 * sensitive as f64 / tokens.max(1) as f64
        );
        for (label, n) in per_label {
            println!(
                "  {label:14} {n:8} tokens  {:6.2}%",
                100.0 * n as f64 / tokens.max(1) as f64
            );
        }
    }
    Ok(())
}

fn tag(input: &Path, out: &Path) -> Result<()> {
    let mut records = Vec::new();
    for line in triad_lm::jsonl::read_objects(input)? {
        let r: Record = serde_json::from_value(line.value).with_context(|| {
            format!(
                "{}:{}: expected {{\"id\": str, \"text\": str}}",
                input.display(),
                line.number
            )
        })?;
        records.push(r);
    }
    let tagged: Vec<Record> = records.iter().map(tagger::tag_record).collect();
    let mut f = AtomicFile::create(out)?;
    for r in &tagged {
        writeln!(f, "{}", r.to_json_line())?;
    }
    f.commit()?;
    let spans: usize = tagged.iter().map(|r| r.spans.len()).sum();
    eprintln!(
        "tagged {} records, {spans} spans → {}",
        tagged.len(),
        out.display()
    );
    if records.iter().any(|r| !r.spans.is_empty()) {
        let (per, all) = tag_eval::evaluate(&records, &tagged);
        println!("character-level agreement with the input's spans:");
        println!("  {:14} {:>9} {:>9}", "class", "precision", "recall");
        for (label, c) in &per {
            println!("  {label:14} {:9.3} {:9.3}", c.precision(), c.recall());
        }
        println!(
            "  {:14} {:9.3} {:9.3}",
            "overall",
            all.precision(),
            all.recall()
        );
    }
    Ok(())
}

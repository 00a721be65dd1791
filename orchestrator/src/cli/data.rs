//! `triad data …`: generate, check and tag datasets with sensitive spans.

use anyhow::{bail, Context, Result};
use clap::{Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use triad_data::audit::{self, Design};
use triad_data::check::check_bytes;
use triad_data::fsutil::AtomicFile;
use triad_data::generate::{self, Domain, Spec};
use triad_data::mask::sensitive_spans;
use triad_data::tokenizer::Tokenizer;
use triad_data::{tag_eval, tagger, Record};

#[derive(Clone, Copy, ValueEnum)]
pub enum Generator {
    /// Multi-turn dialogues between a support agent and a customer.
    CustomerSupport,
    /// Short biographies.
    Biographies,
}

/// Audit canaries for a one-run privacy audit (`triad eval --audit`).
#[derive(clap::Args)]
pub struct AuditArgs {
    /// Audit canaries: each put once into the training split by a fair coin, every coin
    /// written to audit.jsonl (which training never reads). 0: none.
    #[arg(long, default_value_t = 0)]
    pub audit_canaries: usize,
    /// The secrets' design: random digits, or rare tokens of the model's vocabulary.
    #[arg(long, value_enum, default_value_t = AuditDesign::RareTokens)]
    pub audit_design: AuditDesign,
    /// Model folder whose tokenizer.json the rare-token design draws from.
    #[arg(long)]
    pub audit_model: Option<PathBuf>,
    /// Records per included audit canary. Above 1 each canary is a user whose records all
    /// repeat its secret: the audit then bounds ε per user (docs/evaluator.md, "One-run
    /// audit per user").
    #[arg(long, default_value_t = 1)]
    pub audit_copies: usize,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum AuditDesign {
    Digits,
    RareTokens,
}

impl AuditArgs {
    fn design(&self) -> Design {
        match self.audit_design {
            AuditDesign::Digits => Design::Digits,
            AuditDesign::RareTokens => Design::RareTokens,
        }
    }

    /// The model's tokenizer, where the design needs one.
    fn tokenizer(&self) -> Result<Option<Tokenizer>> {
        match (&self.audit_model, self.design()) {
            (_, Design::Digits) => Ok(None),
            (Some(m), Design::RareTokens) => {
                Ok(Some(Tokenizer::from_file(m.join("tokenizer.json"))?))
            }
            (None, Design::RareTokens) => bail!(
                "--audit-design rare-tokens draws from the model's vocabulary: give --audit-model \
                 MODEL_DIR (or --audit-design digits)"
            ),
        }
    }

    /// Refuse a count too small for any bound, before anything is written or trained.
    pub fn check(&self) -> Result<()> {
        let m = self.audit_canaries;
        anyhow::ensure!(
            m == 0 || m >= audit::MIN_CANARIES,
            "--audit-canaries {m}: at least {} are needed for any bound (≥ 100 for a bound \
             above 3; 1,000 for one near 5.8)",
            audit::MIN_CANARIES
        );
        anyhow::ensure!(
            (1..=audit::MAX_COPIES).contains(&self.audit_copies),
            "--audit-copies {}: must be 1 to {}",
            self.audit_copies,
            audit::MAX_COPIES
        );
        Ok(())
    }
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
        /// Repeat customers (customer-support): records per user, a count K or geometric:MEAN.
        /// Each user's dialogues share their name, e-mail, phone, address, card and IBAN;
        /// orders are fresh. Records then carry a `user` field; no user is in both splits.
        #[arg(long)]
        records_per_user: Option<String>,
        #[command(flatten)]
        audit: AuditArgs,
        /// Output folder: train.jsonl, test.jsonl, canaries.jsonl, audit.jsonl, dataset.json.
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
            records_per_user,
            audit,
            out,
        } => {
            anyhow::ensure!(train > 0, "--train must be positive");
            audit.check()?;
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
                records_per_user: records_per_user
                    .as_deref()
                    .map(generate::PerUser::parse)
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
                seed,
            };
            spec.check().map_err(anyhow::Error::msg)?;
            let mut d = generate::generate(&spec);
            if audit.audit_canaries > 0 {
                let tok = audit.tokenizer()?;
                d.add_audit(
                    audit.audit_canaries,
                    audit.design(),
                    seed,
                    tok.as_ref(),
                    audit.audit_copies,
                )?;
            }
            generate::write(&out, &spec, &d)?;
            let spans: usize = d.train.iter().chain(&d.test).map(|r| r.spans.len()).sum();
            eprintln!(
                "wrote {}: {} train records ({} canary copies, {} audit canaries of {}), {} test records, {spans} labelled spans, seed {seed}",
                out.display(),
                d.train.len(),
                canaries * canary_repeats,
                d.audit.iter().filter(|c| c.included).count(),
                d.audit.len(),
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
    print_users(&checked.records);
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

/// Users, records per user and the secrets a user's records repeat (what per-record privacy
/// does not cover).
fn print_users(numbered: &[(usize, Record)]) {
    let records: Vec<Record> = numbered.iter().map(|(_, r)| r.clone()).collect();
    let users = triad_data::users::Users::of_records(&records);
    if !users.named {
        println!("users: none named (every record is its own user)");
        return;
    }
    let (min, median, max) = users.spread();
    let shared = triad_data::users::shared_secrets(&records, &users);
    println!(
        "users: {} (a record without `user` counts as its own); records per user min {min}, \
         median {median}, max {max}",
        users.count()
    );
    println!(
        "secrets repeated across a user's records: {} values in {} users (record-level DP \
         covers each record, not the person: see dp.unit = \"user\")",
        shared.values, shared.users
    );
}

fn tag(input: &Path, out: &Path) -> Result<()> {
    let mut records = Vec::new();
    for line in triad_data::jsonl::read_objects(input)? {
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

/// `triad audit plant`: audit canaries planted into a user's own training file.
pub fn plant(input: &Path, seed: u64, args: &AuditArgs, out: &Path) -> Result<()> {
    args.check()?;
    anyhow::ensure!(args.audit_canaries > 0, "--audit-canaries must be positive");
    let (lines, mut train): (Vec<usize>, Vec<Record>) =
        triad_data::check::read_valid(input)?.into_iter().unzip();
    let tok = args.tokenizer()?;
    let mut canaries = audit::draw(args.audit_canaries, args.design(), seed, tok.as_ref())?;
    for c in &mut canaries {
        c.copies = args.audit_copies;
    }
    // A canary that already sits in the data would make its coin meaningless.
    let numbered: Vec<(usize, audit::AuditCanary)> = canaries.iter().cloned().enumerate().collect();
    if let Some(i) = audit::locate(&numbered, &train)
        .iter()
        .position(Option::is_some)
    {
        bail!(
            "{}:{}: record {:?} has an audit canary's id or text; plant into data without one",
            input.display(),
            lines[i],
            train[i].id
        );
    }
    audit::plant(&mut train, &canaries, seed);
    std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    let mut bytes = vec![];
    for r in &train {
        bytes.extend_from_slice(r.to_json_line().as_bytes());
        bytes.push(b'\n');
    }
    triad_data::fsutil::write_atomic(out.join("train.jsonl"), &bytes)?;
    triad_data::fsutil::write_atomic(out.join("audit.jsonl"), &audit::to_jsonl(&canaries))?;
    eprintln!(
        "wrote {}: train.jsonl ({} records, {} of them audit canaries) and audit.jsonl ({} canaries with their coins, seed {seed}); train on train.jsonl, then `triad eval … --audit {}`",
        out.display(),
        train.len(),
        canaries.iter().filter(|c| c.included).count(),
        canaries.len(),
        out.join("audit.jsonl").display()
    );
    Ok(())
}

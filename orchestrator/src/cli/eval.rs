//! `triad eval`: METRICS.json for one checkpoint (or adapter) against its base.

use crate::progress::Progress;
use anyhow::Result;
use clap::Args;
use std::collections::HashMap;
use std::path::PathBuf;
use triad_evaluator::eval::Evaluation;
use triad_evaluator::spec::{self, EvalSpec, Settings};

#[derive(Args)]
pub struct EvalArgs {
    /// Base model folder.
    #[arg(long)]
    base: PathBuf,
    /// Fine-tuned model folder (full or dp runs).
    #[arg(long, conflicts_with = "adapter", required_unless_present = "adapter")]
    checkpoint: Option<PathBuf>,
    /// PEFT adapter folder (lora or dp-lora runs).
    #[arg(long)]
    adapter: Option<PathBuf>,
    /// The training split the checkpoint saw (members).
    #[arg(long)]
    train: PathBuf,
    /// A held-out split (non-members).
    #[arg(long)]
    test: PathBuf,
    #[arg(long)]
    out: PathBuf,
    /// Per-record statistics, for `triad compare` (default: beside --out, `<name>.records.json`).
    #[arg(long)]
    records: Option<PathBuf>,
    #[arg(long, default_value = "auto")]
    device: String,
    #[arg(long, default_value_t = spec::BATCH_SIZE as u64)]
    batch_size: u64,
    /// Cache of base-model scores (default: .score-cache next to --out; `none` to disable).
    #[arg(long)]
    cache_dir: Option<String>,
    /// Fraction of highest-loss tokens the Min-K% attack averages.
    #[arg(long, default_value_t = spec::MIN_K)]
    min_k: f64,
    /// canaries.jsonl (from `triad data generate --canaries`): report each canary's exposure.
    #[arg(long)]
    canaries: Option<PathBuf>,
    /// Candidate spaces up to this size are ranked exactly; larger ones are estimated by sampling.
    #[arg(long, default_value_t = spec::EXPOSURE_EXACT_MAX)]
    exposure_exact_max: u64,
    /// Candidates sampled per canary when its space is too large to enumerate.
    #[arg(long, default_value_t = spec::EXPOSURE_SAMPLES as u64)]
    exposure_samples: u64,
    /// Tree nodes the exact exposure search may expand per canary.
    #[arg(long, default_value_t = spec::EXPOSURE_SEARCH_BUDGET as u64)]
    exposure_search_budget: u64,
    /// Tokens of each record to score, as in training (default: the checkpoint's run.json,
    /// else whole records).
    #[arg(long)]
    max_length: Option<u64>,
    /// audit.jsonl (`triad data generate --audit-canaries`, `triad audit plant`): add the
    /// one-run audit's empirical ε lower bound.
    #[arg(long)]
    audit: Option<PathBuf>,
    /// δ of the audit's (ε, δ) statement (default: the δ in the checkpoint's run.json for a
    /// DP run, else 1e-5; never below the run.json's). Give a DP run's δ when its checkpoint
    /// was moved away from its run.json.
    #[arg(long)]
    audit_delta: Option<f64>,
}

/// The evaluation the flags ask for, checked by the rules the service applies.
fn spec(a: EvalArgs) -> Result<EvalSpec> {
    let cache_dir = match a.cache_dir.as_deref() {
        Some("none") => None,
        Some(d) => Some(PathBuf::from(d)),
        None => Some(
            a.out
                .parent()
                .map(|p| p.join(".score-cache"))
                .unwrap_or(".score-cache".into()),
        ),
    };
    let mut spec = EvalSpec::new(
        a.base,
        a.train,
        a.test,
        triad_lm::device::parse_device(&a.device)?,
    );
    spec.checkpoint = a.checkpoint;
    spec.adapter = a.adapter;
    spec.cache_dir = cache_dir;
    spec.canaries = a.canaries;
    spec.audit = a.audit;
    let settings = Settings {
        batch_size: Some(a.batch_size),
        min_k: Some(a.min_k),
        exposure_exact_max: Some(a.exposure_exact_max),
        exposure_samples: Some(a.exposure_samples),
        exposure_search_budget: Some(a.exposure_search_budget),
        max_length: a.max_length,
        audit_delta: a.audit_delta,
    };
    settings
        .apply(&mut spec)
        .map_err(|e| anyhow::anyhow!("--{}: {}", e.field.replace('_', "-"), e.message))?;
    Ok(spec)
}

/// `METRICS.json` → `METRICS.records.json`.
pub fn records_path(out: &std::path::Path) -> PathBuf {
    let stem = match out.extension() {
        Some(e) if e == "json" => out.with_extension(""),
        _ => out.to_path_buf(),
    };
    let mut name = stem.file_name().unwrap_or_default().to_os_string();
    name.push(".records.json");
    stem.with_file_name(name)
}

pub fn run(a: EvalArgs) -> Result<()> {
    let out = a.out.clone();
    let records_out = a.records.clone().unwrap_or_else(|| records_path(&out));
    let spec = spec(a)?;
    let mut bars: HashMap<String, Progress> = HashMap::new();
    let Evaluation { metrics, records } = super::guard::catch_panics("the evaluation", || {
        Ok(triad_evaluator::eval::run(&spec, &mut |stage, d, n| {
            bars.entry(stage.to_string())
                .or_insert_with(|| Progress::new(format!("scoring {stage}")))
                .update(d, n)
        })?)
    })?;
    let text = triad_proto::json::to_file_text(&records);
    triad_data::fsutil::write_atomic(&records_out, text.as_bytes())?;
    let text = triad_proto::json::to_file_text(&metrics.to_message());
    triad_data::fsutil::write_atomic(&out, text.as_bytes())?;
    let c = &metrics.cells;
    if let Some(e) = &metrics.exposure {
        for x in &e.canaries {
            eprintln!(
                "canary {} (×{}): exposure {:.2} [{:.2}, {:.2}] bits of {:.2} ({}, rank {:.0} [{:.0}, {:.0}])",
                x.id,
                x.repeats,
                x.exposure,
                x.exposure_ci95[0],
                x.exposure_ci95[1],
                (x.space_size as f64).log2(),
                x.method,
                x.rank,
                x.rank_ci95[0],
                x.rank_ci95[1]
            );
        }
        eprintln!(
            "mean exposure {:.2} {} bits (never-seen null {:.2} ± {:.2})",
            e.mean_exposure,
            ci_text(e.mean_exposure_ci95),
            e.null_mean,
            e.null_sd_of_mean
        );
    }
    if let Some(x) = &metrics.audit {
        eprintln!(
            "audit: {} canaries ({} included), {} of {} guesses right → ε ≥ {:.2} at {:.0}% \
             confidence (δ {:e}; these canaries can show at most {:.2})",
            x.m,
            x.included,
            x.correct,
            x.guesses,
            x.epsilon_lower_bound,
            100.0 * x.confidence,
            x.delta,
            x.ceiling
        );
    }
    let x = &metrics.extraction;
    eprintln!(
        "extraction: train {}/{} secrets (base {}), test {}/{} (base {})",
        x.train.all.extracted,
        x.train.all.secrets,
        x.train.all.extracted_base,
        x.test.all.extracted,
        x.test.all.secrets,
        x.test.all.extracted_base
    );
    let m = &metrics.membership_inference;
    eprintln!(
        "privacy loss {:.4} {} nats, utility NLL {:.4} {} (base {:.4}), memorisation gap {:.4} {} (base-corrected {:.4}), MIA AUC loss {:.3} {} / reference {:.3} {} / min-k {:.3} {}{} → {}",
        c.privacy_loss,
        ci_text(c.privacy_loss_ci95),
        c.utility.nll,
        ci_text(c.utility.nll_ci95),
        c.utility.nll_base,
        c.memorisation_gap,
        ci_text(c.memorisation_gap_ci95),
        c.memorisation_gap_corrected,
        m.loss.auc,
        ci_text(m.loss.auc_ci95),
        m.reference.auc,
        ci_text(m.reference.auc_ci95),
        m.min_k.auc,
        ci_text(m.min_k.auc_ci95),
        if metrics.base_scores_cached { " (base scores from cache)" } else { "" },
        out.display()
    );
    eprintln!(
        "privacy loss = learnt about secrets in general {:.4} {} + memorised {:.4} {}; MIA AUC token-reference {:.3} {} / min-k++ {:.3} {} / zlib {:.3} {}; per-record statistics → {}",
        c.privacy_loss_general,
        ci_text(c.privacy_loss_general_ci95),
        c.memorisation_gap_corrected,
        ci_text(c.memorisation_gap_corrected_ci95),
        m.token_reference.auc,
        ci_text(m.token_reference.auc_ci95),
        m.min_k_plus_plus.auc,
        ci_text(m.min_k_plus_plus.auc_ci95),
        m.zlib.auc,
        ci_text(m.zlib.auc_ci95),
        records_out.display()
    );
    Ok(())
}

/// `[lo, hi]` of a 95% interval, or `[—]` where there is none.
fn ci_text(ci: Option<[f64; 2]>) -> String {
    match ci {
        Some([lo, hi]) => format!("[{lo:.3}, {hi:.3}]"),
        None => "[—]".into(),
    }
}

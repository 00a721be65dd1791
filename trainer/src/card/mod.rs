//! Model cards: a `README.md` in every checkpoint folder, in the Hugging Face model-card format
//! (YAML front matter that the Hub reads, then Markdown). It says what the checkpoint is, what
//! data it saw (counts only, and only the counts run.json publishes), what it promises (ε, δ,
//! unit and accountant, or none) and, once a study has evaluated it, what was measured.
//!
//! The trainer writes the card when run.json has recorded the checkpoint's epoch
//! ([`write_epoch`], called at the end of each epoch): the card's ε is that epoch's exact ε,
//! as run.json states it. A study then splices each evaluation's numbers into the card
//! ([`splice_measured`]), or renders the whole card from run.json where a checkpoint has none
//! ([`Card::new`]).
//!
//! Nothing private goes in: no seed, noise key, training text, record or user id, token,
//! digest of the training file, or path (a folder is named by its own name only). The
//! checks that hold the card to this are `triad_tests::card::leaks`, run on every card of a
//! study by `orchestrator/tests/model_card.rs`. docs/trainer.md, "Model cards".

mod base;
mod front;
mod measured;
mod words;
mod yaml;

pub use measured::{AuditBound, Measured, Metric};

use crate::config::Method;
use crate::error::{Result, TrainError};
use crate::run::{EpochRecord, RunRecord};
use base::BaseModel;
use serde::Serialize;
use std::path::Path;

/// The card's file name in a checkpoint folder (what the Hub shows as the model card).
pub const FILE: &str = "README.md";

/// Largest card read back to splice into; a bigger file is not one Triad wrote.
const MAX_CARD_BYTES: u64 = 1 << 20;

/// What a card is rendered from: the run's record, the checkpoint's epoch in it, and what the
/// base model's and the checkpoint's folders say about themselves.
#[derive(Debug)]
pub struct Card<'a> {
    record: &'a RunRecord,
    epoch: &'a EpochRecord,
    /// Whether `epoch` is the record's newest: only then are the record's running totals
    /// (tokens seen, the bound per user) this checkpoint's.
    latest: bool,
    base: BaseModel,
    /// A PEFT adapter folder (LoRA), not full weights.
    adapter: bool,
    /// The checkpoint folder holds a copy of the Gemma Terms of Use.
    terms_copy: bool,
}

impl<'a> Card<'a> {
    /// The card of `record`'s checkpoint at `epoch`, in the folder `checkpoint`, fine-tuned
    /// from the model folder `base`. `None` when the record lists no checkpoint at that epoch.
    pub fn new(
        record: &'a RunRecord,
        epoch: u64,
        base: &Path,
        checkpoint: &Path,
    ) -> Result<Option<Card<'a>>> {
        let Some(e) = record
            .epochs
            .iter()
            .find(|e| e.epoch == epoch && e.checkpoint.is_some())
        else {
            return Ok(None);
        };
        Ok(Some(Card {
            record,
            epoch: e,
            latest: record.epochs.last().is_some_and(|l| l.epoch == epoch),
            base: BaseModel::read(base)?,
            adapter: checkpoint.join("adapter_config.json").is_file(),
            terms_copy: checkpoint.join(base::GEMMA_TERMS_COPY).is_file(),
        }))
    }

    /// The card's text; `measured`: the study's evaluation of the checkpoint, if any yet.
    pub fn render(&self, measured: Option<&Measured>) -> String {
        format!(
            "{}\n{}",
            front::front_matter(self, measured),
            words::body(self, measured)
        )
    }

    /// `full`, `lora`, `dp`, `dp-lora`, or `redact-dp` (a `dp` run with a `[redact]` phase 1),
    /// as a study names its methods.
    fn method_name(&self) -> &'static str {
        match self.record.method {
            Method::Dp if self.record.config.redact.is_some() => "redact-dp",
            Method::Full => "full",
            Method::Lora => "lora",
            Method::Dp => "dp",
            Method::DpLora => "dp-lora",
        }
    }

    fn method_title(&self) -> &'static str {
        match self.method_name() {
            "full" => "full fine-tuning",
            "lora" => "LoRA",
            "dp" => "DP-SGD",
            "dp-lora" => "DP-LoRA",
            _ => "redact-then-DP",
        }
    }

    /// What `tokens_seen` counts: `sampled`, `expected` or `withheld` (records from before the
    /// field: sampled).
    fn counted(&self) -> &str {
        self.record.tokens_counted.as_deref().unwrap_or("sampled")
    }

    /// Tokens this checkpoint was trained on, as run.json counts them; `None` where it
    /// withholds them, or where the record's running total is past this checkpoint.
    fn tokens(&self) -> Option<u64> {
        (self.latest && self.counted() != "withheld").then_some(self.record.tokens_seen)
    }

    /// N is a public constant (`dp.dataset_size`): the file's own count is not published.
    fn size_from_config(&self) -> bool {
        self.record.dataset_size_source.as_deref() == Some("config")
    }

    /// The scrub the training text went through, with its count where run.json publishes it.
    fn scrubbed(&self) -> Option<Scrubbed> {
        let asked = self.record.config.scrub.as_ref()?;
        Some(Scrubbed {
            mode: asked.mode.name(),
            spans: asked.spans.name(),
            labels: asked.labels.clone(),
            replaced: self
                .record
                .scrub
                .as_ref()
                .filter(|d| !d.counts_withheld)
                .map(|d| d.spans_replaced),
        })
    }
}

/// A `[scrub]` as the card states it.
struct Scrubbed {
    mode: &'static str,
    spans: &'static str,
    labels: Vec<String>,
    replaced: Option<u64>,
}

/// A config enum as RUN.toml spells it (its serde name).
fn spelled(v: &impl Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The trainer's hook at the end of an epoch, after run.json is written: the card of the
/// epoch's checkpoint, if it wrote one. Not evaluated yet; a study splices that in.
pub(crate) fn write_epoch(out: &Path, record: &RunRecord) -> Result<()> {
    let Some(last) = record.epochs.last() else {
        return Ok(());
    };
    // The folder by the trainer's layout, never the path run.json names.
    let dir = crate::run::checkpoint_dir(out, last.epoch);
    match Card::new(record, last.epoch, &record.config.model, &dir)? {
        Some(card) => write(&dir, &card.render(None)),
        None => Ok(()),
    }
}

/// Write `text` as the card of the checkpoint folder `dir`, atomically (temp file and rename,
/// like the folder's other files); a card that already says exactly this is left alone.
pub fn write(dir: &Path, text: &str) -> Result<()> {
    if read(dir)?.as_deref() == Some(text) {
        return Ok(());
    }
    Ok(triad_data::fsutil::write_atomic(
        dir.join(FILE),
        text.as_bytes(),
    )?)
}

/// The card in the checkpoint folder `dir`; `None` when it has none (or one too large to be
/// Triad's, not UTF-8, or a link: each is rewritten whole, and a link is never followed).
pub fn read(dir: &Path) -> Result<Option<String>> {
    let path = dir.join(FILE);
    match crate::run::read_bounded(&path, MAX_CARD_BYTES) {
        Ok(bytes) => Ok(String::from_utf8(bytes).ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        // O_NOFOLLOW on a link (ELOOP), or more than MAX_CARD_BYTES.
        Err(e)
            if e.raw_os_error() == Some(libc::ELOOP)
                || e.kind() == std::io::ErrorKind::InvalidData =>
        {
            Ok(None)
        }
        Err(e) => Err(TrainError::io(&path, e)),
    }
}

/// A study's hook once it has evaluated the checkpoint of `epoch` in the run folder `out`
/// (inside the data root `root`, by no link): the card with `measured` spliced in, or, where
/// the folder holds no card Triad rendered, the whole card from the folder's run.json with
/// `base` (the study's own base model folder, never a path run.json names). Whether it wrote;
/// `false` when the card already said this, or run.json lists no checkpoint at `epoch`.
pub fn write_measured(
    root: &Path,
    out: &Path,
    epoch: u64,
    base: &Path,
    measured: &Measured,
) -> Result<bool> {
    let dir = crate::run::checkpoint_dir(out, epoch);
    if !dir.is_dir() {
        return Ok(false);
    }
    confined(root, &dir)?;
    let old = read(&dir)?;
    let text = match old.as_deref().and_then(|c| splice_measured(c, measured)) {
        Some(text) => text,
        None => {
            let Some(record) = crate::run::previous_record(out)? else {
                return Ok(false);
            };
            match Card::new(&record, epoch, base, &dir)? {
                Some(card) => card.render(Some(measured)),
                None => return Ok(false),
            }
        }
    };
    if old.as_deref() == Some(text.as_str()) {
        return Ok(false);
    }
    triad_data::fsutil::write_atomic(dir.join(FILE), text.as_bytes())?;
    Ok(true)
}

/// `dir`, resolved through every link, lies inside `root`'s resolution.
fn confined(root: &Path, dir: &Path) -> Result<()> {
    let resolve = |p: &Path| p.canonicalize().map_err(|e| TrainError::io(p, e));
    if resolve(dir)?.starts_with(resolve(root)?) {
        Ok(())
    } else {
        Err(TrainError::config(
            dir,
            "the checkpoint folder resolves outside the data root (through a link); its card \
             is not written",
        ))
    }
}

/// `card` with its measured part (front matter and body) replaced by `measured`: exactly the
/// card [`Card::render`] gives with `Some(measured)`, everything else as the trainer wrote it
/// (the tokens it had seen at that epoch, which run.json no longer says once the run goes on).
/// `None` when `card` is not one Triad rendered (its markers are missing).
pub fn splice_measured(card: &str, measured: &Measured) -> Option<String> {
    measured::splice(card, measured)
}

#[cfg(test)]
mod tests;

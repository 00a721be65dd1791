//! The card's body, for reading: what the checkpoint is, how it was trained, the data it saw as
//! counts, its guarantee in words, what was measured, the licence. Numbers are rounded here;
//! the front matter has them whole.

use super::measured::{measured_body, Measured};
use super::Card;
use crate::dp::{Accountant, Unit};

/// A number for reading: four significant digits.
pub(super) fn short(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let a = x.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e4).contains(&a) {
        format!("{x:.3e}")
    } else {
        let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
        format!("{x:.decimals$}")
    }
}

/// A name for the body's Markdown: no backtick or control character can close its code span
/// or start a line of its own (a folder may be named anything).
fn code(name: &str) -> String {
    name.chars()
        .map(|c| if c == '`' || c.is_control() { '_' } else { c })
        .collect()
}

pub(super) fn interval_words(ci: Option<[f64; 2]>) -> String {
    ci.map_or("–".into(), |[lo, hi]| {
        format!("[{}, {}]", short(lo), short(hi))
    })
}

pub(super) fn body(c: &Card, m: Option<&Measured>) -> String {
    let (r, e) = (c.record, c.epoch);
    let mut s = format!(
        "# {} — {}, epoch {}\n\n",
        code(&c.base.name),
        c.method_title(),
        e.epoch
    );
    let what = if c.adapter {
        "a PEFT LoRA adapter for the base model (`PeftModel.from_pretrained` loads it over the \
         base)"
    } else {
        "the full weights of a Hugging Face causal language model (config, weights, tokenizer)"
    };
    let epochs = r
        .config
        .epochs
        .map_or(String::new(), |n| format!(" of {n}"));
    s.push_str(&format!(
        "A checkpoint written by Triad: {what}, at the end of epoch {}{epochs}, after {} of {} \
         optimizer steps. The numbers below are in the front matter too (`triad:`), with every \
         digit.\n\n",
        e.epoch, e.step, r.total_steps
    ));
    s.push_str("## Training\n\n");
    s.push_str(&training_words(c));
    s.push_str("\n## Data\n\n");
    s.push_str(&data_words(c));
    s.push_str("\n## Privacy guarantee\n\n");
    s.push_str(&guarantee_words(c));
    s.push_str("\n## Measured\n\n");
    s.push_str(&measured_body(m));
    s.push_str("\n\n## Licence\n\n");
    s.push_str(&licence_words(c));
    s
}

fn training_words(c: &Card) -> String {
    let r = c.record;
    let cfg = &r.config;
    let lora = cfg.lora.clone().unwrap_or_default();
    let adapter = format!(
        "a rank-{} adapter (alpha {}{}) on {} of the frozen base model",
        lora.r,
        lora.alpha,
        if lora.use_rslora { ", rsLoRA" } else { "" },
        lora.target_modules.join(", ")
    );
    let dp = match r.privacy_unit.as_ref().map_or(Unit::Record, |u| u.unit) {
        Unit::Record => {
            "with DP-SGD: Poisson sampling of records, each record's gradient clipped, Gaussian \
             noise added to the clipped sum"
        }
        Unit::User => {
            "with user-level DP-SGD: Poisson sampling of users, each user's gradient clipped as \
             a whole, Gaussian noise added to the clipped sum"
        }
    };
    let method = match c.method_name() {
        "full" => "full fine-tuning: every weight of the base model trained".to_string(),
        "lora" => format!("LoRA: {adapter} trained"),
        "dp" => format!("DP-SGD: every weight trained {dp}"),
        "dp-lora" => format!("DP-LoRA: {adapter} trained {dp}"),
        _ => {
            let p1 = cfg.redact.as_ref().map_or(String::new(), |p| {
                let how = match p.method {
                    crate::config::Method::Lora => "LoRA",
                    _ => "full",
                };
                format!(
                    "{how} fine-tuning for {} epoch(s) at learning rate {}",
                    p.epochs, p.lr
                )
            });
            format!(
                "redact-then-DP: phase 1, {p1}, without noise, on the training text with its \
                 spans replaced by a scrub; then phase 2, DP-SGD on every weight from phase 1's \
                 weights on the original text (these weights are phase 2's)"
            )
        }
    };
    let mut s = format!("- Method: {method}.\n");
    s.push_str(&format!("- Base model: `{}`", code(&c.base.name)));
    if let Some(g) = &c.base.gguf {
        s.push_str(&format!(", imported from `{}`", code(g)));
    }
    s.push_str(".\n");
    let accum = if cfg.grad_accum > 1 && !r.method.is_private() {
        format!(" × {} micro-batches", cfg.grad_accum)
    } else {
        String::new()
    };
    let batch = if r.method.is_private() {
        format!("expected batch {}", cfg.batch_size)
    } else {
        format!("batch {}{accum}", cfg.batch_size)
    };
    s.push_str(&format!(
        "- Optimizer: {}, learning rate {} ({} decay, {} warm-up steps), {batch}; records cut \
         to {} tokens; loss on {} tokens.\n",
        super::spelled(&cfg.optimizer.name),
        cfg.optimizer.lr,
        super::spelled(&cfg.schedule.decay),
        cfg.schedule.warmup_steps,
        cfg.max_length,
        super::spelled(&cfg.loss_on).replace('_', "-"),
    ));
    if r.method.is_private() {
        s.push_str(&format!(
            "- DP-SGD: clipping norm C = {}, noise multiplier σ = {} (noise σ·C on the clipped \
             sum), sampling rate q = {}{}.\n",
            r.max_grad_norm.map_or("–".into(), |x| x.to_string()),
            r.noise_multiplier.map_or("–".into(), short),
            r.sampling_rate.map_or("–".into(), |x| x.to_string()),
            cfg.dp
                .as_ref()
                .and_then(|d| d.target_epsilon)
                .map_or(String::new(), |t| format!(
                    ", σ chosen for a target ε of {t}"
                )),
        ));
    }
    s
}

fn data_words(c: &Card) -> String {
    let r = c.record;
    let mut s =
        String::from("Counts only: the card holds none of the training text, ids or users.\n\n");
    if c.size_from_config() {
        s.push_str(&format!(
            "- Dataset size: N = {} as a public constant (`dp.dataset_size`); the training \
             file's own record count and token counts are not published.\n",
            r.examples
        ));
    } else if r.method.is_private() {
        s.push_str(&format!(
            "- Records: {} (the training file's count, public: the sampling rate depends on \
             it).\n",
            r.examples
        ));
    } else {
        s.push_str(&format!("- Records: {}.\n", r.examples));
    }
    if let Some(u) = r.privacy_unit.as_ref().and_then(|u| u.users) {
        s.push_str(&format!("- Users: {u}.\n"));
    }
    match (c.counted(), c.tokens()) {
        ("expected", Some(t)) => s.push_str(&format!(
            "- Tokens: about {t} in expectation (steps × q × the training file's tokens; the \
             sampled batches' own counts are not published).\n"
        )),
        (_, Some(t)) => s.push_str(&format!("- Tokens trained on: {t}.\n")),
        ("withheld", None) => s.push_str("- Tokens: not published.\n"),
        (_, None) => {}
    }
    if let Some(sc) = c.scrubbed() {
        let labels = if sc.labels.is_empty() {
            String::new()
        } else {
            format!(", labels {}", sc.labels.join(", "))
        };
        let replaced = match sc.replaced {
            Some(n) => format!("; {n} spans replaced"),
            None => "; its counts are withheld".into(),
        };
        s.push_str(&format!(
            "- Scrubbed before training: {} ({} spans{labels}){replaced}.\n",
            sc.mode, sc.spans
        ));
    }
    if let Some(p) = &r.config.redact {
        s.push_str(&format!(
            "- Phase 1 trained on the text scrubbed by {} ({} spans).\n",
            p.scrub.mode.name(),
            p.scrub.spans.name()
        ));
    }
    s
}

fn guarantee_words(c: &Card) -> String {
    let (r, e) = (c.record, c.epoch);
    if !r.method.is_private() {
        let mut s = String::from(
            "**None.** This checkpoint was trained without differential privacy: nothing \
             bounds what its weights reveal about a training record.",
        );
        if r.config.scrub.is_some() {
            s.push_str(
                " Its training text was scrubbed first: a practice, not a guarantee (a span \
                 the scrub missed reached the model as it was).",
            );
        }
        s.push('\n');
        return s;
    }
    let eps = e.epsilon.map_or("–".into(), |x| format!("{x:.2}"));
    let delta = r.delta.map_or("–".into(), |d| format!("{d:e}"));
    let unit = r.privacy_unit.as_ref().map_or(Unit::Record, |u| u.unit);
    let per = match unit {
        Unit::Record => "per record".to_string(),
        Unit::User => {
            let cap = r
                .privacy_unit
                .as_ref()
                .and_then(|u| u.max_records_per_user)
                .map_or(String::new(), |k| {
                    format!(", at most {k} of them used in a step")
                });
            format!("per user (all of one person's records{cap})")
        }
    };
    let accountant = match r.accountant {
        Some(Accountant::Rdp) => "the Rényi-DP (RDP) accountant",
        _ => "the privacy-loss-distribution (PLD) accountant",
    };
    let other = match r.accountant.unwrap_or_default() {
        Accountant::Pld => e
            .epsilon_rdp
            .map(|x| format!("; the looser RDP accountant gives ε = {x:.2} for the same steps")),
        Accountant::Rdp => e
            .epsilon_pld
            .map(|x| format!("; the PLD accountant gives ε = {x:.2} for the same steps")),
    }
    .unwrap_or_default();
    let unit_word = match unit {
        Unit::Record => "record",
        Unit::User => "user's records",
    };
    let mut s = format!(
        "**(ε = {eps}, δ = {delta})-differential privacy {per}**, by {accountant}{other}. \
         Adding or removing any one {unit_word} changes the probability of anything these \
         weights (and everything else the run published) show by at most a factor e^ε, except \
         with probability δ. It holds at this checkpoint (step {}).",
        e.step
    );
    if r.config.redact.is_some() {
        s.push_str(
            " **Selective:** ε bounds what the weights reveal about the contents of the spans \
             phase 1's scrub replaced, and nothing else of a record (phase 1 learnt the rest \
             without noise); a span the scrub missed is covered by nothing.",
        );
    }
    if let Some(u) = &r.privacy_unit {
        if let (Some(k), Some(b)) = (
            u.largest_user_records.filter(|&k| k > 1),
            u.user_epsilon_bound.filter(|_| c.latest),
        ) {
            s.push_str(&format!(
                " A person with several records is protected less: for the user with the most \
                 ({k}), ε = {b:.2} at the same δ."
            ));
        }
    }
    s.push_str(if r.secure_rng {
        " It assumes the run's secret noise key stays secret"
    } else {
        " This run drew its noise from its seed (reproducible mode): ε assumes the seed stays \
         secret"
    });
    s.push_str(
        ", that the dataset size is public, and that nobody timed the training steps or \
         watched its memory.\n",
    );
    s
}

fn licence_words(c: &Card) -> String {
    if c.base.gemma {
        let copy = if c.terms_copy {
            format!(
                "A copy of the terms is in `{}`.",
                super::base::GEMMA_TERMS_COPY
            )
        } else {
            "Read the terms at https://ai.google.dev/gemma/terms before using or sharing it."
                .to_string()
        };
        return format!(
            "**Gemma is provided under and subject to the Gemma Terms of Use found at \
             ai.google.dev/gemma/terms.** This checkpoint is a Model Derivative of a Gemma \
             model: using or sharing it is subject to those terms, including the Gemma \
             Prohibited Use Policy (ai.google.dev/gemma/prohibited_use_policy). {copy}\n"
        );
    }
    match &c.base.license {
        Some(l) => format!(
            "The base model's licence, as its GGUF file states it: `{l}`. Its terms apply to \
             this checkpoint too.\n"
        ),
        None => "Triad does not know the base model's licence; its terms apply to this \
                 checkpoint too.\n"
            .into(),
    }
}

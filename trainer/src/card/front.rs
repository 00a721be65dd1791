//! The front matter: the Hub's keys (base model, library, licence, tags), then Triad's own
//! under `triad:` — the method, the data's counts, the guarantee's numbers and, last, what was
//! measured. Every number has all its digits ([`yaml::float`]): a test compares them exactly.

use super::measured::{measured_yaml, Measured};
use super::yaml::{self, Block};
use super::Card;

/// The Hub's tags: what kind of fine-tune, and its privacy method.
fn tags(c: &Card) -> Vec<&'static str> {
    let r = c.record;
    let mut t = vec!["triad"];
    if r.method.uses_lora() {
        t.push("lora");
    }
    if r.method.is_private() {
        t.extend(["differential-privacy", "dp-sgd"]);
    }
    if r.config.redact.is_some() {
        t.push("redact-then-dp");
    }
    if r.config.scrub.is_some() {
        t.push("scrubbed");
    }
    if c.base.gemma {
        t.push("gemma");
    }
    t
}

pub(super) fn front_matter(c: &Card, m: Option<&Measured>) -> String {
    let (r, e) = (c.record, c.epoch);
    let mut out = String::from("---\n");
    let mut top = Block {
        out: &mut out,
        indent: 0,
    };
    // The Hub takes only a model id here (and refuses a push with anything else); a local
    // folder's name goes under `triad:`.
    if super::base::is_hub_id(&c.base.name) {
        top.line("base_model", yaml::string(&c.base.name));
    }
    top.line(
        "library_name",
        if c.adapter { "peft" } else { "transformers" },
    );
    if let Some(l) = &c.base.license {
        top.line("license", yaml::string(l));
    }
    top.line("pipeline_tag", "text-generation");
    top.out.push_str("tags:\n");
    for t in tags(c) {
        top.out.push_str(&format!("- {t}\n"));
    }
    let mut t = top.open("triad");
    t.line("base_model_name", yaml::string(&c.base.name));
    t.line("method", yaml::string(c.method_name()));
    t.line("epoch", e.epoch.to_string());
    t.line("step", e.step.to_string());
    t.line("total_steps", r.total_steps.to_string());
    // The base's identity is a digest of public weights; the training file's is never here
    // (a digest of private text confirms a guess of it).
    if let Some(id) = &r.base_model_sha256 {
        t.line("base_model_sha256", yaml::string(id));
    }
    if let Some(g) = &c.base.gguf {
        t.line("base_model_gguf", yaml::string(g));
    }
    data_yaml(&mut t.open("data"), c);
    guarantee_yaml(&mut t.open("guarantee"), c);
    out.push_str(&measured_yaml(m));
    out.push_str("---\n");
    out
}

fn data_yaml(b: &mut Block, c: &Card) {
    let r = c.record;
    let key = if c.size_from_config() {
        "dataset_size"
    } else {
        "records"
    };
    b.line(key, r.examples.to_string());
    if let Some(u) = r.privacy_unit.as_ref().and_then(|u| u.users) {
        b.line("users", u.to_string());
    }
    if let Some(t) = c.tokens() {
        b.line("tokens", t.to_string());
    }
    b.line("tokens_counted", yaml::string(c.counted()));
    b.line("max_length", r.config.max_length.to_string());
    b.line("loss_on", yaml::string(&super::spelled(&r.config.loss_on)));
    if let Some(s) = c.scrubbed() {
        let mut sb = b.open("scrub");
        sb.line("mode", yaml::string(s.mode));
        sb.line("spans", yaml::string(s.spans));
        if !s.labels.is_empty() {
            let labels: Vec<String> = s.labels.iter().map(|l| yaml::string(l)).collect();
            sb.line("labels", format!("[{}]", labels.join(", ")));
        }
        if let Some(n) = s.replaced {
            sb.line("spans_replaced", n.to_string());
        }
    }
}

fn guarantee_yaml(b: &mut Block, c: &Card) {
    let (r, e) = (c.record, c.epoch);
    if !r.method.is_private() {
        b.line("kind", yaml::string("none"));
        return;
    }
    let kind = if r.config.redact.is_some() {
        "selective-differential-privacy"
    } else {
        "differential-privacy"
    };
    b.line("kind", yaml::string(kind));
    b.line("epsilon", yaml::opt_float(e.epsilon));
    b.line("delta", yaml::opt_float(r.delta));
    let unit = r.privacy_unit.as_ref().map_or("record", |u| u.unit.name());
    b.line("unit", yaml::string(unit));
    if let Some(a) = r.accountant {
        b.line("accountant", yaml::string(a.name()));
    }
    b.line("epsilon_rdp", yaml::opt_float(e.epsilon_rdp));
    b.line("epsilon_pld", yaml::opt_float(e.epsilon_pld));
    b.line("noise_multiplier", yaml::opt_float(r.noise_multiplier));
    b.line("sampling_rate", yaml::opt_float(r.sampling_rate));
    b.line("max_grad_norm", yaml::opt_float(r.max_grad_norm));
    // Which secret ε leans on: the run's key, or (reproducible mode) its seed — named, never
    // given.
    let noise = if r.secure_rng { "secret-key" } else { "seed" };
    b.line("noise", yaml::string(noise));
    if let Some(u) = &r.privacy_unit {
        if let Some(k) = u.max_records_per_user {
            b.line("max_records_per_user", k.to_string());
        }
        if let Some(k) = u.largest_user_records {
            b.line("largest_user_records", k.to_string());
        }
        if let Some(x) = u.user_epsilon_bound.filter(|_| c.latest) {
            b.line("user_epsilon_bound", yaml::float(x));
        }
    }
    if r.config.redact.is_some() {
        b.line(
            "covers",
            yaml::string("the contents of the spans phase 1's scrub replaced"),
        );
    }
}

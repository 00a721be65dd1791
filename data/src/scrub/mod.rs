//! Scrubbing: the text a model is trained on, with its personal data masked or pseudonymised
//! before training (docs/datasets.md, "Scrubbing"). Spans come from the file's labels (the
//! best case) or from the rule-based [`crate::tagger`] (what a user without labels gets: every
//! span it misses reaches the model). The scrubbed records carry exact spans: a pseudonym is
//! still a sensitive span (so `loss_on` keeps working), a `[LABEL]` placeholder is not, and a
//! labelled span the tagger missed stays sensitive where it now lies.

mod coverage;
mod fake;

pub use coverage::{Coverage, LabelRecall};

use crate::record::{Record, Span};
use crate::rng::Rng;
use fake::{Faker, Kind, RecordMap};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// What replaces a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `[LABEL]`, the span's label in brackets.
    Mask,
    /// A fresh fake value of the same kind and shape, the same within a record.
    Pseudonymise,
}

/// Where the spans to replace come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanSource {
    /// The file's own `spans`.
    #[default]
    Labelled,
    /// The rule-based tagger's predictions only.
    Tagger,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Mask => "mask",
            Mode::Pseudonymise => "pseudonymise",
        }
    }
}

impl SpanSource {
    pub fn name(self) -> &'static str {
        match self {
            SpanSource::Labelled => "labelled",
            SpanSource::Tagger => "tagger",
        }
    }
}

/// `[scrub]` of RUN.toml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scrub {
    pub mode: Mode,
    #[serde(default)]
    pub spans: SpanSource,
    /// Replace only spans of these labels (say, names and e-mails but not order numbers);
    /// empty: every span. The others stay in the text, and stay sensitive.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

impl Scrub {
    /// Replace every span the source gives.
    pub fn all(mode: Mode, spans: SpanSource) -> Scrub {
        Scrub {
            mode,
            spans,
            labels: vec![],
        }
    }

    fn wants(&self, s: &Span) -> bool {
        self.labels.is_empty() || self.labels.contains(&s.label)
    }
}

/// What a scrub did, for the run record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub mode: Mode,
    pub spans: SpanSource,
    pub records: u64,
    pub spans_replaced: u64,
    /// Spans replaced per label, in label order.
    pub replaced_by_label: Vec<LabelCount>,
    /// With `spans = "tagger"` on a labelled file: how much of the labels the tagger found.
    pub tagger: Option<Coverage>,
    /// The counts above are statistics of the training file without noise: a run with a
    /// formal ε per record publishes none of them (see [`Stats::withheld`]).
    #[serde(default)]
    pub counts_withheld: bool,
}

impl Stats {
    /// What a private run may publish: the scrub's settings, no count of the data.
    pub fn withheld(self) -> Stats {
        Stats {
            mode: self.mode,
            spans: self.spans,
            records: 0,
            spans_replaced: 0,
            replaced_by_label: vec![],
            tagger: None,
            counts_withheld: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelCount {
    pub label: String,
    pub count: u64,
}

/// Scrub every record. `rng` draws the pseudonyms (deterministic per seed). A span no
/// pseudonym unlike every secret of the file can be found for (a city when the file names every
/// city of the list) is masked instead.
///
/// `mask` is record by record: a scrubbed record depends on its own text only. `pseudonymise`
/// is not — the fakes avoid every secret of the file and share one stream — so a run with a
/// formal ε refuses it (docs/trainer.md).
pub fn scrub(records: &[Record], how: &Scrub, rng: Rng) -> (Vec<Record>, Stats) {
    let found: Vec<Vec<Span>> = records
        .iter()
        .map(|r| match how.spans {
            SpanSource::Labelled => r.spans.clone(),
            SpanSource::Tagger => crate::tagger::tag(&r.text),
        })
        .collect();
    let chosen: Vec<Vec<Span>> = found
        .iter()
        .map(|f| f.iter().filter(|s| how.wants(s)).cloned().collect())
        .collect();
    let originals = secrets(records, &found);
    let name_words = name_words(records, &found);
    let mut faker = Faker::new(rng, &originals, &name_words);
    let mut out = Vec::with_capacity(records.len());
    let mut by_label: BTreeMap<String, u64> = BTreeMap::new();
    for (r, spans) in records.iter().zip(&chosen) {
        let replacements = replacements(r, spans, how.mode, &mut faker);
        for s in spans {
            *by_label.entry(s.label.clone()).or_default() += 1;
        }
        out.push(apply(r, spans, &replacements, how.mode));
    }
    let tagger = (how.spans == SpanSource::Tagger && records.iter().any(|r| !r.spans.is_empty()))
        .then(|| Coverage::of(records, &chosen));
    let stats = Stats {
        mode: how.mode,
        spans: how.spans,
        records: records.len() as u64,
        spans_replaced: by_label.values().sum(),
        replaced_by_label: by_label
            .into_iter()
            .map(|(label, count)| LabelCount { label, count })
            .collect(),
        tagger,
        counts_withheld: false,
    };
    (out, stats)
}

/// Every labelled and every chosen span of the file, with its record.
fn all_spans<'a>(
    records: &'a [Record],
    chosen: &'a [Vec<Span>],
) -> impl Iterator<Item = (&'a Record, &'a Span)> {
    records
        .iter()
        .zip(chosen)
        .flat_map(|(r, c)| r.spans.iter().chain(c).map(move |s| (r, s)))
}

/// Every secret of the file, lower-cased: the labelled spans' and the chosen spans' texts.
fn secrets(records: &[Record], chosen: &[Vec<Span>]) -> HashSet<String> {
    all_spans(records, chosen)
        .map(|(r, s)| r.span_text(s).to_lowercase())
        .collect()
}

/// Every word of every name in the file, lower-cased.
fn name_words(records: &[Record], chosen: &[Vec<Span>]) -> HashSet<String> {
    all_spans(records, chosen)
        .filter(|(_, s)| Kind::of(&s.label) == Kind::Name)
        .flat_map(|(r, s)| {
            r.span_text(s)
                .split(|c: char| !c.is_alphabetic())
                .filter(|w| !w.is_empty())
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The text that replaces each chosen span.
fn replacements(r: &Record, spans: &[Span], mode: Mode, faker: &mut Faker) -> Vec<String> {
    if mode == Mode::Mask {
        return spans.iter().map(|s| placeholder(&s.label)).collect();
    }
    let mut map = RecordMap::default();
    // Full names first, so a first name alone later maps as part of its full name did.
    let mut names: Vec<String> = spans
        .iter()
        .filter(|s| Kind::of(&s.label) == Kind::Name)
        .map(|s| r.span_text(s))
        .collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.split_whitespace().count()));
    for n in &names {
        faker.learn_name(&mut map, n);
    }
    spans
        .iter()
        .map(|s| {
            faker
                .fake(&mut map, Kind::of(&s.label), &r.span_text(s))
                .unwrap_or_else(|| placeholder(&s.label))
        })
        .collect()
}

/// `[PHONE_NUMBER]` for a span labelled `phone_number`.
pub fn placeholder(label: &str) -> String {
    let l: String = label
        .chars()
        .take(40)
        .map(|c| match c {
            ' ' | '-' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    format!("[{l}]")
}

/// The record with each chosen span replaced. Spans of the result: a pseudonym where it now
/// lies (mask: none, a placeholder is not a secret), and every labelled span that no chosen
/// span touched, moved by the replacements before it.
fn apply(r: &Record, chosen: &[Span], with: &[String], mode: Mode) -> Record {
    let chars: Vec<char> = r.text.chars().collect();
    let mut text = String::with_capacity(r.text.len());
    // shift[i]: new offset of old char i, for chars outside chosen spans.
    let mut new_at = vec![0usize; chars.len() + 1];
    let mut spans = vec![];
    let (mut i, mut n) = (0usize, 0usize);
    let mut next = chosen.iter().zip(with).peekable();
    while i < chars.len() {
        if let Some((s, v)) = next.peek().filter(|(s, _)| s.start == i) {
            let len = v.chars().count();
            if mode == Mode::Pseudonymise {
                spans.push(Span {
                    start: n,
                    end: n + len,
                    label: s.label.clone(),
                });
            }
            text.push_str(v);
            for slot in new_at.iter_mut().take(s.end.max(i + 1)).skip(i) {
                *slot = n;
            }
            n += len;
            i = s.end.max(i + 1);
            next.next();
            continue;
        }
        new_at[i] = n;
        text.push(chars[i]);
        n += 1;
        i += 1;
    }
    new_at[chars.len()] = n;
    // A labelled span keeps, where it now lies, every part no chosen span replaced (all of it
    // when the scrub missed it, "Schmidt" when the tagger caught only "Anna" of "Anna Schmidt").
    for s in &r.spans {
        for (a, b) in uncovered(s, chosen) {
            spans.push(Span {
                start: new_at[a],
                end: new_at[b],
                label: s.label.clone(),
            });
        }
    }
    spans.sort_by_key(|s| s.start);
    Record {
        id: r.id.clone(),
        text,
        spans,
        user: r.user.clone(),
    }
}

/// The parts of `s` outside every span of `chosen` (sorted, not overlapping), as char ranges.
fn uncovered(s: &Span, chosen: &[Span]) -> Vec<(usize, usize)> {
    let mut out = vec![];
    let mut at = s.start;
    for c in chosen.iter().filter(|c| c.start < s.end && s.start < c.end) {
        if c.start > at {
            out.push((at, c.start));
        }
        at = at.max(c.end);
    }
    if at < s.end {
        out.push((at, s.end));
    }
    out
}

#[cfg(test)]
mod tests;

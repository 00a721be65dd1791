//! Audit canaries for a one-run privacy audit (Steinke, Nasr & Jagielski 2023): `m` records of
//! a fixed prompt and an independent random secret, each put into the training split by a fair
//! coin. The coins live only in `audit.jsonl`, which the trainer never reads; after training, a
//! membership score per canary and the coins give an empirical lower bound on ε.
//!
//! Two secret designs (Panda et al., ICLR 2025, found the design decides the bound's strength):
//! random digits, which a model can only learn as a sequence, and rare tokens of the model's own
//! vocabulary, which training pushes up even from one occurrence.

use super::record::{Record, Span};
use super::rng::Rng;
use crate::error::{DataError, Result};
use crate::tokenizer::Tokenizer;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// The span label of an audit secret in the training split.
pub const LABEL: &str = "AUDIT_SECRET";
const DIGITS_PROMPT: &str = "Audit record. The access code is ";
const DIGITS_LENGTH: usize = 12;
const RARE_PROMPT: &str = "Audit record. The pass phrase is";
const RARE_TOKENS: usize = 8;
/// The most records one audit canary (a user, for a user-level audit) may have.
pub const MAX_COPIES: usize = 1000;
/// Fewer canaries give no bound at all: the smallest rung guesses 5 "in" and 5 "out".
pub const MIN_CANARIES: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Design {
    /// Twelve random decimal digits.
    Digits,
    /// Eight tokens drawn from the last quarter of the tokenizer's vocabulary.
    RareTokens,
}

impl Design {
    pub fn name(self) -> &'static str {
        match self {
            Design::Digits => "digits",
            Design::RareTokens => "rare-tokens",
        }
    }

    pub fn parse(s: &str) -> Option<Design> {
        match s {
            "digits" => Some(Design::Digits),
            "rare-tokens" => Some(Design::RareTokens),
            _ => None,
        }
    }
}

/// One audit canary, as a line of `audit.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditCanary {
    pub id: String,
    pub design: Design,
    pub prefix: String,
    pub secret: String,
    pub text: String,
    /// The coin: whether the canary was put into the training split.
    pub included: bool,
    /// How many records of the training split hold it when included: one, or K for a
    /// user-level audit, where each canary is a user whose K records all repeat the secret.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub copies: usize,
}

fn one() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

impl AuditCanary {
    /// The records inserted into the training split: `copies` of [`AuditCanary::record`],
    /// ids `<id>-c<k>` when there are several. With `users` (a file whose records name their
    /// users, or several copies) they carry the canary's id as their user.
    pub fn records(&self, users: bool) -> Vec<Record> {
        let user = (users || self.copies > 1).then(|| self.id.clone());
        (0..self.copies)
            .map(|k| {
                let mut r = self.record();
                if self.copies > 1 {
                    r.id = format!("{}-c{k}", self.id);
                }
                r.user = user.clone();
                r
            })
            .collect()
    }

    /// The canary as one record, its secret marked as a span (what the audit scores).
    pub fn record(&self) -> Record {
        let start = self.prefix.chars().count();
        Record {
            id: self.id.clone(),
            text: self.text.clone(),
            spans: vec![Span {
                start,
                end: start + self.secret.chars().count(),
                label: LABEL.into(),
            }],
            user: None,
        }
    }
}

/// Pieces of the last quarter of the tokenizer's vocabulary that read as a word or part of one:
/// BPE ids grow with merge order, so the later ids are the rarer pieces. Special and byte tokens
/// are left out.
fn rare_pieces(tok: &Tokenizer) -> Result<Vec<String>> {
    let n = tok.vocab_size() as u32;
    let mut out = vec![];
    for id in n - n / 4..n {
        let s = tok.decode(&[id], true)?;
        let body = s.strip_prefix(' ').unwrap_or(&s);
        if body.len() >= 3 && body.chars().all(|c| c.is_ascii_alphabetic()) {
            out.push(s);
        }
    }
    if out.len() < 1000 {
        return Err(DataError::Tokenizer {
            path: tok.path().to_path_buf(),
            message: format!(
                "the last quarter of the vocabulary has only {} word pieces (rare-token audit \
                 canaries need 1,000); use the digits design",
                out.len()
            ),
        });
    }
    Ok(out)
}

/// Draw `m` audit canaries with their coins. Secrets are distinct; the rare-token design
/// draws from `tok`'s vocabulary (the model's own tokenizer).
pub fn draw(
    m: usize,
    design: Design,
    seed: u64,
    tok: Option<&Tokenizer>,
) -> Result<Vec<AuditCanary>> {
    let root = Rng::new(seed).fork("audit-canaries");
    let (mut secrets, mut coins) = (root.fork("secrets"), root.fork("coins"));
    let pieces = match design {
        Design::RareTokens => match tok {
            Some(tok) => rare_pieces(tok)?,
            None => {
                return Err(DataError::invalid(
                    "--audit-design rare-tokens",
                    "rare-token audit canaries need the model's tokenizer",
                ))
            }
        },
        Design::Digits => vec![],
    };
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(m);
    while out.len() < m {
        let (prefix, secret) = match design {
            Design::Digits => (DIGITS_PROMPT, secrets.digits(DIGITS_LENGTH)),
            Design::RareTokens => {
                let mut s = String::new();
                for _ in 0..RARE_TOKENS {
                    let p = secrets.pick(&pieces);
                    // Every piece starts a word, so the secret reads as eight words.
                    if !p.starts_with(' ') {
                        s.push(' ');
                    }
                    s.push_str(p);
                }
                (RARE_PROMPT, s)
            }
        };
        if !seen.insert(secret.clone()) {
            continue;
        }
        out.push(AuditCanary {
            id: format!("audit-{:05}", out.len()),
            design,
            prefix: prefix.into(),
            text: format!("{prefix}{secret}"),
            secret,
            included: coins.next_u64() & 1 == 1,
            copies: 1,
        });
    }
    Ok(out)
}

/// Insert every included canary's records (once each, or its `copies`) at random positions
/// of `train`. When `train` names users, every canary is a user of its own.
pub fn plant(train: &mut Vec<Record>, canaries: &[AuditCanary], seed: u64) {
    let mut rng = Rng::new(seed).fork("audit-positions");
    let users = train.iter().any(|r| r.user.is_some());
    for c in canaries.iter().filter(|c| c.included) {
        for r in c.records(users) {
            let at = rng.below(train.len() + 1);
            train.insert(at, r);
        }
    }
}

/// One JSON line per canary.
pub fn to_jsonl(canaries: &[AuditCanary]) -> Vec<u8> {
    let mut out = vec![];
    for c in canaries {
        out.extend(serde_json::to_vec(c).expect("serialisable"));
        out.push(b'\n');
    }
    out
}

/// Read `audit.jsonl`: every line a canary whose `text` is `prefix + secret`, ids and texts
/// distinct; problems name the line. Each canary comes with its line number.
pub fn read(path: &Path) -> Result<Vec<(usize, AuditCanary)>> {
    let bad = |line, message: String| DataError::BadLine {
        path: path.to_path_buf(),
        line,
        message,
    };
    let (mut ids, mut texts) = (HashMap::new(), HashMap::new());
    let mut out = vec![];
    for line in crate::jsonl::read_objects(path)? {
        let n = line.number;
        let c: AuditCanary = serde_json::from_value(line.value)
            .map_err(|e| bad(n, format!("not an audit canary: {e}")))?;
        if c.secret.is_empty() || c.text != format!("{}{}", c.prefix, c.secret) {
            return Err(bad(
                n,
                "`text` must be `prefix` followed by a non-empty `secret`".into(),
            ));
        }
        if !(1..=MAX_COPIES).contains(&c.copies) {
            return Err(bad(
                n,
                format!("`copies` must be 1 to {MAX_COPIES}, got {}", c.copies),
            ));
        }
        if let Some(first) = ids.insert(c.id.clone(), n) {
            return Err(bad(n, format!("id {:?} already on line {first}", c.id)));
        }
        if let Some(first) = texts.insert(c.text.clone(), n) {
            return Err(bad(n, format!("same text as line {first}")));
        }
        out.push((n, c));
    }
    Ok(out)
}

/// [`read`], refusing a file with too few canaries for any bound (fewer than [`MIN_CANARIES`]).
pub fn read_for_bound(path: &Path) -> Result<Vec<(usize, AuditCanary)>> {
    let canaries = read(path)?;
    if canaries.len() < MIN_CANARIES {
        return Err(DataError::invalid(
            path,
            format!(
                "{} audit canaries; at least {MIN_CANARIES} are needed for any bound",
                canaries.len()
            ),
        ));
    }
    Ok(canaries)
}

/// Where each canary sits in a split: for each record, the index of the canary it is (same id
/// or same text), if any.
pub fn locate(canaries: &[(usize, AuditCanary)], records: &[Record]) -> Vec<Option<usize>> {
    let by_id: HashMap<&str, usize> = canaries
        .iter()
        .enumerate()
        .map(|(i, (_, c))| (c.id.as_str(), i))
        .collect();
    let by_text: HashMap<&str, usize> = canaries
        .iter()
        .enumerate()
        .map(|(i, (_, c))| (c.text.as_str(), i))
        .collect();
    records
        .iter()
        .map(|r| {
            by_id
                .get(r.id.as_str())
                .or_else(|| by_text.get(r.text.as_str()))
                .copied()
        })
        .collect()
}

/// Check that the coins match the data: each included canary is in `train` exactly once, no
/// excluded one is in `train`, none is in `test`. Errors name `audit` and the canary's line.
pub fn check_split(
    audit: &Path,
    canaries: &[(usize, AuditCanary)],
    train: (&Path, &[Record]),
    test: (&Path, &[Record]),
) -> Result<()> {
    let mut count = vec![0usize; canaries.len()];
    for k in locate(canaries, train.1).into_iter().flatten() {
        count[k] += 1;
    }
    let bad = |k: usize, message: String| DataError::BadLine {
        path: audit.to_path_buf(),
        line: canaries[k].0,
        message,
    };
    for (k, ((_, c), &n)) in canaries.iter().zip(&count).enumerate() {
        match (c.included, n) {
            (true, n) if n == c.copies => {}
            (false, 0) => {}
            (true, n) => {
                return Err(bad(
                    k,
                    format!(
                        "{} is marked included but appears {n} times in {} (must be {})",
                        c.id,
                        train.0.display(),
                        match c.copies {
                            1 => "once".to_string(),
                            k => format!("{k} times, its copies"),
                        }
                    ),
                ))
            }
            (false, n) => {
                return Err(bad(
                    k,
                    format!(
                        "{} is marked excluded but appears {n} times in {}",
                        c.id,
                        train.0.display()
                    ),
                ))
            }
        }
    }
    if let Some((r, k)) = test
        .1
        .iter()
        .zip(locate(canaries, test.1))
        .find_map(|(r, k)| k.map(|k| (r, k)))
    {
        return Err(bad(
            k,
            format!(
                "{} appears in {} (record {:?}); audit canaries belong to no split but training",
                canaries[k].1.id,
                test.0.display(),
                r.id
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, text: &str) -> Record {
        Record {
            id: id.into(),
            text: text.into(),
            spans: vec![],
            user: None,
        }
    }

    #[test]
    fn digits_are_distinct_seeded_and_about_half_included() {
        let a = draw(2000, Design::Digits, 5, None).unwrap();
        assert_eq!(a, draw(2000, Design::Digits, 5, None).unwrap());
        assert_ne!(a, draw(2000, Design::Digits, 6, None).unwrap());
        let texts: HashSet<_> = a.iter().map(|c| &c.text).collect();
        assert_eq!(texts.len(), 2000);
        let inc = a.iter().filter(|c| c.included).count();
        // Binomial(2000, ½): sd ≈ 22.4; ±5 sd.
        assert!((888..=1112).contains(&inc), "{inc} included");
        for c in &a {
            let r = c.record();
            assert_eq!(r.span_text(&r.spans[0]), c.secret);
            assert_eq!(c.secret.len(), DIGITS_LENGTH);
        }
    }

    #[test]
    fn rare_tokens_need_a_tokenizer() {
        let e = draw(10, Design::RareTokens, 1, None).unwrap_err();
        assert!(e.to_string().contains("tokenizer"), "{e}");
    }

    #[test]
    fn planting_inserts_exactly_the_included_once() {
        let drawn = draw(50, Design::Digits, 1, None).unwrap();
        let mut train: Vec<Record> = (0..20).map(|i| rec(&format!("r{i}"), "hello")).collect();
        plant(&mut train, &drawn, 1);
        let canaries: Vec<(usize, AuditCanary)> = drawn
            .into_iter()
            .enumerate()
            .map(|(i, c)| (i + 1, c))
            .collect();
        let inc = canaries.iter().filter(|c| c.1.included).count();
        assert_eq!(train.len(), 20 + inc);
        let p = Path::new;
        check_split(p("a.jsonl"), &canaries, (p("t"), &train), (p("s"), &[])).unwrap();
        // An excluded canary in the training split is named with its line.
        let out = canaries.iter().position(|c| !c.1.included).unwrap();
        train.push(rec("x", &canaries[out].1.text));
        let e = check_split(p("a.jsonl"), &canaries, (p("t"), &train), (p("s"), &[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("a.jsonl:{}:", out + 1)) && e.contains("excluded"),
            "{e}"
        );
        train.pop();
        // A canary in the test split.
        let test = vec![canaries[0].1.record()];
        let e = check_split(p("a.jsonl"), &canaries, (p("t"), &train), (p("s"), &test))
            .unwrap_err()
            .to_string();
        assert!(e.contains("belong to no split"), "{e}");
        // An included canary removed.
        let inc0 = canaries.iter().position(|c| c.1.included).unwrap();
        train.retain(|r| r.id != canaries[inc0].1.id);
        let e = check_split(p("a.jsonl"), &canaries, (p("t"), &train), (p("s"), &[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("appears 0 times"), "{e}");
    }

    #[test]
    fn reading_names_the_bad_line() {
        let dir = std::env::temp_dir().join(format!("triad-audit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("audit.jsonl");
        let c = draw(3, Design::Digits, 1, None).unwrap();
        std::fs::write(&f, to_jsonl(&c)).unwrap();
        let back: Vec<AuditCanary> = read(&f).unwrap().into_iter().map(|x| x.1).collect();
        assert_eq!(back, c);
        let mut bytes = to_jsonl(&c);
        bytes.extend(serde_json::to_vec(&c[1]).unwrap());
        std::fs::write(&f, &bytes).unwrap();
        let e = read(&f).unwrap_err().to_string();
        assert!(e.contains("audit.jsonl:4:") && e.contains("line 2"), "{e}");
        let mut broken = c[0].clone();
        broken.text = "something else".into();
        std::fs::write(&f, to_jsonl(&[broken])).unwrap();
        let e = read(&f).unwrap_err().to_string();
        assert!(e.contains(":1:") && e.contains("prefix"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

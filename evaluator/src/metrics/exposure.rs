//! Canary exposure (Carlini et al. 2019): `log2 |R| − log2 rank(canary)`, where R is the
//! canary's candidate space (every string of `length` characters of `alphabet` between the
//! canary's prefix and suffix) and candidates are ranked by the log-probability of their secret
//! tokens given the prefix (the suffix, the same for every candidate, is left out).
//! `rank = 1 + #candidates strictly more likely than the canary`.
//!
//! R leaves out the secrets of the other canaries of the same file that share the canary's
//! prefix, suffix, alphabet and length ([`rivals`]): the model saw those too, so each would beat
//! a memorised canary and cap its exposure at about `log2(|R| / C)` for C such canaries.
//!
//! Three methods, named in `method`:
//! - `exact-enumeration`: spaces up to `exact_max` candidates are scored one by one.
//! - `exact-search`: when the tokenizer gives each secret character its own token (checked on
//!   the canary and sampled candidates), the candidate tree is searched character by character
//!   from the prefix's KV cache, pruning every prefix whose log-probability is already no
//!   higher than the canary's (log-probabilities only fall as tokens are added): every better
//!   candidate is found and counted, so the rank is exact. Used where no sampled candidate
//!   beats the canary — the memorised case, which sampling cannot resolve — within a node
//!   budget (a rank in the thousands already needs tens of thousands of nodes: many prefixes
//!   stay above the canary until their last characters).
//! - `sampled`: otherwise, the fraction `k / n` of `n` uniform candidates that beat the
//!   canary, `rank = 1 + (k / n)(|R| − 1)`, with the exact binomial (Clopper–Pearson) 95%
//!   interval; when `k = 0` the point is the median-unbiased `1 − 2^(−1/n)`. No parametric tail.

use super::interval::{clopper_pearson, t_mean, Ci};
use serde::Serialize;
use triad_data::canary::Canary;
use triad_data::rng::Rng;
use triad_data::tokenizer::Tokenizer;
use triad_lm::nn::KvCache;
use triad_lm::score::score_tokens;
use triad_lm::tch::{self, Kind, Tensor};
use triad_lm::CausalLm;

#[derive(Debug, Clone, Serialize)]
pub struct Exposure {
    pub id: String,
    pub repeats: usize,
    /// |R|: `|alphabet|^length` less `other_secrets_excluded`.
    pub space_size: u64,
    /// Other canaries' secrets left out of this canary's candidate space (see the module docs).
    pub other_secrets_excluded: u64,
    /// `exact-enumeration`, `exact-search` or `sampled`.
    pub method: String,
    /// Candidates scored one by one (enumeration, sample), or tree nodes expanded (search).
    pub candidates_scored: usize,
    /// Candidates that beat the canary: all of them (exact), or in the sample.
    pub better: u64,
    pub rank: f64,
    pub rank_ci95: [f64; 2],
    pub exposure: f64,
    pub exposure_ci95: [f64; 2],
    /// `log p(secret | prefix)` under the model (nats).
    pub log_likelihood: f64,
    /// Whether greedy decoding from the prefix reproduces the secret.
    pub extracted: bool,
    /// Why the search was not used, where it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How exposure is estimated: see the module docs.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub exact_max: u64,
    pub samples: usize,
    /// Most tree nodes the search may expand before it gives up (then: sampled).
    pub search_budget: usize,
    pub batch: usize,
}

fn candidate(c: &Canary, index: u64) -> String {
    let alphabet: Vec<char> = c.alphabet.chars().collect();
    let base = alphabet.len() as u64;
    let mut digits = vec![' '; c.length];
    let mut x = index;
    for slot in digits.iter_mut().rev() {
        *slot = alphabet[(x % base) as usize];
        x /= base;
    }
    digits.into_iter().collect()
}

/// The secrets of the other canaries of `all` that are candidates of `c` (same prefix, suffix,
/// alphabet and length, another secret): what `c` is not ranked against.
pub fn rivals(c: &Canary, all: &[Canary]) -> Vec<String> {
    let mut out: Vec<String> = all
        .iter()
        .filter(|o| {
            o.secret != c.secret
                && (&o.prefix, &o.suffix, &o.alphabet, o.length)
                    == (&c.prefix, &c.suffix, &c.alphabet, c.length)
        })
        .map(|o| o.secret.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

fn full_text(c: &Canary, secret: &str) -> String {
    format!("{}{}{}", c.prefix, secret, c.suffix)
}

/// Character range of the secret in every candidate text.
fn secret_range(c: &Canary) -> (usize, usize) {
    let start = c.prefix.chars().count();
    (start, start + c.length)
}

/// For each candidate secret: the summed log-probability of the tokens overlapping the secret,
/// and whether each of them was the model's top-1 choice.
fn secret_scores(
    model: &CausalLm,
    tok: &Tokenizer,
    c: &Canary,
    secrets: &[String],
    batch: usize,
) -> triad_lm::Result<Vec<(f64, bool)>> {
    let (ps, pe) = secret_range(c);
    let mut seqs = vec![];
    let mut ranges = vec![];
    for s in secrets {
        let e = tok.encode(&full_text(c, s))?;
        let first = e
            .offsets
            .iter()
            .position(|&(_, end)| end > ps)
            .unwrap_or(e.ids.len())
            .max(1);
        let last = e
            .offsets
            .iter()
            .rposition(|&(start, end)| start < pe && end > start)
            .map_or(first, |i| i + 1)
            .max(first);
        ranges.push((first, last));
        seqs.push(e.ids);
    }
    let scored = score_tokens(model, &seqs, batch, |_, _| {});
    Ok(scored
        .iter()
        .zip(&ranges)
        .map(|(row, &(a, b))| {
            row[a..b].iter().fold((0.0, true), |(lp, top), t| {
                let t = t.expect("scored");
                (lp + t.logprob as f64, top && t.top1)
            })
        })
        .collect())
}

/// The character-level view of the candidate tree, when the tokenizer has one: the ids of the
/// prefix's tokens, and for each secret position the token id of each alphabet character.
struct CharTokens {
    prefix: Vec<u32>,
    table: Vec<Vec<u32>>,
}

impl CharTokens {
    /// Tokens of `prefix + s + suffix` fully before the secret, and those overlapping it.
    fn split(tok: &Tokenizer, c: &Canary, s: &str) -> Option<(Vec<u32>, Vec<u32>)> {
        let (ps, pe) = secret_range(c);
        let e = tok.encode(&full_text(c, s)).ok()?;
        let mut pre = vec![];
        let mut sec = vec![];
        for (&id, &(a, b)) in e.ids.iter().zip(&e.offsets) {
            if b <= ps && (b > a || sec.is_empty()) {
                pre.push(id);
            } else if a < pe && b > ps {
                // One token per character, nothing of the suffix in it.
                if b != ps + sec.len() + 1 || b > pe {
                    return None;
                }
                sec.push(id);
            }
        }
        (sec.len() == c.length).then_some((pre, sec))
    }

    /// Built from the constant candidates `aaa…`, then checked on `checks`.
    fn build(tok: &Tokenizer, c: &Canary, checks: &[String]) -> Option<CharTokens> {
        let alphabet: Vec<char> = c.alphabet.chars().collect();
        let mut table = vec![vec![0u32; alphabet.len()]; c.length];
        let mut prefix = None;
        for (j, &a) in alphabet.iter().enumerate() {
            let (pre, sec) = Self::split(tok, c, &a.to_string().repeat(c.length))?;
            if prefix.get_or_insert_with(|| pre.clone()) != &pre {
                return None;
            }
            for (pos, id) in sec.into_iter().enumerate() {
                table[pos][j] = id;
            }
        }
        let ct = CharTokens {
            prefix: prefix?,
            table,
        };
        for s in checks {
            let (pre, sec) = Self::split(tok, c, s)?;
            let want: Vec<u32> = s
                .chars()
                .enumerate()
                .map(|(pos, ch)| Some(ct.table[pos][alphabet.iter().position(|&a| a == ch)?]))
                .collect::<Option<_>>()?;
            if pre != ct.prefix || sec != want {
                return None;
            }
        }
        Some(ct)
    }
}

impl CharTokens {
    /// The secret tokens of `secret` (one per character).
    fn ids(&self, alphabet: &[char], secret: &str) -> Vec<i64> {
        secret
            .chars()
            .enumerate()
            .map(|(pos, ch)| {
                let a = alphabet.iter().position(|&x| x == ch).unwrap_or(0);
                self.table[pos][a] as i64
            })
            .collect()
    }

    /// [`secret_scores`] from one forward pass of the prefix, whose KV cache every candidate
    /// continues from: `length` tokens a candidate instead of the whole text, and logits only
    /// where a secret token is predicted.
    fn scores(
        &self,
        model: &CausalLm,
        c: &Canary,
        secrets: &[String],
        chunk: usize,
    ) -> Vec<(f64, bool)> {
        let alphabet: Vec<char> = c.alphabet.chars().collect();
        let dev = model.device();
        tch::no_grad(|| {
            let pre: Vec<i64> = self.prefix.iter().map(|&x| x as i64).collect();
            let mut cache = model.new_cache();
            let logits = model.forward(
                &Tensor::from_slice(&pre).view([1, -1]).to_device(dev),
                None,
                Some(&mut cache),
            );
            let first = logits
                .narrow(1, logits.size()[1] - 1, 1)
                .log_softmax(-1, Kind::Float);
            let mut out = Vec::with_capacity(secrets.len());
            for group in secrets.chunks(chunk.max(1)) {
                let b = group.len() as i64;
                let flat: Vec<i64> = group.iter().flat_map(|x| self.ids(&alphabet, x)).collect();
                let ids = Tensor::from_slice(&flat).view([b, -1]).to_device(dev);
                let len = ids.size()[1];
                let mut lp = first.expand([b, 1, -1], false);
                if len > 1 {
                    let mut sub = cache.select(&Tensor::zeros([b], (Kind::Int64, dev)));
                    let rest = model.forward(&ids.narrow(1, 0, len - 1), None, Some(&mut sub));
                    lp = Tensor::cat(&[lp, rest.log_softmax(-1, Kind::Float)], 1);
                }
                let picked = lp.gather(-1, &ids.unsqueeze(-1), false).squeeze_dim(-1);
                let top = lp.argmax(-1, false).eq_tensor(&ids).all_dim(1, false);
                let sums = Vec::<f64>::try_from(
                    &picked
                        .to_kind(Kind::Double)
                        .sum_dim_intlist(1, false, Kind::Double)
                        .to_device(tch::Device::Cpu),
                )
                .expect("f64 sums");
                let tops = Vec::<bool>::try_from(&top.to_device(tch::Device::Cpu)).expect("bools");
                out.extend(sums.into_iter().zip(tops));
            }
            out
        })
    }
}

struct Search<'a> {
    model: &'a CausalLm,
    ct: &'a CharTokens,
    /// The canary's and its rivals' secrets as alphabet indices: leaves that are never counted.
    secret: Vec<usize>,
    rivals: Vec<Vec<usize>>,
    threshold: f64,
    budget: usize,
    chunk: usize,
    expanded: usize,
    better: u64,
}

/// The search ran out of its node budget.
struct OverBudget;

impl Search<'_> {
    /// Log-probabilities `[rows][alphabet]` of the next character at `pos` after `logits`'
    /// last position.
    fn next(&self, logits: &Tensor, pos: usize) -> Vec<Vec<f64>> {
        let ids: Vec<i64> = self.ct.table[pos].iter().map(|&x| x as i64).collect();
        let ids = Tensor::from_slice(&ids).to_device(logits.device());
        let last = logits.select(1, logits.size()[1] - 1).to_kind(Kind::Float);
        let lp = last.log_softmax(-1, Kind::Float).index_select(1, &ids);
        let a = ids.size()[0] as usize;
        let flat = Vec::<f32>::try_from(&lp.to_device(tch::Device::Cpu).contiguous().view([-1]))
            .expect("f32 log-probs");
        flat.chunks(a)
            .map(|r| r.iter().map(|&x| x as f64).collect())
            .collect()
    }

    fn run(&mut self) -> Result<(), OverBudget> {
        let dev = self.model.device();
        let pre: Vec<i64> = self.ct.prefix.iter().map(|&x| x as i64).collect();
        let ids = Tensor::from_slice(&pre).view([1, -1]).to_device(dev);
        let mut cache = self.model.new_cache();
        let logits = self.model.forward(&ids, None, Some(&mut cache));
        let next = self.next(&logits, 0);
        self.expanded = 1;
        self.level(&cache, &[(0.0, vec![])], &next, 0)
    }

    /// Whether a full candidate is the canary or a rival.
    fn excluded(&self, path: &[usize]) -> bool {
        *path == self.secret[..] || self.rivals.iter().any(|r| *path == r[..])
    }

    /// Children (position `pos`) of the nodes — (log-probability, characters so far) — whose
    /// caches are `cache`'s rows.
    fn level(
        &mut self,
        cache: &KvCache,
        nodes: &[(f64, Vec<usize>)],
        next: &[Vec<f64>],
        pos: usize,
    ) -> Result<(), OverBudget> {
        let leaf = pos + 1 == self.secret.len();
        let mut kids: Vec<(i64, usize, f64, Vec<usize>)> = vec![];
        for (row, ((lp0, path0), nx)) in nodes.iter().zip(next).enumerate() {
            for (a, &l) in nx.iter().enumerate() {
                let lp = lp0 + l;
                if lp <= self.threshold {
                    continue; // it and every extension are no better than the canary
                }
                let mut path = path0.clone();
                path.push(a);
                if leaf {
                    self.better += !self.excluded(&path) as u64;
                } else {
                    kids.push((row as i64, a, lp, path));
                }
            }
        }
        if leaf {
            return Ok(());
        }
        self.expanded += kids.len();
        if self.expanded > self.budget {
            return Err(OverBudget);
        }
        for chunk in kids.chunks(self.chunk) {
            let dev = self.model.device();
            let rows: Vec<i64> = chunk.iter().map(|k| k.0).collect();
            let mut sub = cache.select(&Tensor::from_slice(&rows).to_device(dev));
            let ids: Vec<i64> = chunk
                .iter()
                .map(|k| self.ct.table[pos][k.1] as i64)
                .collect();
            let ids = Tensor::from_slice(&ids).view([-1, 1]).to_device(dev);
            let logits = self.model.forward(&ids, None, Some(&mut sub));
            let next = self.next(&logits, pos + 1);
            let nodes: Vec<(f64, Vec<usize>)> = chunk.iter().map(|k| (k.2, k.3.clone())).collect();
            self.level(&sub, &nodes, &next, pos + 1)?;
        }
        Ok(())
    }
}

fn rank_to_exposure(space: u64, rank: f64) -> f64 {
    (space as f64).log2() - rank.log2()
}

/// The characters of `secret` as indices into `c`'s alphabet.
fn indices(c: &Canary, secret: &str) -> Vec<usize> {
    secret
        .chars()
        .map(|ch| c.alphabet.chars().position(|a| a == ch).unwrap_or(0))
        .collect()
}

/// Exposure of one canary among its candidates less `rivals` (the other canaries' secrets in
/// its space, from [`rivals`]; see the module docs for the methods).
pub fn exposure(
    model: &CausalLm,
    tok: &Tokenizer,
    c: &Canary,
    rivals: &[String],
    s: &Settings,
) -> triad_lm::Result<Exposure> {
    let full = c.space_size.max(1);
    let space = full.saturating_sub(rivals.len() as u64).max(1);
    // Also enumerated: a space mostly made of canaries, where sampling would mostly reject.
    let enumerate = full <= s.exact_max || full <= 2 * (rivals.len() as u64 + 1);
    let counts = |x: &String| *x != c.secret && !rivals.contains(x);
    let candidates: Vec<String> = if enumerate {
        (0..full).map(|i| candidate(c, i)).filter(counts).collect()
    } else {
        let mut rng = Rng::new(0x5eed).fork(&c.id);
        std::iter::repeat_with(|| candidate(c, rng.next_u64() % full))
            .filter(counts)
            .take(s.samples.max(1))
            .collect()
    };
    // Character tokens, checked on the canary and every candidate scored: then one prefix
    // cache serves every candidate (and the search); otherwise each text is scored whole.
    let checks: Vec<String> = std::iter::once(c.secret.clone())
        .chain(candidates.iter().cloned())
        .collect();
    let ct = CharTokens::build(tok, c, &checks);
    let chunk = s.batch.max(1) * 8;
    let scores = |secrets: &[String]| -> triad_lm::Result<Vec<(f64, bool)>> {
        match &ct {
            Some(ct) => Ok(ct.scores(model, c, secrets, chunk)),
            None => secret_scores(model, tok, c, secrets, s.batch),
        }
    };
    let (own, extracted) = scores(std::slice::from_ref(&c.secret))?[0];
    let done = |method: &str, scored: usize, better: u64, rank: f64, ci: [f64; 2]| Exposure {
        id: c.id.clone(),
        repeats: c.repeats,
        space_size: space,
        other_secrets_excluded: full - space,
        method: method.into(),
        candidates_scored: scored,
        better,
        rank,
        rank_ci95: ci,
        exposure: rank_to_exposure(space, rank),
        exposure_ci95: [
            rank_to_exposure(space, ci[1]),
            rank_to_exposure(space, ci[0]),
        ],
        log_likelihood: own,
        extracted,
        note: None,
    };
    let lp = scores(&candidates)?;
    let k = lp.iter().filter(|x| x.0 > own).count() as u64;
    if enumerate {
        let rank = 1.0 + k as f64;
        return Ok(done("exact-enumeration", lp.len(), k, rank, [rank, rank]));
    }
    let n = lp.len() as u64;
    // No sampled candidate beats the canary: a rank the sample cannot resolve, and the case
    // where the search is cheap (a memorised canary has few better candidates to find).
    let note = if k == 0 {
        match &ct {
            None => Some("the tokenizer does not give each secret character its own token"),
            Some(ct) => {
                let mut search = Search {
                    model,
                    ct,
                    secret: indices(c, &c.secret),
                    rivals: rivals.iter().map(|r| indices(c, r)).collect(),
                    threshold: own,
                    budget: s.search_budget,
                    chunk,
                    expanded: 0,
                    better: 0,
                };
                match tch::no_grad(|| search.run()) {
                    Ok(()) => {
                        let rank = 1.0 + search.better as f64;
                        return Ok(done(
                            "exact-search",
                            search.expanded,
                            search.better,
                            rank,
                            [rank, rank],
                        ));
                    }
                    Err(OverBudget) => Some("the search exceeded its node budget"),
                }
            }
        }
    } else {
        None
    };
    let p = if k == 0 {
        1.0 - 0.5f64.powf(1.0 / n as f64)
    } else {
        k as f64 / n as f64
    };
    let [lo, hi] = clopper_pearson(k, n).expect("n > 0");
    let r = |f: f64| 1.0 + f * (space - 1) as f64;
    let mut e = done("sampled", lp.len(), k, r(p), [r(lo), r(hi)]);
    e.note = note.map(String::from);
    Ok(e)
}

/// 95% interval of the mean exposure over canaries: Student t (`mean ± t(0.975, m−1)·sd/√m`),
/// clipped to `[0, mean ceiling]` where exposure lives. A percentile bootstrap over 4–10
/// canaries is too narrow (it misses the t quantile and the `m/(m−1)` variance correction).
pub fn mean_interval(out: &[Exposure]) -> Ci {
    let xs: Vec<f64> = out.iter().map(|e| e.exposure).collect();
    let ceiling = out
        .iter()
        .map(|e| (e.space_size as f64).log2())
        .sum::<f64>()
        / out.len().max(1) as f64;
    t_mean(&xs).map(|[lo, hi]| [lo.max(0.0), hi.min(ceiling)])
}

/// Mean and standard deviation of exposure when the canary's rank is uniform on `1..=space`
/// (a model that never saw it): about `1/ln 2` ≈ 1.44 bits and 1.44 bits for large spaces.
pub fn null_moments(space: u64) -> (f64, f64) {
    let n = space.max(1);
    let lg = (n as f64).log2();
    if n <= 1_000_000 {
        let (mut s, mut s2) = (0.0, 0.0);
        for r in 1..=n {
            let e = lg - (r as f64).log2();
            s += e;
            s2 += e * e;
        }
        let m = s / n as f64;
        (m, (s2 / n as f64 - m * m).max(0.0).sqrt())
    } else {
        let k = std::f64::consts::LOG2_E;
        (k, k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_enumerate_the_space() {
        let c = Canary {
            id: "c".into(),
            text: "PIN 042.".into(),
            prefix: "PIN ".into(),
            secret: "042".into(),
            suffix: ".".into(),
            label: "PIN".into(),
            alphabet: "0123456789".into(),
            length: 3,
            space_size: 1000,
            repeats: 1,
        };
        assert_eq!(candidate(&c, 0), "000");
        assert_eq!(candidate(&c, 42), "042");
        assert_eq!(candidate(&c, 999), "999");
        assert_eq!(secret_range(&c), (4, 7));
    }

    fn pin(id: &str, prefix: &str, secret: &str) -> Canary {
        Canary {
            id: id.into(),
            text: format!("{prefix}{secret}."),
            prefix: prefix.into(),
            secret: secret.into(),
            suffix: ".".into(),
            label: "PIN".into(),
            alphabet: "0123456789".into(),
            length: 3,
            space_size: 1000,
            repeats: 1,
        }
    }

    #[test]
    fn rivals_are_other_secrets_of_the_same_space() {
        let all = [
            pin("a", "PIN is ", "123"),
            pin("b", "PIN is ", "456"),
            pin("c", "PIN is ", "123"),
            pin("d", "Code is ", "789"),
            pin("e", "PIN is ", "456"),
        ];
        assert_eq!(rivals(&all[0], &all), ["456"]);
        assert_eq!(rivals(&all[1], &all), ["123"]);
        assert!(rivals(&all[3], &all).is_empty());
    }

    #[test]
    fn memorised_canaries_all_rank_first() {
        // A bigram model that finds each of three secrets far likelier than any other
        // candidate, the first a little likelier than the second, the second than the third:
        // ranked against one another they would rank 1, 2, 3.
        let dir = tempfile::tempdir().unwrap();
        let tok = crate::testing::digit_tokenizer(dir.path(), &["PIN", "is"]);
        let id = |t: &str| tok.token_to_id(t).unwrap() as usize;
        let secrets = ["123", "456", "789"];
        let mut logits = vec![];
        for (s, first) in secrets.iter().zip([12.0, 11.0, 10.0]) {
            let d: Vec<usize> = s.chars().map(|ch| id(&ch.to_string())).collect();
            logits.extend([
                ((id("is"), d[0]), first),
                ((d[0], d[1]), 12.0),
                ((d[1], d[2]), 12.0),
            ]);
        }
        let model = crate::testing::bigram_model(dir.path(), &logits);
        let all: Vec<Canary> = secrets
            .iter()
            .map(|s| pin(&format!("c{s}"), "PIN is ", s))
            .collect();
        // Enumerated; searched (few samples); searched after a large sample (which, without
        // the rivals left out, would hold some of them and be a sampled estimate).
        for (exact_max, samples, method) in [
            (1000, 1, "exact-enumeration"),
            (0, 50, "exact-search"),
            (0, 3000, "exact-search"),
        ] {
            let s = Settings {
                exact_max,
                samples,
                search_budget: 1000,
                batch: 8,
            };
            let es: Vec<Exposure> = all
                .iter()
                .map(|c| exposure(&model, &tok, c, &rivals(c, &all), &s).unwrap())
                .collect();
            let ranks: Vec<(&str, f64)> = es.iter().map(|e| (e.method.as_str(), e.rank)).collect();
            assert_eq!(ranks, [(method, 1.0); 3], "{es:?}");
            for e in es {
                assert_eq!((e.space_size, e.other_secrets_excluded), (998, 2));
                assert_eq!(e.exposure, 998f64.log2());
            }
        }
    }

    #[test]
    fn null_exposure_is_about_one_over_ln2() {
        let (m, sd) = null_moments(1_000_000);
        assert!((m - std::f64::consts::LOG2_E).abs() < 1e-3, "{m}");
        assert!((sd - std::f64::consts::LOG2_E).abs() < 1e-2, "{sd}");
        assert_eq!(null_moments(1), (0.0, 0.0));
    }
}

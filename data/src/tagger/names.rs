//! Person names without a gazetteer: name-like word sequences (any script with case, hyphens,
//! apostrophes, particles such as "van der"), the filler words that open an answer ("Sure,
//! it's …"), and re-finding a name once known ("Thanks, Marisol").

use super::Found;
use regex::Regex;
use std::collections::HashSet;
use std::sync::OnceLock;

/// Lower-case particles inside names ("Lars van der Berg", "Rafael dos Santos").
const PARTICLES: &str =
    "van|von|der|den|de|del|della|da|das|do|dos|du|di|la|le|bin|binti|bint|ibn|al|el|ter|ten|zu|af|av|ap|y";

/// Capitalised words that open an answer or title a person without being part of a name
/// (compared lower-cased). Also the words a lower-case answer must not consist of.
const STOP: &str = concat!(
    "sure yes yeah yep yup ya ok okay of course certainly absolutely hi hello hey um uh er erm ",
    "hmm well so oh right thanks thank you no not problem it's its it is this that's that the a ",
    "an my name name's names i i'm im me full first last surname given under mr mrs ms miss mx dr ",
    "prof sir madam sgt sergeant officer petty captain capt lt lieutenant cpl corporal private ",
    "pvt major colonel col admiral chief rev please pls plz sorry just and or but also here ",
    "speaking from account holder card customer agent support team monday tuesday wednesday ",
    "thursday friday saturday sunday may ",
    "october good morning afternoon evening let one sec second moment hold on ",
    "what why who how can could would will do does did don't dont all any anything nothing there ",
    "we our your his her their husband wife son daughter mother father mom mum dad partner friend ",
    "neighbour neighbor again actually still fine great perfect cool nope nah correct exactly ",
    "definitely same as before email phone address number order in at to for with by thx ty k u ",
    "ur mine idk know think maybe need want check wait find call text send sent got get have had ",
    "has be been done now later today tomorrow yesterday wrong bye nice lol min minute these ",
    "those already are was were if then because why's what's who's where when which like use used ",
    "new old up out about should must dear regards best cheers kind welcome hope happy glad"
);

/// What opens an answer before the value itself ("Sure, it's", "my name is", "uh yeah,").
const FILLER: &str = concat!(
    r"^(?i:(?:sure|yes|yeah|yep|yup|ya|ok|okay|of course|certainly|absolutely|hi|hello|hey|um+|uh+|erm?|",
    r"well|so|oh|right|thanks|thank you|no problem|it'?s|it is|this is|that'?s|that is|that would be|",
    r"it should be|should be|my name'?s|name'?s|my (?:full |first |last )?name is|the name is|the name'?s|",
    r"name is|i'?m|i am|you'?re speaking (?:to|with)|speaking|the (?:account|booking|order|reservation) is under|",
    r"it'?s under|under|it was|you can put|put it under)\b[\s,.:;!\u{2014}\u{2013}-]*)*"
);

struct NameRules {
    seq: Regex,
    filler: Regex,
    before: Regex,
    lower: Regex,
    stop: HashSet<&'static str>,
    particles: HashSet<&'static str>,
}

fn rules() -> &'static NameRules {
    static R: OnceLock<NameRules> = OnceLock::new();
    R.get_or_init(|| {
        let re = |s: &str| Regex::new(s).expect("valid name regex");
        // One word: "Zoë", "O'Connell", "MacLeod", "Jae-won", "Al-Harbi"; or an initial "M.".
        let word = r"\p{Lu}(?:[\p{Ll}\p{M}]+(?:\p{Lu}[\p{Ll}\p{M}]+)?|['’]\p{Lu}[\p{Ll}\p{M}]+)(?:-\p{Lu}?[\p{Ll}\p{M}]+)*";
        let part = format!(r"(?:{PARTICLES})");
        NameRules {
            seq: re(&format!(
                r"\b(?:{part} )*{word}(?:(?: {part})* (?:{word}|\p{{Lu}}\.))*"
            )),
            filler: re(FILLER),
            before: re(r"(?i)(?:[,:\u{2014}\u{2013}-]|\bname|\bis|\bit'?s|\bi'?m|\bam|\bunder|\bcalled)\s*$"),
            lower: re(r"^[\p{Ll}\p{M}'’-]{2,}(?: [\p{Ll}\p{M}'’-]{2,}){0,3}$"),
            stop: STOP.split_whitespace().collect(),
            particles: PARTICLES.split('|').collect(),
        }
    })
}

fn is_stop(word: &str) -> bool {
    let w = word.trim_end_matches('.').to_lowercase().replace('’', "'");
    rules().stop.contains(w.as_str())
}

/// Byte length of the fillers that open `s`.
pub(super) fn filler_len(s: &str) -> usize {
    rules().filler.find(s).map_or(0, |m| m.end())
}

/// Name-like sequences in `text[from..to]`, each trimmed of leading and trailing stop words
/// and particles: (start, end) in bytes of `text`.
fn sequences(text: &str, from: usize, to: usize) -> Vec<(usize, usize)> {
    let r = rules();
    let mut out = vec![];
    for m in r.seq.find_iter(&text[from..to]) {
        let words: Vec<(usize, &str)> = m
            .as_str()
            .split(' ')
            .scan(0, |off, w| {
                let at = *off;
                *off += w.len() + 1;
                Some((at, w))
            })
            .collect();
        let keep = |w: &str| !is_stop(w) && !r.particles.contains(w);
        let Some(first) = words.iter().position(|(_, w)| keep(w)) else {
            continue;
        };
        // A stop word after the start ends the name ("Saoirse O'Connell From …" stays out).
        let last = words[first..]
            .iter()
            .take_while(|(_, w)| !is_stop(w))
            .enumerate()
            .filter(|(_, (_, w))| keep(w))
            .map(|(i, _)| first + i)
            .last()
            .unwrap_or(first);
        let (a, _) = words[first];
        let (b, wb) = words[last];
        out.push((from + m.start() + a, from + m.start() + b + wb.len()));
    }
    out
}

/// The name given in an answer turn `text[from..to]` to a question about the name: right after
/// the fillers, or after a comma or "name" in the turn ("It's under my husband's name, Giovanni
/// Russo"), or the whole answer when it is one to four lower-case words that are not common
/// words ("priya raghunathan"). Returns whether a name was tagged.
pub(super) fn answer(text: &str, from: usize, to: usize, found: &mut Found) -> bool {
    let r = rules();
    let body = from + filler_len(&text[from..to]);
    let seqs = sequences(text, from, to);
    let at_start = seqs.iter().find(|&&(s, _)| s == body);
    // Later in the answer: after a comma, "name", "it's", "I'm" …, or alone in its sentence.
    let after_cue = seqs.iter().find(|&&(s, e)| {
        let alone = text[..s].trim_end().ends_with(['.', '!', '?'])
            && text[e..to]
                .trim_start()
                .chars()
                .next()
                .is_none_or(|c| ".!;".contains(c));
        r.before.is_match(&text[from..s]) || alone
    });
    if let Some(&(s, e)) = at_start.or(after_cue) {
        return found.take(s, e, "NAME");
    }
    let rest = text[body..to].trim_end_matches(|c: char| c.is_ascii_punctuation() || c == ' ');
    let lower_ok = r.lower.is_match(rest) && rest.split(' ').all(|w| !is_stop(w));
    if lower_ok && !rest.is_empty() {
        return found.take(body, body + rest.len(), "NAME");
    }
    false
}

/// Every further occurrence of a word of a name already tagged ("Thank you, Marisol", "Mr. van
/// der Berg"): runs of known words inside name-like sequences, with at least one capitalised.
pub(super) fn propagate(text: &str, found: &mut Found) {
    let r = rules();
    let known: HashSet<String> = found
        .with_label("NAME")
        .flat_map(|(s, e)| text[s..e].split([' ', '-']).map(str::to_lowercase))
        .filter(|w| w.chars().count() >= 2 && !is_stop(w))
        .collect();
    if known.is_empty() {
        return;
    }
    let mut runs = vec![];
    for m in r.seq.find_iter(text) {
        // (start, end of the last capitalised known word) of the current run.
        let mut run: Option<(usize, Option<usize>)> = None;
        let mut off = m.start();
        for w in m.as_str().split(' ') {
            let (s, e) = (off, off + w.len());
            off = e + 1;
            let is_known = w.split('-').all(|p| known.contains(&p.to_lowercase()));
            let capital = (!r.particles.contains(w)).then_some(e);
            match (&mut run, is_known) {
                (Some(rn), true) => rn.1 = capital.or(rn.1),
                (None, true) => run = Some((s, capital)),
                (Some(_), false) => runs.extend(run.take()),
                (None, false) => {}
            }
        }
        runs.extend(run);
    }
    for (s, e) in runs {
        if let Some(e) = e {
            found.take(s, e, "NAME");
        }
    }
}

//! Dialogue context: a text split into turns ("Agent: …", "[customer] …", "A: …", or plain
//! lines), the questions a turn asks ("May I have your full name?", "What's the tracking
//! number?") and the turns that answer them (the next one or two turns of another speaker,
//! until the asker asks something else).

use regex::Regex;
use std::sync::OnceLock;

/// What a question asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ask {
    Name,
    Email,
    Phone,
    Address,
    Birth,
    Order,
    Tracking,
}

/// One turn: the utterance after any speaker prefix, as a byte range of the text.
#[derive(Debug, Clone)]
pub(super) struct Turn {
    pub start: usize,
    pub end: usize,
    pub speaker: Option<String>,
}

/// A question and the byte ranges of the turns that may answer it, in order.
#[derive(Debug, Clone)]
pub(super) struct Question {
    pub ask: Ask,
    pub replies: Vec<(usize, usize)>,
}

struct DialogueRules {
    prefix: Regex,
    inline_speaker: Regex,
    sentence: Regex,
    request: Regex,
    asks: Vec<(Ask, Regex)>,
    not_postal: Regex,
    not_person: Regex,
}

const SPEAKERS: &str = "agent|customer|user|assistant|rep|representative|support|bot|chatbot|chat bot|caller|client|operator|guest|visitor|staff|advisor|adviser|associate|csr|host|system|human|ai|me|you|a|b|q";

fn rules() -> &'static DialogueRules {
    static R: OnceLock<DialogueRules> = OnceLock::new();
    R.get_or_init(|| {
        let re = |s: &str| Regex::new(s).expect("valid dialogue regex");
        let code_noun = r"(?:order|tracking|track|reference|ref|case|ticket|confirmation|booking|reservation|account|acct|membership|member|policy|claim|invoice|serial|customer|rma|return authori[sz]ation|voucher|receipt|transaction|incident|loyalty|shipment|parcel|package|consignment|waybill|warranty|subscription|contract|pnr|locator)";
        let code_kind = r"(?:number|no\b\.?|num\b|#|code|id\b|reference|ref\b)";
        DialogueRules {
            // "[10:02] Agent:", "[agent]", "<User>", "**Rep:**", "Chat bot:", "Agent (Maria):".
            prefix: re(concat!(
                r"^[ \t]*(?:[\[(]?\d{1,2}:\d{2}(?::\d{2})?(?: ?[AaPp][Mm])?[\])]?[ \t]*)?",
                r"(?:\[([^\]\n]{1,30})\]:?|<([^>\n]{1,30})>:?|\*{0,2}(\p{L}[\p{L}\p{N}._'-]*(?: [\p{L}\p{N}._'()-]+){0,2}?)\*{0,2}[ \t]*(?::\*{0,2}|>))[ \t]*"
            )),
            inline_speaker: re(&format!(r"[.?!…][\x22')]?[ \t]+(?i:{SPEAKERS})[ \t]*:")),
            sentence: re(r"[^.?!\n]+(?:[.?!]+|$)"),
            request: re(r"(?i)\b(?:please|pls|plz|provide|confirm|tell me|give me|enter|type|share|spell|verify|read (?:me|out)|need|can i (?:get|have|take)|could i (?:get|have|take)|may i (?:have|get|know|ask|take)|what(?:'s| is| was)|which|who|send me|let me know|i'll need)\b"),
            asks: vec![
                (Ask::Tracking, re(&format!(r"(?i)\b(?:tracking|track|shipment|parcel|package|consignment|waybill) ?{code_kind}|\btracking\b"))),
                (Ask::Order, re(&format!(r"(?i)\b{code_noun} ?{code_kind}|\b(?:order|reference|booking ref(?:erence)?|confirmation)\b"))),
                (Ask::Name, re(r"(?i)\bname\b|\bwho (?:am i|is this|do i have|'s calling|is calling|is speaking)|\bwho's (?:calling|this|speaking)|\bspeaking (?:to|with)\?")),
                (Ask::Email, re(r"(?i)\be-?mail\b")),
                (Ask::Phone, re(r"(?i)\b(?:phone|mobile|cell|telephone|landline|call ?back|contact number|best number|number (?:to|we can|i can) (?:reach|call|text)|reach you (?:on|at))\b")),
                (Ask::Address, re(r"(?i)\b(?:address|ship (?:it |this |them )?to|deliver (?:it |this |them )?to|send (?:it|this|them) to|location|where (?:do you live|are you located|should (?:we|i) (?:send|ship|deliver|mail)))\b")),
                (Ask::Birth, re(r"(?i)\b(?:date of birth|birth ?date|birthday|dob|d\.o\.b|when were you born|year of birth)\b")),
            ],
            not_postal: re(r"(?i)\b(?:e-?mail|ip|web|mac|wallet|ethereum|bitcoin) address"),
            not_person: re(r"(?i)\b(?:company|business|product|item|user|file|street|store|shop|brand|ship|pet|model|device|network|wifi|wi-fi|plan|app|domain|dog|cat|school|hotel|event|course|display|screen|account holder's bank|bank) name\b|\bname (?:of|for) (?:the|your) (?:company|business|product|item|store|shop|hotel|bank|school|dog|cat|pet|street|file|plan|app|device|event)"),
        }
    })
}

/// The turns of `text`: lines, and inside a line at "… . Customer: …".
pub(super) fn turns(text: &str) -> Vec<Turn> {
    let r = rules();
    let mut out = vec![];
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let line_end = line_start + line.trim_end_matches(['\n', '\r']).len();
        let mut cuts = vec![line_start];
        for m in r.inline_speaker.find_iter(&text[line_start..line_end]) {
            let gap = m.as_str().find([' ', '\t']).unwrap_or(0);
            let at = line_start + m.start() + gap;
            cuts.push(at + text[at..].len() - text[at..].trim_start().len());
        }
        cuts.push(line_end);
        for w in cuts.windows(2) {
            out.extend(turn(text, w[0], w[1]));
        }
        line_start += line.len();
    }
    out
}

fn turn(text: &str, from: usize, to: usize) -> Option<Turn> {
    let piece = &text[from..to];
    if piece.trim().is_empty() {
        return None;
    }
    let caps = rules().prefix.captures(piece).filter(|c| {
        let rest = &piece[c.get(0).map_or(0, |m| m.end())..];
        !rest.starts_with("//") && !rest.trim().is_empty()
    });
    let (start, speaker) = match caps {
        Some(c) => {
            let name = (1..=3)
                .find_map(|i| c.get(i))
                .map(|m| m.as_str().trim().to_lowercase());
            (from + c.get(0).map_or(0, |m| m.end()), name)
        }
        None => (from + piece.len() - piece.trim_start().len(), None),
    };
    let end = from + piece.trim_end().len();
    Some(Turn {
        start,
        end,
        speaker,
    })
}

/// What one turn asks for: the kinds named in its questions and requests.
pub(super) fn asks(text: &str, t: &Turn) -> Vec<Ask> {
    let r = rules();
    let mut out = vec![];
    for s in r.sentence.find_iter(&text[t.start..t.end]) {
        let s = s.as_str();
        if !(s.trim_end().ends_with('?') || r.request.is_match(s)) {
            continue;
        }
        let postal = r.not_postal.replace_all(s, "email");
        let person = r.not_person.replace_all(s, "thing");
        for (ask, re) in &r.asks {
            let hay = match ask {
                Ask::Address => &postal,
                Ask::Name => &person,
                _ => s,
            };
            // "tracking number" is not also an order number; an order code is not a name.
            let covered = *ask == Ask::Order && out.contains(&Ask::Tracking);
            if re.is_match(hay) && !covered && !out.contains(ask) {
                out.push(*ask);
            }
        }
    }
    out
}

/// Every question in `text` with the turns that may answer it: up to two later turns by
/// another speaker, until the asker asks again; only the next turn when speakers are unknown.
pub(super) fn questions(text: &str) -> Vec<Question> {
    let ts = turns(text);
    let mut out = vec![];
    for (i, t) in ts.iter().enumerate() {
        let kinds = asks(text, t);
        if kinds.is_empty() {
            continue;
        }
        let mut replies = vec![];
        for u in &ts[i + 1..] {
            let same = match (&t.speaker, &u.speaker) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            };
            if same {
                if text[u.start..u.end].contains('?') {
                    break;
                }
                continue;
            }
            replies.push((u.start, u.end));
            if replies.len() == 2 || t.speaker.is_none() || u.speaker.is_none() {
                break;
            }
        }
        out.extend(kinds.into_iter().map(|ask| Question {
            ask,
            replies: replies.clone(),
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(line: &str) -> Vec<Ask> {
        let t = turns(line);
        asks(line, &t[0])
    }

    #[test]
    fn speakers_and_turns() {
        let text = "[agent] Hi. Name?\nB: Ann\nplain line\nAgent: Hi. Customer: hello";
        let ts = turns(text);
        let got: Vec<(Option<&str>, &str)> = ts
            .iter()
            .map(|t| (t.speaker.as_deref(), &text[t.start..t.end]))
            .collect();
        assert_eq!(
            got,
            [
                (Some("agent"), "Hi. Name?"),
                (Some("b"), "Ann"),
                (None, "plain line"),
                (Some("agent"), "Hi."),
                (Some("customer"), "hello"),
            ]
        );
    }

    #[test]
    fn what_a_turn_asks() {
        assert_eq!(asked("Agent: May I have your full name?"), [Ask::Name]);
        assert_eq!(asked("Agent: What's the tracking number?"), [Ask::Tracking]);
        assert_eq!(
            asked("Agent: Can I have your name and account number?"),
            [Ask::Order, Ask::Name]
        );
        assert_eq!(asked("Agent: And your email address?"), [Ask::Email]);
        assert!(asked("Agent: Your order shipped today.").is_empty());
        assert!(asked("Agent: What's the name of the product?").is_empty());
    }
}

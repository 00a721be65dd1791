//! A rule-based PII tagger for unlabelled text: e-mails, phone numbers, card numbers (Luhn),
//! IBANs (mod 97), dates, order and tracking codes, street and military addresses, and person
//! names from a built-in first-name gazetteer. In dialogues it also reads the context: a value
//! given in answer to a question about it ("May I have your name?" / "Sure, it's Tomasz
//! Wiśniewski."), see [`dialogue`]. Labels match the generators' (`DATE` for any date).
//! This file turns matches into spans; the regexes are in [`rules`], the word lists in
//! [`gazetteer`].

mod dialogue;
mod gazetteer;
mod names;
mod rules;

use super::record::{Record, Span};
use super::values::{iban_valid, luhn_valid};
use dialogue::{Ask, Question};
use rules::{rules, Rules};

/// Byte ranges found so far with their labels; earlier rules win overlaps.
#[derive(Default)]
struct Found {
    spans: Vec<(usize, usize, &'static str)>,
}

impl Found {
    fn free(&self, start: usize, end: usize) -> bool {
        !self.spans.iter().any(|&(s, e, _)| start < e && s < end)
    }

    /// Keep a span unless it overlaps one already found; whether it was kept.
    fn take(&mut self, start: usize, end: usize, label: &'static str) -> bool {
        let ok = start < end && self.free(start, end);
        if ok {
            self.spans.push((start, end, label));
        }
        ok
    }

    fn with_label<'a>(&'a self, label: &'a str) -> impl Iterator<Item = (usize, usize)> + 'a {
        self.spans
            .iter()
            .filter(move |s| s.2 == label)
            .map(|&(s, e, _)| (s, e))
    }

    /// Whether a span of one of `labels` lies in `start..end`.
    fn has(&self, start: usize, end: usize, labels: &[&str]) -> bool {
        self.spans
            .iter()
            .any(|&(s, e, l)| start <= s && e <= end && labels.contains(&l))
    }
}

/// Tag `text`; spans are sorted, non-overlapping, in character offsets.
pub fn tag(text: &str) -> Vec<Span> {
    let r = rules();
    let questions = dialogue::questions(text);
    let mut found = Found::default();
    layouts(text, r, &questions, &mut found);
    codes(text, r, &questions, &mut found);
    dates_and_phones(text, r, &questions, &mut found);
    addresses(text, r, &questions, &mut found);
    person_names(text, r, &questions, &mut found);
    char_spans(text, found)
}

/// E-mails (and spoken ones in answers), IBANs (mod 97), carrier tracking layouts, card
/// numbers (Luhn).
fn layouts(text: &str, r: &Rules, questions: &[Question], found: &mut Found) {
    for m in r.email.find_iter(text) {
        found.take(m.start(), m.end(), "EMAIL");
    }
    answer_each(questions, Ask::Email, found, &["EMAIL"], |s, e, found| {
        let m = r.email_spoken.find(&text[s..e]);
        m.is_some_and(|m| found.take(s + m.start(), s + m.end(), "EMAIL"))
    });
    for m in r.iban.find_iter(text) {
        if iban_valid(m.as_str()) {
            found.take(m.start(), m.end(), "IBAN");
        }
    }
    for m in r.tracking.find_iter(text) {
        let ctx = tail(&text[..m.start()], 40).to_lowercase();
        // Twelve bare digits are only a tracking number when the text says so.
        if m.as_str().len() != 12 || ctx.contains("tracking") {
            found.take(m.start(), m.end(), "TRACKING_ID");
        }
    }
    for m in r.card.find_iter(text) {
        let digits: String = m.as_str().chars().filter(char::is_ascii_digit).collect();
        // Digits right after "DE89 " are the rest of an (invalid) IBAN, not a card.
        let iban_tail = r.iban_head.is_match(tail(&text[..m.start()], 5));
        if (13..=19).contains(&digits.len()) && luhn_valid(&digits) && !iban_tail {
            found.take(m.start(), m.end(), "CARD_NUMBER");
        }
    }
}

/// Military addresses; codes after a cue ("tracking number …", "case no. …"); the first code in
/// the answer to a question about an order, tracking, reference, account … number; order layouts.
fn codes(text: &str, r: &Rules, questions: &[Question], found: &mut Found) {
    for m in r.military.find_iter(text) {
        found.take(m.start(), m.end(), "ADDRESS");
    }
    for c in r.code_cue.captures_iter(text) {
        let (cue, m) = (c.get(1).expect("cue"), c.get(2).expect("code"));
        if let Some(end) = code_end(r, &text[m.start()..line_end(text, m.start())]) {
            found.take(m.start(), m.start() + end, code_label(cue.as_str()));
        }
    }
    for ask in [Ask::Tracking, Ask::Order] {
        let label = if ask == Ask::Tracking {
            "TRACKING_ID"
        } else {
            "ORDER_ID"
        };
        answer_each(
            questions,
            ask,
            found,
            &["ORDER_ID", "TRACKING_ID"],
            |s, e, found| {
                r.code.find_iter(&text[s..e]).any(|m| {
                    let end = code_end(r, &text[s + m.start()..e]);
                    end.is_some_and(|n| found.take(s + m.start(), s + m.start() + n, label))
                })
            },
        );
    }
}

fn code_label(cue: &str) -> &'static str {
    let cue = cue.to_lowercase();
    let tracking = ["track", "shipment", "parcel", "consignment", "waybill"];
    if tracking.iter().any(|t| cue.starts_with(t)) {
        "TRACKING_ID"
    } else {
        "ORDER_ID"
    }
}

/// The byte length of the code at the start of `s` (a token, then digit groups of three or
/// more: "AB12 3456 7890", "CLM 2024 88172"), or None when it is no code: at least five letters
/// or digits, one of them a digit, and no ordinal, amount, date or IBAN lookalike.
fn code_end(r: &Rules, s: &str) -> Option<usize> {
    let first = r.code.find(s).filter(|m| m.start() == 0)?.end();
    let mut end = first;
    loop {
        let group = s[end..].strip_prefix(' ').map_or("", |g| {
            let n = g.find(|c: char| !c.is_ascii_uppercase() && !c.is_ascii_digit());
            &g[..n.unwrap_or(g.len())]
        });
        let glued =
            digit_group(group) && !s[end + 1 + group.len()..].starts_with(char::is_alphanumeric);
        if !glued {
            break;
        }
        end += 1 + group.len();
    }
    let code = &s[..end];
    let body = code.trim_start_matches('#');
    let alnum = body.bytes().filter(u8::is_ascii_alphanumeric).count();
    let head = &s[..first];
    let head_ok = head.bytes().any(|b| b.is_ascii_digit())
        || (end > first
            && (2..=5).contains(&head.len())
            && head.bytes().all(|b| b.is_ascii_uppercase()));
    let lookalike = r.not_code.is_match(body) || r.iban_shape.is_match(body);
    ((alnum >= 5 && head_ok || letter_code(body)) && !lookalike).then_some(end)
}

/// A code of letters only, as booking references and case codes are (`VNHQRD`, `CHG-PLWX`,
/// `mvrkdz` in chat): it stands after a cue or in an answer (the caller's context), is no word
/// of `not_codes.txt`, and does not read as a word: in upper case at least four letters with at
/// most one vowel in three, in lower case at least five letters and no vowel.
fn letter_code(body: &str) -> bool {
    let letters: Vec<char> = body.chars().filter(char::is_ascii_alphabetic).collect();
    let alnum = body.chars().filter(char::is_ascii_alphanumeric).count();
    if letters.len() != alnum || body.contains(['/', '.']) {
        return false;
    }
    let vowels = letters
        .iter()
        .filter(|c| "aeiouAEIOU".contains(**c))
        .count();
    let upper = letters.iter().all(char::is_ascii_uppercase);
    let lower = letters.iter().all(char::is_ascii_lowercase);
    let shaped = (upper && letters.len() >= 4 && 3 * vowels <= letters.len())
        || (lower && letters.len() >= 5 && vowels == 0);
    let word = body
        .split('-')
        .any(|w| gazetteer::NOT_CODES.contains(w.to_lowercase().as_str()));
    shaped && !word
}

/// A digit group glued to a code: three or more upper-case letters or digits, one a digit.
fn digit_group(group: &str) -> bool {
    group.len() >= 3 && group.bytes().any(|b| b.is_ascii_digit())
}

/// Run `extract` on the answers to each question of kind `ask`, stopping at the first answer
/// that already has a span of one of `labels` or where `extract` tags one.
fn answer_each(
    questions: &[Question],
    ask: Ask,
    found: &mut Found,
    labels: &[&str],
    mut extract: impl FnMut(usize, usize, &mut Found) -> bool,
) {
    for q in questions.iter().filter(|q| q.ask == ask) {
        for &(s, e) in &q.replies {
            if found.has(s, e, labels) || extract(s, e, found) {
                break;
            }
        }
    }
}

/// Whether a number starting at byte `start` stands on its own (not the tail of "INV-2024…").
fn number_alone(text: &str, start: usize) -> bool {
    let mut before = text[..start].chars().rev();
    match before.next() {
        None => true,
        Some(c) if c.is_alphanumeric() => false,
        Some('-' | '/' | '.') => !before.next().is_some_and(char::is_alphanumeric),
        Some(_) => true,
    }
}

/// Dates (and two-digit-year dates of birth in answers), phone numbers (and shorter ones in
/// answers to a question about the phone).
fn dates_and_phones(text: &str, r: &Rules, questions: &[Question], found: &mut Found) {
    for m in r.date.find_iter(text) {
        found.take(m.start(), m.end(), "DATE");
    }
    answer_each(questions, Ask::Birth, found, &["DATE"], |s, e, found| {
        let m = r.date_short.find(&text[s..e]);
        m.is_some_and(|m| found.take(s + m.start(), s + m.end(), "DATE"))
    });
    for m in r.phone.find_iter(text) {
        let country = r.phone_country.find(tail(&text[..m.start()], 6));
        let start = country.map_or(m.start(), |c| m.start() - (c.end() - c.start()));
        if number_alone(text, start) {
            found.take(start, m.end() + extension(text, m.end()), "PHONE");
        }
    }
    for m in r.phone_any.find_iter(text) {
        let number = m.as_str().split(['x', 'e']).next().unwrap_or("");
        let digits = number.bytes().filter(u8::is_ascii_digit).count();
        if (9..=15).contains(&digits) && number_alone(text, m.start()) {
            found.take(m.start(), m.end() + extension(text, m.end()), "PHONE");
        }
    }
    answer_each(questions, Ask::Phone, found, &["PHONE"], |s, e, found| {
        r.phone_loose.find_iter(&text[s..e]).any(|m| {
            let digits = m.as_str().bytes().filter(u8::is_ascii_digit).count();
            let (a, b) = (s + m.start(), s + m.end());
            let b = b + extension(text, b);
            (7..=15).contains(&digits) && number_alone(text, a) && found.take(a, b, "PHONE")
        })
    });
}

/// The byte length of an extension written after a phone number (" ext. 307", ", extension
/// 2214", " x12"), 0 when none follows.
fn extension(text: &str, end: usize) -> usize {
    static EXT: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^(?i:,? ?(?:x|ext\.?|extension) ?\d{1,6}\b)").expect("valid regex")
    });
    EXT.find(&text[end..]).map_or(0, |m| m.end())
}

/// Order layouts, street addresses, and the address given in answer to a question about it.
fn addresses(text: &str, r: &Rules, questions: &[Question], found: &mut Found) {
    for m in r.order.find_iter(text) {
        found.take(m.start(), m.end(), "ORDER_ID");
    }
    for m in r.address.find_iter(text) {
        // "Priya Green", "Edward Hill": a first name before a designator is a person.
        let first = m.as_str().split(' ').next().unwrap_or("");
        if !gazetteer::FIRST_NAMES.contains(first) {
            found.take(m.start(), m.end(), "ADDRESS");
        }
    }
    for m in r.address_bare.find_iter(text) {
        found.take(m.start(), m.end(), "ADDRESS");
    }
    answer_each(
        questions,
        Ask::Address,
        found,
        &["ADDRESS"],
        |s, e, found| {
            answer_address(text, r, s, e).is_some_and(|(a, b)| found.take(a, b, "ADDRESS"))
        },
    );
}

/// An address given in answer: from a house number or unit to the end of the sentence, through
/// comma-separated parts that start with a capital, digit or unit word ("I'm at 11950 State
/// Highway 287, Laporte, CO 80535, the car won't start" stops before "the car").
fn answer_address(text: &str, r: &Rules, from: usize, to: usize) -> Option<(usize, usize)> {
    let start = from + r.address_start.find(&text[from..to])?.start();
    let rest = &text[start..to];
    let mut end = 0;
    for (i, part) in rest.split(',').enumerate() {
        let p = part.trim_start();
        let lower_unit = ["apt", "unit", "flat", "suite", "ul.", "c/o", "box"];
        let ok = i == 0
            || p.starts_with(|c: char| c.is_uppercase() || c.is_ascii_digit() || c == '#')
            || lower_unit.iter().any(|u| p.to_lowercase().starts_with(u));
        if !ok {
            break;
        }
        // A sentence ends at ". X" (not "St. X") or at "!", "?", ";".
        let stop = sentence_end(part);
        end += usize::from(i > 0) + stop;
        if stop < part.len() {
            break;
        }
    }
    let span =
        rest[..end].trim_end_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace());
    let words = span.split_whitespace().count();
    (words >= 2 && span.chars().count() <= 120).then(|| (start, start + span.len()))
}

/// The byte length of `part` up to the end of its first sentence.
fn sentence_end(part: &str) -> usize {
    let abbrev = [
        "St", "Ave", "Rd", "Dr", "Apt", "Blvd", "Ln", "Ct", "ul", "No", "Mt", "Ft", "Pl", "Sq",
        "Hwy", "Ste",
    ];
    for (i, c) in part.char_indices() {
        match c {
            '!' | '?' | ';' => return i,
            '.' => {
                let word = part[..i].rsplit(' ').next().unwrap_or("");
                let next = part[i + 1..].trim_start().chars().next();
                let ends = next.is_none_or(|n| n.is_uppercase()) && part[i + 1..].starts_with(' ');
                if ends && !abbrev.contains(&word) {
                    return i;
                }
            }
            _ => {}
        }
    }
    part.len()
}

/// Names after cues, names given in answer to a question about the name, gazetteer first names
/// with their surname, and every later mention of a name found.
fn person_names(text: &str, r: &Rules, questions: &[Question], found: &mut Found) {
    for c in r.name_cue.captures_iter(text) {
        let m = c.get(1).expect("group 1");
        let first = m.as_str().split(' ').next().unwrap_or("");
        if !gazetteer::NOT_NAMES.contains(first) {
            found.take(m.start(), m.end(), "NAME");
        }
    }
    answer_each(questions, Ask::Name, found, &["NAME"], |s, e, found| {
        names::answer(text, s, e, found)
    });
    // A gazetteer first name, plus the capitalised word after it (the surname) if any.
    for m in r.name.find_iter(text) {
        if gazetteer::FIRST_NAMES.contains(m.as_str()) {
            let end = r
                .surname
                .find(&text[m.end()..])
                .map_or(m.end(), |s| m.end() + s.end());
            found.take(m.start(), end, "NAME");
        }
    }
    names::propagate(text, found);
}

/// Byte ranges to sorted character-offset spans.
fn char_spans(text: &str, mut found: Found) -> Vec<Span> {
    found.spans.sort();
    let mut spans = Vec::with_capacity(found.spans.len());
    let (mut byte, mut chars) = (0, 0);
    let mut advance = |to: usize| {
        chars += text[byte..to].chars().count();
        byte = to;
        chars
    };
    for (s, e, label) in found.spans {
        let start = advance(s);
        let end = advance(e);
        spans.push(Span {
            start,
            end,
            label: label.to_string(),
        });
    }
    spans
}

/// Where the line holding byte `at` ends.
fn line_end(text: &str, at: usize) -> usize {
    text[at..].find('\n').map_or(text.len(), |n| at + n)
}

/// The last `n` bytes of `s`, widened to a character boundary.
fn tail(s: &str, n: usize) -> &str {
    let mut from = s.len().saturating_sub(n);
    while !s.is_char_boundary(from) {
        from -= 1;
    }
    &s[from..]
}

/// Tag a record, replacing its spans.
pub fn tag_record(r: &Record) -> Record {
    Record {
        id: r.id.clone(),
        text: r.text.clone(),
        spans: tag(&r.text),
        user: r.user.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(text: &str) -> Vec<(String, String)> {
        let r = Record {
            id: "x".into(),
            text: text.into(),
            spans: tag(text),
            user: None,
        };
        r.spans
            .iter()
            .map(|s| (s.label.clone(), r.span_text(s)))
            .collect()
    }

    #[test]
    fn finds_each_kind() {
        let got = labels(
            "Hi, I'm Zoë Müller (zoe.muller@proton.me, +1 415 555 0187). Card 4111 1111 1111 1111, \
             IBAN DE89 3704 0044 0532 0130 00, born March 4, 1990. Order ORD-583920, tracking 1Z999AA10123456784. \
             Ship to 12 Maple Street, Apt 4B, Portland, OR 97201.",
        );
        let want = [
            ("NAME", "Zoë Müller"),
            ("EMAIL", "zoe.muller@proton.me"),
            ("PHONE", "+1 415 555 0187"),
            ("CARD_NUMBER", "4111 1111 1111 1111"),
            ("IBAN", "DE89 3704 0044 0532 0130 00"),
            ("DATE", "March 4, 1990"),
            ("ORDER_ID", "ORD-583920"),
            ("TRACKING_ID", "1Z999AA10123456784"),
            ("ADDRESS", "12 Maple Street, Apt 4B, Portland, OR 97201"),
        ];
        for (l, v) in want {
            assert!(
                got.contains(&(l.to_string(), v.to_string())),
                "missing {l} {v:?} in {got:?}"
            );
        }
        assert_eq!(got.len(), want.len(), "{got:?}");
    }

    #[test]
    fn checksums_reject_lookalikes() {
        assert!(labels("Card 4111 1111 1111 1112 declined").is_empty());
        let bad = labels("ref DE89 3704 0044 0532 0130 01");
        assert!(bad.is_empty(), "{bad:?}");
        assert!(labels("The Customer Service team").is_empty());
        // Multi-byte text right before a match must not break context look-behind.
        assert_eq!(labels("日本語 tracking 123456789012")[0].0, "TRACKING_ID");
        assert_eq!(labels("€€€€4111111111111111")[0].0, "CARD_NUMBER");
    }

    fn has(got: &[(String, String)], label: &str, value: &str) -> bool {
        got.contains(&(label.to_string(), value.to_string()))
    }

    #[test]
    fn names_given_in_answer() {
        let got = labels(
            "Agent: May I have your full name?\nCustomer: Sure, it's Marisol Okonkwo-Brandt.\n\
             Agent: Thank you, Marisol. Anything else?",
        );
        assert!(has(&got, "NAME", "Marisol Okonkwo-Brandt"), "{got:?}");
        assert!(has(&got, "NAME", "Marisol"), "{got:?}");
        assert_eq!(got.len(), 2, "{got:?}");
        let got = labels("[agent] Who am I speaking with?\n[customer] Tomasz Wiśniewski");
        assert_eq!(got, [("NAME".into(), "Tomasz Wiśniewski".into())]);
        let got = labels("A: name pls\nB: its priya raghunathan");
        assert_eq!(got, [("NAME".into(), "priya raghunathan".into())]);
        let got = labels("Agent: What's your name?\nCustomer: Lars van der Berg\nAgent: Thanks, Mr. van der Berg.");
        assert!(has(&got, "NAME", "van der Berg"), "{got:?}");
    }

    #[test]
    fn answers_without_values_tag_nothing() {
        for text in [
            "Agent: May I have your full name?\nCustomer: thanks",
            "Agent: May I have your full name?\nCustomer: Why do you need it?",
            "Agent: Can I get your name?\nCustomer: Sure, one moment please.",
            "Agent: What's the order number?\nCustomer: I ordered 3 items on Monday.",
            "Agent: What's the delivery address?\nCustomer: Same as last time, I think.",
            "Agent: What's the name of the product?\nCustomer: The Blue Velvet Sofa.",
            "Agent: What's your phone number?\nCustomer: It's an iPhone 12.",
        ] {
            assert!(labels(text).is_empty(), "{text:?}: {:?}", labels(text));
        }
    }

    #[test]
    fn phone_extensions_belong_to_the_number() {
        for (text, phone) in [
            (
                "Call me on +1 (415) 555-0142 ext. 307 please.",
                "+1 (415) 555-0142 ext. 307",
            ),
            (
                "It's 020 7946 0018 extension 2214.",
                "020 7946 0018 extension 2214",
            ),
        ] {
            let got = labels(text);
            assert!(has(&got, "PHONE", phone), "{got:?}");
        }
    }

    #[test]
    fn letter_codes_after_cues_and_in_answers() {
        let got = labels("Agent: What's your booking reference?\nCustomer: It's VNHQRD.");
        assert!(has(&got, "ORDER_ID", "VNHQRD"), "{got:?}");
        let got = labels("Agent: Done. Your change reference is CHG-PLWX.");
        assert!(has(&got, "ORDER_ID", "CHG-PLWX"), "{got:?}");
        let got = labels("agent: can i get the order ref?\nuser: its mvrkdz");
        assert!(has(&got, "ORDER_ID", "mvrkdz"), "{got:?}");
        // Words are no codes, whatever their case.
        for text in [
            "Agent: What's the order reference?\nCustomer: THANKS, one sec",
            "Your order is PENDING.",
            "Agent: booking reference?\nCustomer: sorry, lost it",
            "The policy covers it.",
        ] {
            let got = labels(text);
            assert!(!got.iter().any(|(l, _)| l == "ORDER_ID"), "{text}: {got:?}");
        }
    }

    #[test]
    fn codes_after_cues_and_in_answers() {
        let got = labels(
            "Customer: My tracking number is LX-448120395-Q and my case number is CS 2024 88172.",
        );
        assert!(has(&got, "TRACKING_ID", "LX-448120395-Q"), "{got:?}");
        assert!(has(&got, "ORDER_ID", "CS 2024 88172"), "{got:?}");
        let got = labels("Agent: Can I get your confirmation code?\nCustomer: yes it's qx7t9p");
        assert_eq!(got, [("ORDER_ID".into(), "qx7t9p".into())]);
        // An account number is not a phone number, and an invoice year is not one either.
        let got = labels(
            "Agent: What is your account number?\nCustomer: 4400918273\nAgent: And INV-2024-00731?",
        );
        assert!(has(&got, "ORDER_ID", "4400918273"), "{got:?}");
        assert!(!got.iter().any(|(l, _)| l == "PHONE"), "{got:?}");
    }

    #[test]
    fn military_and_unlisted_street_addresses() {
        for a in [
            "PSC 1234, Box 5678, APO AE 09204",
            "Unit 2050 Box 4190, DPO AP 96522",
            "USNS Vega, FPO AA 34091",
            "45 Lantern Alley, Portland, ME 04101",
            "2207 Ocean Esplanade, Apt 5C, Santa Monica, CA 90401",
            "350 W 42nd St, New York, NY 10036",
            "11950 State Highway 287, Laporte, CO 80535",
            "Flat 3, 12 Kings Row, Leeds LS6 2AB",
        ] {
            let got = labels(&format!("Please ship it to {a}. Thanks!"));
            assert_eq!(got, [("ADDRESS".into(), a.into())], "{a}");
        }
        let got = labels("Agent: What's the shipping address?\nCustomer: It's 48 Rue des Lilas, 75011 Paris, thanks");
        assert_eq!(
            got,
            [("ADDRESS".into(), "48 Rue des Lilas, 75011 Paris".into())]
        );
    }
}

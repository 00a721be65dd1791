//! A rule-based PII tagger for unlabelled text: e-mails, phone numbers, card numbers (Luhn),
//! IBANs (mod 97), dates, order and tracking codes, street addresses, and person names from a
//! built-in first-name gazetteer. Labels match the generators' (`DATE` for any date).

use super::record::{Record, Span};
use super::values::{iban_valid, luhn_valid};
use regex::Regex;
use std::collections::HashSet;
use std::sync::OnceLock;

/// Common given names (a gazetteer, as in classic rule-based de-identification). Includes the
/// generators' names; see docs/datasets.md for what that means for the measured recall.
const GAZETTEER_EXTRA: &[&str] = &[
    "Alice",
    "Bob",
    "Carlos",
    "Diego",
    "Elena",
    "Fiona",
    "Grace",
    "Hannah",
    "Ivan",
    "Julia",
    "Kenji",
    "Lucas",
    "Marco",
    "Nina",
    "Oscar",
    "Paula",
    "Rosa",
    "Sofia",
    "Tom",
    "Victor",
    "Yara",
    "Zara",
    "Ahmed",
    "Ali",
    "Chen",
    "Hans",
    "Jean",
    "Juan",
    "Luis",
    "Pedro",
    "Sven",
    "Anne",
    "Claire",
    "Eva",
    "Ines",
    "Lena",
    "Marie",
    "Sara",
    // More common US/UK/German given names.
    "Adam",
    "Adrian",
    "Alan",
    "Albert",
    "Alexandra",
    "Alfred",
    "Alison",
    "Allison",
    "Andrea",
    "Angelika",
    "Anita",
    "Ann",
    "Annette",
    "Antonio",
    "Arthur",
    "Audrey",
    "Austin",
    "Barry",
    "Beatrice",
    "Bernd",
    "Beth",
    "Betty",
    "Beverly",
    "Bill",
    "Billy",
    "Bradley",
    "Bruce",
    "Bryan",
    "Caleb",
    "Calvin",
    "Cameron",
    "Carl",
    "Carla",
    "Caroline",
    "Catherine",
    "Charlotte",
    "Cheryl",
    "Christian",
    "Christina",
    "Christoph",
    "Cindy",
    "Claudia",
    "Clifford",
    "Colin",
    "Connor",
    "Craig",
    "Crystal",
    "Curtis",
    "Dale",
    "Dana",
    "Danielle",
    "Darren",
    "Dawn",
    "Dean",
    "Denise",
    "Derek",
    "Dieter",
    "Dominic",
    "Don",
    "Donald",
    "Doris",
    "Dorothy",
    "Douglas",
    "Dylan",
    "Eileen",
    "Eleanor",
    "Elaine",
    "Ellen",
    "Erica",
    "Erika",
    "Erin",
    "Ethan",
    "Eugene",
    "Evelyn",
    "Felix",
    "Florian",
    "Frances",
    "Francis",
    "Frederick",
    "Gabriel",
    "Gail",
    "Gavin",
    "Geoffrey",
    "Gerald",
    "Geraldine",
    "Gerhard",
    "Gina",
    "Gloria",
    "Gordon",
    "Graham",
    "Gudrun",
    "Günter",
    "Harold",
    "Harry",
    "Heidi",
    "Heinz",
    "Helga",
    "Henry",
    "Holly",
    "Ian",
    "Isabel",
    "Jacqueline",
    "Jake",
    "Jamie",
    "Jane",
    "Janice",
    "Jasmine",
    "Jeffery",
    "Jenna",
    "Jeremy",
    "Jesse",
    "Jill",
    "Joan",
    "Joanne",
    "Joe",
    "Joel",
    "Jonas",
    "Jordan",
    "Josephine",
    "Joy",
    "Judith",
    "Judy",
    "Julian",
    "Juliane",
    "Jürgen",
    "Karin",
    "Karl",
    "Kate",
    "Katie",
    "Kathryn",
    "Keith",
    "Kelly",
    "Kenneth",
    "Kerry",
    "Kim",
    "Klaus",
    "Kristin",
    "Kyle",
    "Lauren",
    "Lawrence",
    "Leah",
    "Leon",
    "Leslie",
    "Lewis",
    "Liam",
    "Lily",
    "Lindsay",
    "Logan",
    "Lori",
    "Louis",
    "Louise",
    "Lucy",
    "Luke",
    "Lukas",
    "Lynn",
    "Maja",
    "Manfred",
    "Manuel",
    "Marc",
    "Marcus",
    "Margaret",
    "Marilyn",
    "Mario",
    "Marion",
    "Marjorie",
    "Markus",
    "Martha",
    "Martin",
    "Marvin",
    "Matthias",
    "Maximilian",
    "Megan",
    "Melanie",
    "Mia",
    "Michaela",
    "Mike",
    "Mildred",
    "Miranda",
    "Mohammed",
    "Molly",
    "Monika",
    "Monica",
    "Natalie",
    "Nathan",
    "Neil",
    "Nicola",
    "Noah",
    "Norma",
    "Norman",
    "Oliver",
    "Owen",
    "Paige",
    "Paul",
    "Peggy",
    "Peter",
    "Petra",
    "Phillip",
    "Philip",
    "Phyllis",
    "Rachael",
    "Ralph",
    "Randy",
    "Rebekah",
    "Regina",
    "Reginald",
    "Rhys",
    "Rita",
    "Roger",
    "Ronnie",
    "Roy",
    "Ruby",
    "Russell",
    "Ruth",
    "Sabine",
    "Sally",
    "Sam",
    "Sean",
    "Shane",
    "Shannon",
    "Sheila",
    "Simon",
    "Sophie",
    "Stacy",
    "Stanley",
    "Stefan",
    "Stefanie",
    "Sue",
    "Susanne",
    "Suzanne",
    "Sylvia",
    "Tanja",
    "Tara",
    "Teresa",
    "Terry",
    "Theresa",
    "Tiffany",
    "Tina",
    "Toby",
    "Todd",
    "Tony",
    "Tracy",
    "Trevor",
    "Ursula",
    "Valerie",
    "Vanessa",
    "Vera",
    "Vernon",
    "Veronica",
    "Vincent",
    "Virginia",
    "Walter",
    "Wanda",
    "Wayne",
    "Wendy",
    "Werner",
    "Willie",
    "Wolfgang",
    "Yvonne",
    "Zachary",
];

/// Capitalised words that follow a name cue ("Dear …", "Hi …") without being names.
const NOT_NAMES: &[&str] = &[
    "Sir", "Madam", "Team", "Customer", "Support", "Agent", "Service", "There", "All", "Everyone",
    "Again", "The", "Mr", "Mrs", "Ms", "Dr", "Sorry", "Writing", "Calling", "Here", "Just", "Not",
    "So", "Still", "Also",
];

/// Street designators (USPS common suffixes, UK forms).
const STREET_SUFFIXES: &str = concat!(
    "Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct|Way|Place|Pl|Terrace|Ter|Circle|Cir|",
    "Parkway|Pkwy|Square|Sq|Highway|Hwy|Trail|Trl|Crescent|Cres|Close|Gardens|Grove|Hill|Hills|Park|Row|Walk|Cape|",
    "Point|Pass|Path|Plaza|Ridge|Run|Shore|Shores|Springs|Station|Valley|View|Views|Village|Ville|Well|Wells|",
    "Crossing|Creek|Estates|Falls|Ferry|Field|Fields|Forest|Fork|Fort|Glen|Green|Harbor|Harbour|Haven|Heights|",
    "Island|Islands|Junction|Key|Knoll|Lake|Lakes|Landing|Light|Lights|Lodge|Loop|Manor|Meadow|Meadows|Mill|Mills|",
    "Mission|Mount|Mountain|Neck|Orchard|Oval|Pike|Pine|Pines|Port|Prairie|Ranch|Rapids|Rest|Route|Spur|Stream|",
    "Summit|Trace|Track|Turnpike|Union|Vista|Mews|Gate|Rise|Side|Wharf|Yard|Brook|Burg|Camp|Canyon|Causeway|",
    "Center|Centre|Cliff|Cliffs|Club|Common|Corner|Corners|Course|Cove|Curve|Dale|Dam|Divide|Expressway|Flat|Flats|",
    "Ford|Freeway|Garden|Grounds|Hollow|Inlet|Isle|Lock|Locks|Mall|Motorway|Overpass|Parade|Plain|Plains|Radial|",
    "Ramp|Shoal|Shoals|Skyway|Squares|Stravenue|Streets|Throughway|Tunnel|Underpass|Valleys|Viaduct|Ways"
);

const MONTHS: &str =
    "January|February|March|April|May|June|July|August|September|October|November|December";

struct Rules {
    email: Regex,
    iban: Regex,
    iban_head: Regex,
    card: Regex,
    tracking: Regex,
    phone: Regex,
    phone_any: Regex,
    order_cue: Regex,
    name_cue: Regex,
    date: Regex,
    order: Regex,
    address: Regex,
    name: Regex,
    surname: Regex,
    first_names: HashSet<&'static str>,
    not_names: HashSet<&'static str>,
}

fn rules() -> &'static Rules {
    static R: OnceLock<Rules> = OnceLock::new();
    R.get_or_init(|| {
        let re = |s: &str| Regex::new(s).expect("valid tagger regex");
        Rules {
            email: re(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
            iban: re(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"),
            // Card layouts: 4-4-4-4 (13-19 digits in the last group run), Amex 4-6-5, or contiguous.
            card: re(r"\b(?:\d{4} \d{4} \d{4} \d{1,7}|\d{4}-\d{4}-\d{4}-\d{1,7}|\d{4} \d{6} \d{5}|\d{4}-\d{6}-\d{5}|\d{13,19})\b"),
            iban_head: re(r"[A-Z]{2}\d{2} $"),
            tracking: re(r"\b(?:1Z[0-9A-Z]{16}|9400\d{18}|TBA\d{12}|\d{12})\b"),
            phone: re(r"(?:\+44[ -]?7\d{3}[ -]?\d{6}|(?:\+1[ -])?(?:\(\d{3}\) ?|\b\d{3}[-. ])\d{3}[-. ]\d{4})\b"),
            // Any other international or national layout: +/00 prefix, (area), separators, extension;
            // accepted only with 9 to 15 digits.
            phone_any: re(r"(?:\+|\b00|\()?\d[\d ().-]{6,}\d(?: ?(?:x|ext\.?) ?\d{1,5})?\b"),
            order_cue: re(r"(?i:\border(?: number| no\.?| id)?:? #?)([A-Z0-9][A-Z0-9-]{4,}\b)"),
            name_cue: re(r"(?:\b(?:[Mm]y name is|[Nn]ame's|[Tt]his is|I'm|I am|[Oo]n behalf of|[Aa]ddressed to|Dear|Thanks,?|Hi,?|Hello,?|Mr\.?|Mrs\.?|Ms\.?|Dr\.?) )(\p{Lu}\p{Ll}+(?:-\p{Lu}\p{Ll}+)?(?: (?:O'|Mc|Mac)?\p{Lu}[\p{Ll}']+)?)"),
            date: re(&format!(
                r"\b(?:\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}/\d{{1,2}}/\d{{4}}|\d{{1,2}}\.\d{{1,2}}\.\d{{4}}|\d{{1,2}} (?:{MONTHS}) \d{{4}}|(?:{MONTHS}) \d{{1,2}}, \d{{4}})\b"
            )),
            order: re(r"(?:\b[A-Z]{1,4}-\d{5,}\b|#\d{6,}\b|\b[A-Z]\d{8,}\b)"),
            // US "12 Oak Street, Apt 4, Town, ST 12345", UK "Flat 2, 3 Mill Lane, Town, AB1 2CD",
            // German "Hauptstraße 5, 10115 Berlin".
            address: re(&format!(
                concat!(
                    r"(?:\b(?:Flat|Studio|Apt\.?|Unit) \d+[A-Za-z]?,? )?",
                    r"(?:\b\d{{1,5}}[A-Za-z]? (?:\p{{Lu}}\p{{Ll}}+ ){{1,3}}(?:{suffix})\b\.?",
                    r"|\b(?:\p{{Lu}}\p{{Ll}}+ ){{1,3}}(?:{suffix})\b\.?",
                    r"|\b(?:\p{{Lu}}\p{{Ll}}+-)*\p{{Lu}}\p{{Ll}}+(?:-?(?:[Ss]traße|[Ss]trasse|str\.|[Ww]eg|[Pp]latz|[Aa]llee|[Gg]asse|[Rr]ing|[Dd]amm|[Uu]fer)) \d{{1,4}}[a-z]?(?:[/-]\d{{1,4}})?)",
                    r"(?:,? (?:Apt|Apartment|Suite|Unit|Flat)\.? ?[0-9A-Za-z]+)?",
                    r"(?:,? (?:\p{{Lu}}[\p{{Ll}}]+[ -]?){{1,3}})?",
                    r"(?:,? (?:[A-Z]{{2}} \d{{5}}(?:-\d{{4}})?|[A-Z]{{1,2}}\d[A-Z\d]? ?\d[A-Z]{{2}}\b|\d{{5}} \p{{Lu}}[\p{{Ll}}]+(?:[ -]\p{{Lu}}[\p{{Ll}}]+)*))?"
                ),
                suffix = STREET_SUFFIXES
            )),
            name: re(r"\b\p{Lu}\p{Ll}+(?:-\p{Lu}\p{Ll}+)?"),
            surname: re(r"^ (?:O'|Mc|Mac)?\p{Lu}[\p{Ll}']+(?:-\p{Lu}\p{Ll}+)?"),
            first_names: super::values::FIRST_NAMES.iter().chain(GAZETTEER_EXTRA).copied().collect(),
            not_names: NOT_NAMES.iter().copied().collect(),
        }
    })
}

/// Tag `text`; spans are sorted, non-overlapping, in character offsets.
pub fn tag(text: &str) -> Vec<Span> {
    let r = rules();
    // (byte start, byte end, label), in priority order: earlier rules win overlaps.
    let mut found: Vec<(usize, usize, &str)> = vec![];
    let take =
        |start: usize, end: usize, label: &'static str, found: &mut Vec<(usize, usize, &str)>| {
            if !found.iter().any(|&(s, e, _)| start < e && s < end) {
                found.push((start, end, label));
            }
        };
    for m in r.email.find_iter(text) {
        take(m.start(), m.end(), "EMAIL", &mut found);
    }
    for m in r.iban.find_iter(text) {
        if iban_valid(m.as_str()) {
            take(m.start(), m.end(), "IBAN", &mut found);
        }
    }
    for m in r.tracking.find_iter(text) {
        let ctx = tail(&text[..m.start()], 40).to_lowercase();
        // Twelve bare digits are only a tracking number when the text says so.
        if m.as_str().len() != 12 || ctx.contains("tracking") {
            take(m.start(), m.end(), "TRACKING_ID", &mut found);
        }
    }
    for m in r.card.find_iter(text) {
        let digits: String = m.as_str().chars().filter(char::is_ascii_digit).collect();
        // Digits right after "DE89 " are the rest of an (invalid) IBAN, not a card.
        let iban_tail = r.iban_head.is_match(tail(&text[..m.start()], 5));
        if (13..=19).contains(&digits.len()) && luhn_valid(&digits) && !iban_tail {
            take(m.start(), m.end(), "CARD_NUMBER", &mut found);
        }
    }
    for c in r.order_cue.captures_iter(text) {
        let m = c.get(1).expect("group 1");
        if m.as_str().bytes().any(|b| b.is_ascii_digit()) {
            take(m.start(), m.end(), "ORDER_ID", &mut found);
        }
    }
    for (re, label) in [(&r.date, "DATE"), (&r.phone, "PHONE")] {
        for m in re.find_iter(text) {
            take(m.start(), m.end(), label, &mut found);
        }
    }
    for m in r.phone_any.find_iter(text) {
        let number = m.as_str().split(['x', 'e']).next().unwrap_or("");
        let digits = number.bytes().filter(u8::is_ascii_digit).count();
        if (9..=15).contains(&digits) {
            take(m.start(), m.end(), "PHONE", &mut found);
        }
    }
    for (re, label) in [(&r.order, "ORDER_ID"), (&r.address, "ADDRESS")] {
        for m in re.find_iter(text) {
            take(m.start(), m.end(), label, &mut found);
        }
    }
    for c in r.name_cue.captures_iter(text) {
        let m = c.get(1).expect("group 1");
        let first = m.as_str().split(' ').next().unwrap_or("");
        if !r.not_names.contains(first) {
            take(m.start(), m.end(), "NAME", &mut found);
        }
    }
    // A gazetteer first name, plus the capitalised word after it (the surname) if any.
    for m in r.name.find_iter(text) {
        if r.first_names.contains(m.as_str()) {
            let end = r
                .surname
                .find(&text[m.end()..])
                .map_or(m.end(), |s| m.end() + s.end());
            take(m.start(), end, "NAME", &mut found);
        }
    }
    found.sort();
    // Byte offsets to character offsets.
    let mut spans = Vec::with_capacity(found.len());
    let (mut byte, mut chars) = (0, 0);
    let mut advance = |to: usize| {
        chars += text[byte..to].chars().count();
        byte = to;
        chars
    };
    for (s, e, label) in found {
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
}

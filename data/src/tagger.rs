//! A rule-based PII tagger for unlabelled text: e-mails, phone numbers, card numbers (Luhn),
//! IBANs (mod 97), dates, order and tracking codes, street and military addresses, and person
//! names from a built-in first-name gazetteer. In dialogues it also reads the context: a value
//! given in answer to a question about it ("May I have your name?" / "Sure, it's Tomasz
//! Wiśniewski."), see [`dialogue`]. Labels match the generators' (`DATE` for any date).

mod dialogue;
mod names;

use super::record::{Record, Span};
use super::values::{iban_valid, luhn_valid};
use regex::Regex;
use std::collections::HashSet;
use std::sync::OnceLock;

use dialogue::{Ask, Question};

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

/// Street designators (USPS common suffixes, UK forms, promenades and alleys).
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
    "Ramp|Shoal|Shoals|Skyway|Squares|Stravenue|Streets|Throughway|Tunnel|Underpass|Valleys|Viaduct|Ways|",
    "Esplanade|Alley|Aly|Promenade|Quay|Broadway|Boardwalk|Embankment|Arcade|Strand|Circus|Chase|Drove|Wynd|",
    "Bypass|Concourse|Heath"
);

const MONTHS: &str = "January|February|March|April|May|June|July|August|September|October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec";

/// A word of a street name: "Maple", "O'Neil", "42nd", a direction ("W", "NE").
const STREET_WORD: &str = r"(?:\p{Lu}[\p{Ll}\p{M}'’]+(?:-\p{Lu}[\p{Ll}\p{M}]+)?|\d{1,3}(?:st|nd|rd|th)|(?:[NS][EW]|[NSEW])\.?)";
/// A flat, suite or unit after the street: ", Apt 4B", " Suite 210", ", Building B", " #12".
const ADDRESS_UNIT: &str = r"(?:,? (?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|Building|Bldg|Room|Rm)\.? ?[0-9A-Za-z]+|,? #\d+[A-Za-z]?)";
/// A town of one to three capitalised words.
const TOWN: &str = r"\p{Lu}[\p{Ll}\p{M}]+(?:[ -]\p{Lu}[\p{Ll}\p{M}]+){0,2}";
/// US state + ZIP, UK postcode, Canadian postal code.
const POSTAL: &str =
    r"(?:[A-Z]{2},? \d{5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b|[A-Z]\d[A-Z] ?\d[A-Z]\d\b)";

/// What a code after a cue must not be: ordinals, amounts, times with units, dates.
const NOT_CODE: &str = r"(?i)^(?:\d+(?:st|nd|rd|th|am|pm|kg|g|km|m|cm|mm|gb|mb|tb|ml|l|h|hrs?|mins?|s|x|k|p)|\d+[.,]\d{1,2}|\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4})$";

struct Rules {
    email: Regex,
    email_spoken: Regex,
    iban: Regex,
    iban_head: Regex,
    card: Regex,
    tracking: Regex,
    phone: Regex,
    phone_any: Regex,
    phone_country: Regex,
    phone_loose: Regex,
    code_cue: Regex,
    code: Regex,
    iban_shape: Regex,
    not_code: Regex,
    name_cue: Regex,
    date: Regex,
    date_short: Regex,
    order: Regex,
    military: Regex,
    address: Regex,
    address_bare: Regex,
    address_start: Regex,
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
            // Read aloud, only in answers to a question about the e-mail: "j dot smith at gmail dot com".
            email_spoken: re(r"(?i)\b[a-z0-9._-]+(?: (?:dot|underscore|dash) [a-z0-9_-]+)* (?:at) [a-z0-9-]+(?: dot [a-z0-9-]+)* dot [a-z]{2,6}\b"),
            iban: re(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"),
            // Card layouts: 4-4-4-4 (13-19 digits in the last group run), Amex 4-6-5, or contiguous.
            card: re(r"\b(?:\d{4} \d{4} \d{4} \d{1,7}|\d{4}-\d{4}-\d{4}-\d{1,7}|\d{4} \d{6} \d{5}|\d{4}-\d{6}-\d{5}|\d{13,19})\b"),
            iban_head: re(r"[A-Z]{2}\d{2} $"),
            // UPS, USPS, Amazon, bare 12 digits (FedEx), UPU S10 ("LX448120395CN").
            tracking: re(r"\b(?:1Z[0-9A-Z]{16}|9400\d{18}|TBA\d{12}|\d{12}|[A-Z]{2}\d{9}[A-Z]{2})\b"),
            phone: re(r"(?:\+44[ -]?7\d{3}[ -]?\d{6}|(?:\+1[ -])?(?:\(\d{3}\) ?|\b\d{3}[-. ])\d{3}[-. ]\d{4})\b"),
            // Any other international or national layout: +/00 prefix, (area), separators, extension;
            // accepted only with 9 to 15 digits.
            phone_any: re(r"(?:\+|\b00|\()?\d[\d ().-]{6,}\d(?: ?(?:x|ext\.?) ?\d{1,5})?\b"),
            phone_country: re(r"(?:\+|\b00)\d{1,3}[ .-]?$"),
            phone_loose: re(r"(?:\+|\b00|\()?\d[\d ().-]{4,}\d\b"),
            // A code after "tracking number", "order #", "reference", "case no.", "confirmation
            // code was", "account number": group 1 is the cue, group 2 the code.
            code_cue: re(concat!(
                r"(?i:\b((?:tracking|track|shipment|parcel|consignment|waybill)(?:[ -]?(?:number|no|num|code|id))?",
                r"|(?:order|reference|ref|case|ticket|confirmation|booking|reservation|invoice|claim|policy|rma|serial|voucher|receipt|transaction|incident|warranty|pnr)(?:[ -]?(?:number|no|num|code|id|reference|ref))?",
                r"|(?:customer|account|acct|member|membership|loyalty|subscription|contract|return authori[sz]ation|record)[ -]?(?:number|no|num|code|id|locator))\b\.?",
                r"(?:[ \t]*(?:is|was|will be|should be|it's|its|it is|of)\b|[ \t]*[:=])*[ \t]*)",
                r"(#?[A-Za-z0-9]+)"
            )),
            code: re(r"#?[A-Za-z0-9]+(?:[-/.][A-Za-z0-9]+)*"),
            // An IBAN written in groups ("DE89 3704 0044 …") that failed mod 97 is no code either.
            iban_shape: re(r"^[A-Z]{2}\d{2}(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?$"),
            not_code: re(NOT_CODE),
            name_cue: re(r"(?:\b(?:[Mm]y name is|[Nn]ame's|[Tt]his is|I'm|I am|[Oo]n behalf of|[Aa]ddressed to|Dear|Thanks,?|Hi,?|Hello,?|Mr\.?|Mrs\.?|Ms\.?|Dr\.?|(?:[Ff]irst|[Ll]ast|[Gg]iven|[Ff]amily) name(?: is|:)?|[Ss]urname(?: is|:)?) )(\p{Lu}\p{Ll}+(?:-\p{Lu}\p{Ll}+)?(?: (?:O'|Mc|Mac)?\p{Lu}[\p{Ll}']+)?)"),
            date: re(&format!(
                r"\b(?:\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}/\d{{1,2}}/\d{{4}}|\d{{1,2}}\.\d{{1,2}}\.\d{{4}}|\d{{1,2}}-\d{{1,2}}-\d{{4}}|\d{{1,2}}(?:st|nd|rd|th)? (?:of )?(?i:{MONTHS})\.?,? \d{{4}}|(?i:{MONTHS})\.? \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}})\b"
            )),
            // Two-digit years, only in answers to a date-of-birth question.
            date_short: re(&format!(
                r"\b(?:\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2}}|\d{{1,2}}(?:st|nd|rd|th)? (?:of )?(?i:{MONTHS})\.?,? '?\d{{2}}|(?i:{MONTHS})\.? \d{{1,2}}(?:st|nd|rd|th)?,? '?\d{{2}})\b"
            )),
            order: re(r"(?:\b[A-Z]{1,4}-\d{5,}\b|#\d{6,}\b|\b[A-Z]\d{8,}\b)"),
            // APO/FPO/DPO: "PSC 1234, Box 5678, APO AE 09204", "USNS Vega, FPO AA 34091".
            military: re(concat!(
                r"(?:\b(?:PSC|CMR|UPR|OMC|Unit) \d{1,5},? )?(?:\bBox \d{1,5},? )?",
                r"(?:\b(?:USS|USNS|USCGC|HMS) \p{Lu}[\p{L}.' -]{1,40}?(?: \([A-Z]{2,4}[ -]?\d{1,3}\))?,? )?",
                r"\b[AFD]PO,? A[EAP],? \d{5}(?:-\d{4})?\b"
            )),
            // US "12 Oak Street, Apt 4, Town, ST 12345", UK "Flat 2, 3 Mill Lane, Town, AB1 2CD",
            // "11950 State Highway 287", German "Hauptstraße 5, 10115 Berlin".
            address: re(&format!(
                concat!(
                    r"(?:\b(?:Flat|Studio|Apt\.?|Apartment|Unit|Suite) \d+[A-Za-z]?,? )?",
                    r"(?:\b\d{{1,5}}[A-Za-z]? (?:{word} ){{0,2}}(?:Highway|Hwy|Route|Rte|Road|Interstate) \d{{1,4}}[A-Z]?\b",
                    r"|\b\d{{1,5}}[A-Za-z]? (?:{word} ){{1,3}}(?:{suffix})\b\.?",
                    r"|\b(?:\p{{Lu}}\p{{Ll}}+ ){{1,3}}(?:{suffix})\b\.?",
                    r"|\b(?:\p{{Lu}}\p{{Ll}}+-)*\p{{Lu}}\p{{Ll}}+(?:-?(?:[Ss]traße|[Ss]trasse|str\.|[Ww]eg|[Pp]latz|[Aa]llee|[Gg]asse|[Rr]ing|[Dd]amm|[Uu]fer)) \d{{1,4}}[a-z]?(?:[/-]\d{{1,4}})?)",
                    r"(?: (?:[NS][EW]|[NSEW])\b)?{unit}?(?:,? {town})?",
                    r"(?:,? (?:{postal}|\d{{5}} {town}|\d{{4,5}}\b|[A-Z]{{2}}\b))?"
                ),
                word = STREET_WORD,
                suffix = STREET_SUFFIXES,
                unit = ADDRESS_UNIT,
                town = TOWN,
                postal = POSTAL,
            )),
            // Any designator, when a town and a postcode follow: "45 Lantern Alley, Portland, ME 04101".
            address_bare: re(&format!(
                r"\b\d{{1,5}}[A-Za-z]?(?: {STREET_WORD}){{1,4}}{ADDRESS_UNIT}?,(?: {TOWN},)? {TOWN},? {POSTAL}"
            )),
            // Where an address given in answer starts: a house number before a street word, or a unit.
            address_start: re(&format!(
                r"\b(?:\d{{1,5}}[A-Za-z]?(?:[/-]\d{{1,4}})?,? {STREET_WORD}|(?i:flat|unit|apt|apartment|suite|p\.? ?o\.? box|house|building)\b)"
            )),
            name: re(r"\b\p{Lu}\p{Ll}+(?:-\p{Lu}\p{Ll}+)?"),
            surname: re(r"^ (?:(?:van|von|de|der|den|da|das|dos|du|di|del|la|le|bin|al|el|ter|ten) )*(?:O'|Mc|Mac)?\p{Lu}[\p{Ll}']+(?:-\p{Lu}\p{Ll}+)?"),
            first_names: super::values::FIRST_NAMES.iter().chain(GAZETTEER_EXTRA).copied().collect(),
            not_names: NOT_NAMES.iter().copied().collect(),
        }
    })
}

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
    (alnum >= 5 && head_ok && !lookalike).then_some(end)
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
            found.take(start, m.end(), "PHONE");
        }
    }
    for m in r.phone_any.find_iter(text) {
        let number = m.as_str().split(['x', 'e']).next().unwrap_or("");
        let digits = number.bytes().filter(u8::is_ascii_digit).count();
        if (9..=15).contains(&digits) && number_alone(text, m.start()) {
            found.take(m.start(), m.end(), "PHONE");
        }
    }
    answer_each(questions, Ask::Phone, found, &["PHONE"], |s, e, found| {
        r.phone_loose.find_iter(&text[s..e]).any(|m| {
            let digits = m.as_str().bytes().filter(u8::is_ascii_digit).count();
            let (a, b) = (s + m.start(), s + m.end());
            (7..=15).contains(&digits) && number_alone(text, a) && found.take(a, b, "PHONE")
        })
    });
}

/// Order layouts, street addresses, and the address given in answer to a question about it.
fn addresses(text: &str, r: &Rules, questions: &[Question], found: &mut Found) {
    for m in r.order.find_iter(text) {
        found.take(m.start(), m.end(), "ORDER_ID");
    }
    for m in r.address.find_iter(text) {
        // "Priya Green", "Edward Hill": a first name before a designator is a person.
        let first = m.as_str().split(' ').next().unwrap_or("");
        if !r.first_names.contains(first) {
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
        if !r.not_names.contains(first) {
            found.take(m.start(), m.end(), "NAME");
        }
    }
    answer_each(questions, Ask::Name, found, &["NAME"], |s, e, found| {
        names::answer(text, s, e, found)
    });
    // A gazetteer first name, plus the capitalised word after it (the surname) if any.
    for m in r.name.find_iter(text) {
        if r.first_names.contains(m.as_str()) {
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

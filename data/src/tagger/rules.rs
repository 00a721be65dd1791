//! The tagger's rules table: every regex it matches with, compiled once. Word lists come from
//! the [`gazetteer`](super::gazetteer); how matches become spans is in the tagger itself.

use super::gazetteer;
use regex::Regex;
use std::sync::OnceLock;

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

/// The compiled regexes, one per pattern the tagger looks for.
pub(super) struct Rules {
    pub(super) email: Regex,
    pub(super) email_spoken: Regex,
    pub(super) iban: Regex,
    pub(super) iban_head: Regex,
    pub(super) card: Regex,
    pub(super) tracking: Regex,
    pub(super) phone: Regex,
    pub(super) phone_any: Regex,
    pub(super) phone_country: Regex,
    pub(super) phone_loose: Regex,
    pub(super) code_cue: Regex,
    pub(super) code: Regex,
    pub(super) iban_shape: Regex,
    pub(super) not_code: Regex,
    pub(super) name_cue: Regex,
    pub(super) date: Regex,
    pub(super) date_short: Regex,
    pub(super) order: Regex,
    pub(super) military: Regex,
    pub(super) address: Regex,
    pub(super) address_bare: Regex,
    pub(super) address_start: Regex,
    pub(super) name: Regex,
    pub(super) surname: Regex,
}

/// The rules, compiled on first use.
pub(super) fn rules() -> &'static Rules {
    static R: OnceLock<Rules> = OnceLock::new();
    R.get_or_init(|| {
        let re = |s: &str| Regex::new(s).expect("valid tagger regex");
        let months: &str = &gazetteer::MONTHS;
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
            name_cue: re(r"(?:\b(?:[Mm]y name is|[Nn]ame's|[Tt]his is|I'm|I am|[Oo]n behalf of|[Aa]ddressed to|Dear|Thanks,?|Hi,?|Hello,?|Mr\.?|Mrs\.?|Ms\.?|Dr\.?|(?:[Ff]irst|[Ll]ast|[Gg]iven|[Ff]amily) name(?: is|:)?|[Ss]urname(?: is|:)?) )(\p{Lu}\p{Ll}+(?:-\p{Lu}?\p{Ll}+)?(?: (?:O'|Mc|Mac)?\p{Lu}[\p{Ll}']+(?:-\p{Lu}?\p{Ll}+)?)?)"),
            date: re(&format!(
                r"\b(?:\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}/\d{{1,2}}/\d{{4}}|\d{{1,2}}\.\d{{1,2}}\.\d{{4}}|\d{{1,2}}-\d{{1,2}}-\d{{4}}|\d{{1,2}}(?:st|nd|rd|th)? (?:of )?(?i:{months})\.?,? \d{{4}}|(?i:{months})\.? \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}})\b"
            )),
            // Two-digit years, only in answers to a date-of-birth question.
            date_short: re(&format!(
                r"\b(?:\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2}}|\d{{1,2}}(?:st|nd|rd|th)? (?:of )?(?i:{months})\.?,? '?\d{{2}}|(?i:{months})\.? \d{{1,2}}(?:st|nd|rd|th)?,? '?\d{{2}})\b"
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
                suffix = &*gazetteer::STREET_SUFFIXES,
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
        }
    })
}

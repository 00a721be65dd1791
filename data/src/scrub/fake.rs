//! Format-preserving fake values for pseudonymisation. A value keeps its shape (separators,
//! lengths, letter case, check digits where the original had valid ones) and gets fresh
//! content: name words from the name lists, cities and streets from the generators' lists,
//! digits and letters drawn anew. Nothing here knows the generators' own layouts, so data
//! written by others keeps its own formats.

use crate::rng::Rng;
use crate::values::{
    iban_check_digits, iban_valid, luhn_check_digit, luhn_valid, CITIES, FIRST_NAMES, LAST_NAMES,
    MONTHS, STREETS, STREET_KINDS,
};
use std::collections::{HashMap, HashSet};

/// What a label's value is, for drawing a fake one. Labels from other data are read by the
/// words they contain (`CUSTOMER_NAME` is a name, `DOB` a date); anything else keeps its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Name,
    Email,
    Date,
    Address,
    City,
    Other,
}

impl Kind {
    pub(crate) fn of(label: &str) -> Kind {
        let l = label.to_ascii_uppercase();
        let has = |w: &str| l.contains(w);
        if has("EMAIL") || has("E-MAIL") || has("MAIL") {
            Kind::Email
        } else if has("NAME") || has("PERSON") || l == "FIRST" || l == "LAST" {
            Kind::Name
        } else if has("DATE") || has("DOB") || has("BIRTH") {
            Kind::Date
        } else if has("ADDRESS") || has("STREET") {
            Kind::Address
        } else if has("CITY") || has("TOWN") {
            Kind::City
        } else {
            Kind::Other
        }
    }
}

/// Draws fakes for one file: it knows every original secret (to never produce one) and every
/// word of every original name (so a fake name is nobody's name in the data).
pub(crate) struct Faker<'a> {
    rng: Rng,
    originals: &'a HashSet<String>,
    name_words: &'a HashSet<String>,
}

/// One record's mapping: the same original gives the same fake within a record.
#[derive(Default)]
pub(crate) struct RecordMap {
    words: HashMap<String, String>,
    values: HashMap<(Kind, String), String>,
    used: HashSet<String>,
}

const TRIES: usize = 200;

impl<'a> Faker<'a> {
    pub(crate) fn new(
        rng: Rng,
        originals: &'a HashSet<String>,
        name_words: &'a HashSet<String>,
    ) -> Self {
        Faker {
            rng,
            originals,
            name_words,
        }
    }

    /// Map the words of a name to fake name words, once per record (first word from the first
    /// names, later ones from the last names; initials to another letter).
    pub(crate) fn learn_name(&mut self, map: &mut RecordMap, name: &str) {
        for (i, w) in alpha_runs(name).into_iter().enumerate() {
            let key = w.to_lowercase();
            if w.chars().count() < 2 || map.words.contains_key(&key) {
                continue;
            }
            let list: &[&str] = if i == 0 { &FIRST_NAMES } else { &LAST_NAMES };
            let fake = self.fresh_word(map, list, &w);
            map.used.insert(fake.to_lowercase());
            map.words.insert(key, fake);
        }
    }

    fn fresh_word(&mut self, map: &RecordMap, list: &[&str], like: &str) -> String {
        for _ in 0..TRIES {
            let w = *self.rng.pick(list);
            let l = w.to_lowercase();
            if !self.name_words.contains(&l) && !map.used.contains(&l) && !l.contains(' ') {
                return same_case(w, like);
            }
        }
        // The lists are exhausted by the data's own names: random letters of the same length.
        self.letters_like(like)
    }

    /// The fake for one span's value; `None` only when no value unlike every original was
    /// found in many draws (a one- or two-character secret).
    pub(crate) fn fake(
        &mut self,
        map: &mut RecordMap,
        kind: Kind,
        original: &str,
    ) -> Option<String> {
        let key = (kind, original.to_string());
        if let Some(v) = map.values.get(&key) {
            return Some(v.clone());
        }
        for _ in 0..TRIES {
            let v = match kind {
                Kind::Name => self.name(map, original),
                Kind::Email => self.email(map, original),
                Kind::Date => self.date(original),
                Kind::Address => self.address(original),
                Kind::City => self.city(original),
                Kind::Other => self.shaped(original),
            };
            if v != original && !self.originals.contains(&v.to_lowercase()) {
                map.values.insert(key, v.clone());
                return Some(v);
            }
        }
        None
    }

    fn name(&mut self, map: &mut RecordMap, original: &str) -> String {
        self.learn_name(map, original);
        let text = replace_runs(original, |w| match map.words.get(&w.to_lowercase()) {
            Some(f) => same_case(f, w),
            None => self.letters_like(w), // an initial
        });
        self.digits_like(&text) // a user name's digits ("anna1985")
    }

    /// The local part from the record's fake name words where it is made of them
    /// (`anna.schmidt` → `lena.novak`), otherwise redrawn; the domain is kept.
    fn email(&mut self, map: &RecordMap, original: &str) -> String {
        let (local, domain) = original.rsplit_once('@').unwrap_or((original, ""));
        let local = replace_runs(local, |w| match map.words.get(&w.to_lowercase()) {
            Some(f) => same_case(f, w),
            None => self.letters_like(w),
        });
        let local = self.digits_like(&local);
        if domain.is_empty() {
            local
        } else {
            format!("{local}@{domain}")
        }
    }

    /// Digits redrawn so that a date stays a date: runs of four are years, shorter runs days
    /// or months (1–12 fits both); month names become another month.
    fn date(&mut self, original: &str) -> String {
        let months: Vec<String> = MONTHS.iter().map(|m| m.to_lowercase()).collect();
        let text = replace_runs(original, |w| {
            let l = w.to_lowercase();
            if l.len() >= 3 && months.iter().any(|m| m.starts_with(&l)) {
                let m = *self.rng.pick(&MONTHS);
                let full = months.contains(&l);
                same_case(if full { m } else { &m[..3] }, w)
            } else {
                self.letters_like(w)
            }
        });
        replace_digit_runs(&text, |d| match d.len() {
            4 => self.rng.range(1940, 2005).to_string(),
            1 | 2 => {
                let v = self.rng.range(1, 12);
                if d.len() == 2 {
                    format!("{v:02}")
                } else {
                    v.to_string()
                }
            }
            n => self.rng.digits(n),
        })
    }

    /// Numbers redrawn; city and street names from the lists; street kinds, unit words and
    /// two-letter state codes kept (they are the format, not the secret).
    fn address(&mut self, original: &str) -> String {
        let text = replace_runs(original, |w| {
            let l = w.to_lowercase();
            let in_list = |xs: &[&str]| xs.iter().any(|x| x.eq_ignore_ascii_case(w));
            let format_word = in_list(&STREET_KINDS)
                || ["apt", "suite", "unit", "floor"].contains(&l.as_str())
                || (w.len() == 2 && w.chars().all(|c| c.is_ascii_uppercase()));
            if CITIES.iter().any(|(c, _)| c.eq_ignore_ascii_case(w)) {
                same_case(self.rng.pick(&CITIES).0, w)
            } else if format_word {
                w.to_string()
            } else if in_list(&STREETS) || w.chars().next().is_some_and(char::is_uppercase) {
                let s = *self.rng.pick(&STREETS);
                same_case(s.split(' ').next().unwrap_or(s), w)
            } else {
                w.to_string()
            }
        });
        self.digits_like(&text)
    }

    fn city(&mut self, original: &str) -> String {
        let c = self.rng.pick(&CITIES).0;
        same_case(c, original)
    }

    /// Same shape, new content: digits and letters redrawn, separators kept; a leading letter
    /// prefix is kept only before six or more digits (`ORD-123456`: the prefix is the format,
    /// the digits the secret; in `KXQ-4` the letters are the secret). Luhn and IBAN check
    /// digits are recomputed where the original's were valid.
    fn shaped(&mut self, original: &str) -> String {
        let digits: String = original.chars().filter(char::is_ascii_digit).collect();
        let prefix_len = if digits.len() >= 6 {
            original
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .count()
        } else {
            0
        };
        let head: String = original.chars().take(prefix_len).collect();
        let tail: String = original.chars().skip(prefix_len).collect();
        let tail = replace_runs(&tail, |w| self.letters_like(w));
        let mut v = format!("{head}{}", self.digits_like(&tail));
        if iban_valid(original) {
            v = fix_iban(&v);
        } else if digits.len() >= 12 && luhn_valid(&digits) {
            v = fix_luhn(&v);
        }
        v
    }

    fn letters_like(&mut self, like: &str) -> String {
        like.chars()
            .map(|c| {
                let l = (b'a' + self.rng.below(26) as u8) as char;
                if c.is_uppercase() {
                    l.to_ascii_uppercase()
                } else {
                    l
                }
            })
            .collect()
    }

    /// Every digit redrawn; a run's first digit stays non-zero where it was.
    fn digits_like(&mut self, text: &str) -> String {
        replace_digit_runs(text, |d| {
            d.chars()
                .enumerate()
                .map(|(i, c)| {
                    let lo = if i == 0 && c != '0' { 1 } else { 0 };
                    char::from(b'0' + self.rng.range(lo, 9) as u8)
                })
                .collect()
        })
    }
}

/// The maximal runs of letters in `s`.
fn alpha_runs(s: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    for c in s.chars() {
        if c.is_alphabetic() {
            cur.push(c);
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `s` with each maximal run of chars matching `is` replaced by `f(run)`.
fn replace_class(s: &str, is: fn(&char) -> bool, mut f: impl FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(s.len());
    let mut cur = String::new();
    for c in s.chars() {
        if is(&c) {
            cur.push(c);
        } else {
            if !cur.is_empty() {
                out.push_str(&f(&std::mem::take(&mut cur)));
            }
            out.push(c);
        }
    }
    if !cur.is_empty() {
        out.push_str(&f(&cur));
    }
    out
}

fn replace_runs(s: &str, f: impl FnMut(&str) -> String) -> String {
    replace_class(s, |c| c.is_alphabetic(), f)
}

fn replace_digit_runs(s: &str, f: impl FnMut(&str) -> String) -> String {
    replace_class(s, char::is_ascii_digit, f)
}

/// `word` in the case pattern of `like`: all upper, all lower, or as the list spells it.
fn same_case(word: &str, like: &str) -> String {
    let letters = || like.chars().filter(|c| c.is_alphabetic());
    if letters().count() > 1 && letters().all(char::is_uppercase) {
        word.to_uppercase()
    } else if letters().all(char::is_lowercase) {
        word.to_lowercase()
    } else {
        word.to_string()
    }
}

/// The last digit set so the digits pass Luhn's check.
fn fix_luhn(v: &str) -> String {
    let digits: String = v.chars().filter(char::is_ascii_digit).collect();
    let check = luhn_check_digit(&digits[..digits.len() - 1]);
    let last = v.rfind(|c: char| c.is_ascii_digit()).expect("has digits");
    format!("{}{check}{}", &v[..last], &v[last + 1..])
}

/// The check digits (characters 3–4 of the compact form) set for the new BBAN.
fn fix_iban(v: &str) -> String {
    let compact: String = v.chars().filter(|c| !c.is_whitespace()).collect();
    let (country, bban) = (&compact[..2], &compact[4..]);
    let check = format!(
        "{:02}",
        iban_check_digits(&country.to_ascii_uppercase(), bban)
    );
    // Put the two check digits back where the original had them (the 3rd and 4th
    // non-space characters), keeping its spacing.
    let mut seen = 0;
    let mut digits = check.chars();
    v.chars()
        .map(|c| {
            if c.is_whitespace() {
                return c;
            }
            seen += 1;
            if seen == 3 || seen == 4 {
                digits.next().unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faker<'a>(o: &'a HashSet<String>, n: &'a HashSet<String>) -> Faker<'a> {
        Faker::new(Rng::new(7), o, n)
    }

    #[test]
    fn kinds_are_read_from_labels_of_any_layout() {
        assert_eq!(Kind::of("NAME"), Kind::Name);
        assert_eq!(Kind::of("customer_name"), Kind::Name);
        assert_eq!(Kind::of("EMAIL"), Kind::Email);
        assert_eq!(Kind::of("DATE_OF_BIRTH"), Kind::Date);
        assert_eq!(Kind::of("ADDRESS"), Kind::Address);
        assert_eq!(Kind::of("ORDER_ID"), Kind::Other);
    }

    #[test]
    fn shapes_and_check_digits_are_kept() {
        let (o, n) = (HashSet::new(), HashSet::new());
        let mut f = faker(&o, &n);
        let mut m = RecordMap::default();
        for card in [
            "4111 1111 1111 1111",
            "4539-1488-0343-6467",
            "378282246310005",
        ] {
            let v = f.fake(&mut m, Kind::Other, card).unwrap();
            assert_eq!(v.len(), card.len());
            let d: String = v.chars().filter(char::is_ascii_digit).collect();
            assert!(luhn_valid(&d), "{v}");
            assert_ne!(v, card);
        }
        for iban in ["DE89 3704 0044 0532 0130 00", "GB29NWBK60161331926819"] {
            let v = f.fake(&mut m, Kind::Other, iban).unwrap();
            assert!(iban_valid(&v), "{v} from {iban}");
            assert_eq!(v.len(), iban.len());
            assert_eq!(&v[..2], &iban[..2]);
        }
        let v = f.fake(&mut m, Kind::Other, "(415) 555-0132").unwrap();
        assert!(v.starts_with('(') && v[4..].starts_with(") ") && v.chars().nth(9) == Some('-'));
        let v = f.fake(&mut m, Kind::Other, "ORD-123456").unwrap();
        assert!(v.starts_with("ORD-") && v.len() == 10, "{v}");
        let v = f.fake(&mut m, Kind::Other, "KXQ-4").unwrap();
        assert!(
            !v.starts_with("KXQ") && v.len() == 5 && v.as_bytes()[3] == b'-',
            "{v}"
        );
    }

    #[test]
    fn a_name_keeps_its_words_consistent_and_the_email_follows() {
        let (o, n) = (
            HashSet::new(),
            HashSet::from(["anna".into(), "schmidt".into()]),
        );
        let mut f = faker(&o, &n);
        let mut m = RecordMap::default();
        let full = f.fake(&mut m, Kind::Name, "Anna B. Schmidt").unwrap();
        let first = f.fake(&mut m, Kind::Name, "Anna").unwrap();
        let words: Vec<&str> = full.split(' ').collect();
        assert_eq!(words.len(), 3, "{full}");
        assert_eq!(words[0], first);
        assert!(words[1].len() == 2 && words[1].ends_with('.'));
        let mail = f
            .fake(&mut m, Kind::Email, "anna.schmidt@example.com")
            .unwrap();
        assert_eq!(
            mail,
            format!(
                "{}.{}@example.com",
                words[0].to_lowercase(),
                words[2].to_lowercase()
            )
        );
        assert_eq!(
            f.fake(&mut m, Kind::Name, "ANNA").unwrap(),
            first.to_uppercase()
        );
    }

    #[test]
    fn dates_stay_dates() {
        let (o, n) = (HashSet::new(), HashSet::new());
        let mut f = faker(&o, &n);
        for d in ["1985-03-14", "14 March 1985", "03/14/1985", "Mar 3, 1985"] {
            let v = f.fake(&mut RecordMap::default(), Kind::Date, d).unwrap();
            assert_ne!(v, d);
            for run in v
                .split(|c: char| !c.is_ascii_digit())
                .filter(|r| !r.is_empty())
            {
                let x: usize = run.parse().unwrap();
                assert!(
                    (run.len() == 4 && (1940..=2005).contains(&x)) || (1..=12).contains(&x),
                    "{v} from {d}"
                );
            }
            assert!(v.len() + 2 >= d.len(), "{v} from {d}");
        }
    }

    #[test]
    fn no_fake_equals_a_secret_of_the_data() {
        // A one-digit secret space: every value but the two originals must come out.
        let o: HashSet<String> = ["1", "2"].iter().map(|s| s.to_string()).collect();
        let n = HashSet::new();
        let mut f = faker(&o, &n);
        for _ in 0..50 {
            let v = f.fake(&mut RecordMap::default(), Kind::Other, "1").unwrap();
            assert!(v != "1" && v != "2");
        }
    }
}

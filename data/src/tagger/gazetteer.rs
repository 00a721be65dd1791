//! The tagger's word lists, kept as data in `gazetteer/*.txt` (one entry per line) and parsed
//! once on first use: given names, capitalised non-names, words that are no codes, street
//! designators and month names.

use crate::values::words::entries;
use std::collections::HashSet;
use std::sync::LazyLock;

/// Given names: the generators' (so the measured recall includes them; docs/datasets.md) and
/// `given_names.txt`.
pub(super) static FIRST_NAMES: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    let extra = entries(include_str!("gazetteer/given_names.txt"));
    crate::values::FIRST_NAMES
        .iter()
        .copied()
        .chain(extra)
        .collect()
});

/// Capitalised words that follow a name cue ("Dear …", "Hi …") without being names.
pub(super) static NOT_NAMES: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    entries(include_str!("gazetteer/not_names.txt"))
        .into_iter()
        .collect()
});

/// Words that stand where a code of letters is expected without being one (lower case).
pub(super) static NOT_CODES: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    entries(include_str!("gazetteer/not_codes.txt"))
        .into_iter()
        .collect()
});

/// Street designators as a regex alternation ("Street|St|Avenue|…"), in file order.
pub(super) static STREET_SUFFIXES: LazyLock<String> =
    LazyLock::new(|| entries(include_str!("gazetteer/street_suffixes.txt")).join("|"));

/// Month names and abbreviations as a regex alternation, in file order.
pub(super) static MONTHS: LazyLock<String> =
    LazyLock::new(|| entries(include_str!("gazetteer/months.txt")).join("|"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_whole_and_are_plain_words() {
        let sizes = [FIRST_NAMES.len(), NOT_NAMES.len()];
        assert_eq!(sizes, [130 + 297, 25]);
        assert!(NOT_CODES.len() > 50 && NOT_CODES.iter().all(|w| *w == w.to_lowercase()));
        for alternation in [&*STREET_SUFFIXES, &*MONTHS] {
            // Joined into regexes unescaped: a metacharacter would change what they match.
            let plain = |w: &str| !w.is_empty() && w.chars().all(char::is_alphabetic);
            assert!(alternation.split('|').all(plain), "{alternation}");
        }
        assert_eq!(STREET_SUFFIXES.split('|').count(), 187);
        assert!(STREET_SUFFIXES.starts_with("Street|St|Avenue|") && MONTHS.ends_with("|Nov|Dec"));
    }
}

//! The generators' word lists, kept as data in `words/*.txt` (one entry per line) and parsed
//! once on first use. Entry order is part of the data: generators pick by index from RNG draws.

use std::sync::LazyLock;

/// The entries of a word list: one per line, blank lines and `#` comments skipped.
pub(crate) fn entries(text: &'static str) -> Vec<&'static str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

pub(crate) static FIRST_NAMES: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| entries(include_str!("words/first_names.txt")));

pub(crate) static LAST_NAMES: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| entries(include_str!("words/last_names.txt")));

pub(crate) static STREETS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| entries(include_str!("words/streets.txt")));

pub(crate) static STREET_KINDS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| entries(include_str!("words/street_kinds.txt")));

/// (city, state)
pub(crate) static CITIES: LazyLock<Vec<(&'static str, &'static str)>> = LazyLock::new(|| {
    let pair = |l: &'static str| l.split_once(", ").expect("cities.txt: \"City, ST\"");
    entries(include_str!("words/cities.txt"))
        .into_iter()
        .map(pair)
        .collect()
});

pub(super) static EMAIL_DOMAINS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| entries(include_str!("words/email_domains.txt")));

/// January first: indexed by month - 1.
pub(crate) static MONTHS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| entries(include_str!("words/months.txt")));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_whole() {
        let lens = [
            FIRST_NAMES.len(),
            LAST_NAMES.len(),
            STREETS.len(),
            STREET_KINDS.len(),
            CITIES.len(),
            EMAIL_DOMAINS.len(),
            MONTHS.len(),
        ];
        assert_eq!(lens, [130, 120, 30, 12, 20, 10, 12]);
        assert_eq!(CITIES[0], ("Springfield", "IL"));
        assert_eq!((MONTHS[0], MONTHS[11]), ("January", "December"));
        assert_eq!(entries("# note\n\nA\r\n B \n"), ["A", "B"]);
    }
}

//! Model cards under test (the `README.md` Triad writes in every checkpoint folder): where the
//! front matter lies, and a scan for anything private in a card — the run's seed, its noise
//! key, secret values of the training data, paths of this machine, credentials. The trainer's
//! unit tests and the study's end-to-end test (`orchestrator/tests/model_card.rs`) share it.

/// The YAML between the opening `---` line and the closing one, as the Hub finds it.
pub fn front_matter(card: &str) -> Option<&str> {
    let rest = card.strip_prefix("---\n")?;
    let end = rest.find("\n---\n")?;
    Some(&rest[..=end])
}

/// What a card must not hold.
#[derive(Debug, Default, Clone)]
pub struct Private {
    /// The run's seed: never a number after the word `seed`, and (from 1000 on, where a
    /// number of its own is unlikely by chance) never as a number anywhere.
    pub seed: Option<u64>,
    /// Key material (a private run's noise key): neither its bytes nor their hex.
    pub keys: Vec<Vec<u8>>,
    /// Values that must not appear as whole words: secret spans of the training data, its
    /// record and user ids, tokens.
    pub secrets: Vec<String>,
    /// Paths of this machine the run knew (folders, files, home).
    pub paths: Vec<String>,
    /// Digests the card may state (the base model's identity): any other run of 32 or more
    /// hexadecimal digits counts as key material.
    pub digests: Vec<String>,
}

/// Everything private `card` holds, one line each (empty: nothing found).
pub fn leaks(card: &str, p: &Private) -> Vec<String> {
    let mut found = vec![];
    found.extend(seed_leaks(card, p.seed));
    for key in &p.keys {
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        if card.contains(&hex) || card.contains(&hex.to_uppercase()) {
            found.push("the noise key, in hex".into());
        }
        if !key.is_empty()
            && card
                .as_bytes()
                .windows(key.len())
                .any(|w| w == key.as_slice())
        {
            found.push("the noise key's bytes".into());
        }
    }
    for run in runs(card, |c| c.is_ascii_hexdigit()) {
        if run.len() >= 32 && !p.digests.iter().any(|d| d.eq_ignore_ascii_case(run)) {
            found.push(format!("{} hexadecimal digits: {run}", run.len()));
        }
    }
    for s in p
        .secrets
        .iter()
        .map(|s| s.trim())
        .filter(|s| s.chars().count() >= 3)
    {
        if has_word(card, s) {
            found.push(format!("the secret value {s:?}"));
        }
    }
    for path in p.paths.iter().filter(|x| x.len() > 1) {
        if card.contains(path.as_str()) {
            found.push(format!("the path {path}"));
        }
    }
    found.extend(path_shapes(card));
    for marker in ["-----BEGIN", "PRIVATE KEY", "Bearer "] {
        if card.contains(marker) {
            found.push(format!("credential material ({marker:?})"));
        }
    }
    found
}

fn seed_leaks(card: &str, seed: Option<u64>) -> Vec<String> {
    let mut found = vec![];
    let lower = card.to_lowercase();
    for (i, _) in lower.match_indices("seed") {
        let after = lower[i + 4..].trim_start_matches([' ', '\t', '"', '\'', ':', '=']);
        if after.starts_with(|c: char| c.is_ascii_digit()) {
            let line = card[i..].lines().next().unwrap_or_default();
            found.push(format!("a seed's value: {line:?}"));
        }
    }
    if let Some(seed) = seed.filter(|&s| s >= 1000) {
        let digits = seed.to_string();
        if runs(card, |c| c.is_ascii_digit()).any(|r| r == digits) {
            found.push(format!("the seed {digits}"));
        }
    }
    found
}

/// The maximal runs of characters that `keep` accepts.
fn runs(text: &str, keep: impl Fn(char) -> bool) -> impl Iterator<Item = &str> {
    text.split(move |c: char| !keep(c))
        .filter(|r| !r.is_empty())
}

/// Whether `word` occurs in `text` with no letter or digit right before or after it.
fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, w)| {
        let before = text[..i].chars().next_back();
        let after = text[i + w.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Absolute paths by their shape: `/x…` starting a word (after a space, quote, bracket or
/// `=`; a URL's `://` and `a/b` are not), `~/…`, and `C:\…`.
fn path_shapes(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut found = vec![];
    for (i, &c) in chars.iter().enumerate() {
        let before = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        let starts_word = before.is_none_or(|b| b.is_whitespace() || "\"'`([{<=,".contains(b));
        let path_char =
            |n: Option<char>| n.is_some_and(|n| n.is_alphanumeric() || "._~-".contains(n));
        let shape = match c {
            '/' => starts_word && path_char(next),
            '~' => starts_word && next == Some('/'),
            ':' => {
                next == Some('\\')
                    && before.is_some_and(|b| b.is_ascii_alphabetic())
                    && (i < 2 || !chars[i - 2].is_alphanumeric())
            }
            _ => false,
        };
        if shape {
            let start = i.saturating_sub(1);
            let end = (i + 24).min(chars.len());
            let at: String = chars[start..end].iter().collect();
            found.push(format!("a path: {at:?}"));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAN: &str = "---\nbase_model: \"base\"\ntriad:\n  base_model_sha256: \"\
        5db23b362244e98f50dd9cfea5ad49cee14e5b5a9a57f00bd0d74d16dfc85ad7\"\n  noise: \"seed\"\n\
        \x20 epsilon: 7.99\n---\n\n# Card\n\nε assumes the seed stays secret. Terms at \
        https://ai.google.dev/gemma/terms; q = batch / N; see `run.json`.\n";

    fn private() -> Private {
        Private {
            seed: Some(73914082),
            keys: vec![vec![0xab; 32]],
            secrets: vec!["Michael Moore".into(), "Li".into()],
            paths: vec!["/tmp/xyz/study".into()],
            digests: vec![
                "5db23b362244e98f50dd9cfea5ad49cee14e5b5a9a57f00bd0d74d16dfc85ad7".into(),
            ],
        }
    }

    #[test]
    fn a_clean_card_passes_and_its_front_matter_is_found() {
        assert_eq!(leaks(CLEAN, &private()), Vec::<String>::new());
        let fm = front_matter(CLEAN).unwrap();
        assert!(
            fm.starts_with("base_model:") && fm.ends_with("7.99\n"),
            "{fm}"
        );
        assert_eq!(front_matter("# no front matter\n"), None);
    }

    #[test]
    fn every_kind_of_leak_is_found() {
        let planted = [
            "seed: 0",
            "Seed = 12",
            "trained with seed 5",
            "run 73914082 ok",
            &"ab".repeat(32),
            &"AB".repeat(32),
            "a key 0123456789abcdef0123456789abcdef0123",
            "Customer: Michael Moore.",
            "under /tmp/xyz/study/runs",
            "model: \"/home/ann/models/base\"",
            "(/srv/data)",
            "in ~/models",
            "at C:\\Users\\ann",
            "-----BEGIN PRIVATE KEY-----",
            "Authorization: Bearer abc",
        ];
        for p in planted {
            let card = format!("{CLEAN}{p}\n");
            assert!(!leaks(&card, &private()).is_empty(), "missed: {p}");
        }
        let mut key_bytes = CLEAN.as_bytes().to_vec();
        key_bytes.extend([b'x'; 32]);
        let p = Private {
            keys: vec![vec![b'x'; 32]],
            ..private()
        };
        assert!(!leaks(&String::from_utf8(key_bytes).unwrap(), &p).is_empty());
        // "Li" is too short to scan for; "Lisa" holds no whole word "Michael Moore".
        assert!(leaks(&format!("{CLEAN}Licence Lisa\n"), &private()).is_empty());
    }
}

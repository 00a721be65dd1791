//! YAML scalars for the card's front matter, written so that both YAML 1.2 parsers and the
//! YAML 1.1 one the Hub's Python client uses (PyYAML's `safe_load`) read them as meant.

/// A number that reads back as exactly `x`: Rust's shortest round-trip digits, with the dot
/// and the exponent's sign YAML 1.1 needs to see a float (PyYAML reads `1e-5` as a string;
/// `1.0e-5` is a float in both versions). Non-finite: `null`, as METRICS.json writes it.
pub(super) fn float(x: f64) -> String {
    if !x.is_finite() {
        return "null".into();
    }
    let s = format!("{x:?}");
    match s.split_once('e') {
        None => s,
        Some((mantissa, exp)) => {
            let dot = if mantissa.contains('.') { "" } else { ".0" };
            let sign = if exp.starts_with('-') { "" } else { "+" };
            format!("{mantissa}{dot}e{sign}{exp}")
        }
    }
}

pub(super) fn opt_float(x: Option<f64>) -> String {
    x.map_or_else(|| "null".into(), float)
}

/// A 95% interval as a flow sequence `[lo, hi]`, or `null` where there is none.
pub(super) fn interval(ci: Option<[f64; 2]>) -> String {
    match ci {
        Some([lo, hi]) => format!("[{}, {}]", float(lo), float(hi)),
        None => "null".into(),
    }
}

/// A string as a double-quoted scalar: a JSON string is one (the same escapes), so no value
/// can end the scalar early or start a new key.
pub(super) fn string(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

/// Appends `key: value` lines at an indentation.
pub(super) struct Block<'a> {
    pub out: &'a mut String,
    pub indent: usize,
}

impl Block<'_> {
    pub fn line(&mut self, key: &str, value: impl AsRef<str>) {
        let pad = " ".repeat(self.indent);
        self.out
            .push_str(&format!("{pad}{key}: {}\n", value.as_ref()));
    }

    /// `key:` opening a nested block two spaces deeper.
    pub fn open(&mut self, key: &str) -> Block<'_> {
        let pad = " ".repeat(self.indent);
        self.out.push_str(&format!("{pad}{key}:\n"));
        Block {
            out: self.out,
            indent: self.indent + 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_keep_every_digit_and_read_as_floats_in_yaml_1_1() {
        for (x, want) in [
            (1e-5, "1.0e-5"),
            (1.5e-7, "1.5e-7"),
            (1e17, "1.0e+17"),
            (7.99017784528704, "7.99017784528704"),
            (8.0, "8.0"),
            (0.0, "0.0"),
            (-0.25, "-0.25"),
        ] {
            assert_eq!(float(x), want);
            assert_eq!(float(x).parse::<f64>().unwrap(), x);
        }
        assert_eq!(float(f64::NAN), "null");
        assert_eq!(float(f64::INFINITY), "null");
        assert_eq!(interval(Some([0.1, 0.2])), "[0.1, 0.2]");
        assert_eq!(interval(None), "null");
        assert_eq!(string("a\"b\n: c"), "\"a\\\"b\\n: c\"");
    }
}

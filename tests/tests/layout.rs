//! The shape of the code base, checked: `triad-data` builds without libtorch, no function in
//! any crate's `src/` is longer than a reader can take in at once, the report reads metrics
//! only as typed messages, and the conversions to messages name every field.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Longest function allowed, in lines (signature to closing brace).
const MAX_FN_LINES: usize = 120;

#[test]
fn triad_data_does_not_link_libtorch() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(triad_tests::workspace_root())
        .args(["tree", "-p", "triad-data", "-e", "normal,build,dev"])
        .args(["--prefix", "none", "--offline"])
        .output()
        .expect("run cargo tree");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("triad-data "), "{text}");
    for banned in ["tch ", "torch-sys ", "triad-lm "] {
        assert!(
            !text.lines().any(|l| l.starts_with(banned)),
            "triad-data depends on {banned}:\n{text}"
        );
    }
}

#[test]
fn no_function_is_longer_than_the_limit() {
    let root = triad_tests::workspace_root();
    let mut files = vec![];
    for entry in std::fs::read_dir(&root).unwrap() {
        let src = entry.unwrap().path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    assert!(files.len() > 50, "found only {} files", files.len());
    let mut long = vec![];
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (name, line, lines) in functions(&text) {
            if lines > MAX_FN_LINES {
                let rel = f.strip_prefix(&root).unwrap().display().to_string();
                long.push(format!("{rel}:{line}: fn {name}: {lines} lines"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines (split them into named steps):\n{}",
        long.join("\n")
    );
}

#[test]
fn the_function_measure_sees_through_strings_comments_and_chars() {
    let src = "fn a() {\n    let s = \"}}\";\n    let r = r#\"{\"#;\n    // }\n    let c = '{';\n    /* } */\n}\nfn b<'x>(v: &'x str) -> &'x str {\n    v\n}\n";
    let got = functions(src);
    assert_eq!(got, vec![("a".into(), 1, 7), ("b".into(), 8, 3)]);
}

/// The part of a source file before its `#[cfg(test)]` module, with comments and literals
/// blanked (tests build their fixtures however they like).
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    blank_literals(code)
}

/// The report reads metrics as typed `triad.v1` messages: no JSON value, no field found by a
/// string, so a renamed or missing field is a compile error, not a silent NaN.
#[test]
fn the_report_reads_no_metric_by_string_path() {
    let dir = triad_tests::workspace_root().join("orchestrator/src/study/report");
    let mut files = vec![];
    rust_files(&dir, &mut files);
    assert!(files.len() >= 3, "{files:?}");
    let mut found = vec![];
    for f in &files {
        let raw = std::fs::read_to_string(f).unwrap();
        let raw = raw.split("#[cfg(test)]").next().unwrap_or("").to_string();
        for (i, line) in raw.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for bad in ["serde_json::Value", "[\"", ".pointer(", "as_f64()"] {
                if code.contains(bad) {
                    found.push(format!(
                        "{}:{}: `{bad}` in {}",
                        f.display(),
                        i + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "metrics read by string path:\n{}",
        found.join("\n")
    );
}

/// The conversions to `triad.v1` messages name every field on both sides: no `..` rest
/// pattern and no `..Default::default()`, so a field added to either side must be carried.
#[test]
fn conversions_to_messages_name_every_field() {
    let root = triad_tests::workspace_root();
    let mut found = vec![];
    for rel in ["evaluator/src/convert.rs", "trainer/src/run/message.rs"] {
        let code = code_of(&root.join(rel));
        assert!(code.contains("impl From<"), "{rel}: no conversion found");
        let flat: String = code.split_whitespace().collect();
        for bad in ["..}", "..Default::default()", "..Self::default()"] {
            if flat.contains(bad) {
                found.push(format!("{rel}: `{bad}`"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "conversions that skip fields:\n{}",
        found.join("\n")
    );
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Every `fn` with a body: (name, first line, lines). Braces inside strings, raw strings,
/// char literals and comments are not counted.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let code = blank_literals(text);
    let lines: Vec<&str> = code.lines().collect();
    let mut out = vec![];
    for (i, l) in lines.iter().enumerate() {
        let Some(name) = fn_name(l) else { continue };
        let mut depth = 0i64;
        let mut opened = false;
        for (j, body) in lines.iter().enumerate().skip(i) {
            for c in body.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    ';' if !opened && depth == 0 => break,
                    _ => {}
                }
            }
            if !opened && body.trim_end().ends_with(';') {
                break; // a declaration without a body (trait item)
            }
            if opened && depth <= 0 {
                out.push((name.to_string(), i + 1, j - i + 1));
                break;
            }
        }
    }
    out
}

/// The name of a function whose signature starts on this line.
fn fn_name(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace().peekable();
    while let Some(w) = words.next() {
        match w {
            "pub" | "async" | "const" | "unsafe" | "extern" | "\"C\"" => continue,
            _ if w.starts_with("pub(") => continue,
            "fn" => {
                let next = words.next()?;
                let end = next
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(next.len());
                return Some(&next[..end]).filter(|n| !n.is_empty());
            }
            _ => return None,
        }
    }
    None
}

/// `text` with the insides of comments, strings and char literals replaced by spaces
/// (newlines kept, so line numbers stay).
fn blank_literals(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, s: &[char]| {
        out.extend(s.iter().map(|&ch| if ch == '\n' { '\n' } else { ' ' }));
    };
    while i < c.len() {
        let rest = &c[i..];
        let end = if rest.starts_with(&['/', '/']) {
            rest.iter().position(|&ch| ch == '\n').unwrap_or(rest.len())
        } else if rest.starts_with(&['/', '*']) {
            (2..rest.len())
                .find(|&k| rest[k - 1] == '*' && rest[k] == '/')
                .map_or(rest.len(), |k| k + 1)
        } else if rest[0] == 'r' && (rest.get(1) == Some(&'"') || rest.get(1) == Some(&'#')) {
            let hashes = rest[1..].iter().take_while(|&&ch| ch == '#').count();
            if rest.get(1 + hashes) != Some(&'"') {
                0
            } else {
                let close: Vec<char> = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                (2 + hashes..rest.len())
                    .find(|&k| rest[k..].starts_with(&close))
                    .map_or(rest.len(), |k| k + close.len())
            }
        } else if rest[0] == '"' {
            let mut k = 1;
            while k < rest.len() && rest[k] != '"' {
                k += if rest[k] == '\\' { 2 } else { 1 };
            }
            (k + 1).min(rest.len())
        } else if rest[0] == '\'' && rest.get(2) == Some(&'\'') {
            3
        } else if rest[0] == '\'' && rest.get(1) == Some(&'\\') {
            rest[2..]
                .iter()
                .position(|&ch| ch == '\'')
                .map_or(rest.len(), |k| k + 3)
        } else {
            0
        };
        if end == 0 {
            out.push(c[i]);
            i += 1;
        } else {
            blank(&mut out, &rest[..end]);
            i += end;
        }
    }
    out
}

//! The repository explains itself (docs/design.md, "Conventions"): no tracked file refers to
//! anything outside the checkout, every crate's top doc comment points to docs/design.md, and
//! every relative link in README.md and docs/*.md leads to a file or folder inside the
//! repository.

use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// Files larger than this are not read (none of the repository's text files comes close).
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Folders never searched, wherever they are: caches, build outputs, the Python environment.
const SKIPPED_DIRS: [&str; 3] = [".cache", "target", ".venv"];

/// What no file may hold: the folder beside the checkout, the design notes kept outside it and
/// one machine's absolute paths. Spelled in pieces so that this file does not hold them.
fn banned() -> [String; 3] {
    [
        format!("..{}shared", '/'),
        format!("{}.md", "DESIGN"),
        format!("/{}/", "work"),
    ]
}

/// Every tracked file, relative to the workspace root (`git ls-files`).
fn tracked_files(root: &Path) -> Vec<String> {
    let out = Command::new("git")
        .current_dir(root)
        .args(["ls-files", "-z"])
        .output()
        .expect("run git ls-files (this test needs a git checkout)");
    assert!(
        out.status.success(),
        "git ls-files failed in {}: {}",
        root.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

fn skipped(rel: &str) -> bool {
    Path::new(rel).components().any(|c| match c {
        Component::Normal(name) => SKIPPED_DIRS.iter().any(|d| name == *d),
        _ => false,
    })
}

/// The file's text, or `None` for what is not searched: binary files (a NUL byte, or not
/// UTF-8), files over [`MAX_FILE_BYTES`], and tracked files missing from the work tree.
fn text_of(path: &Path) -> Option<String> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_FILE_BYTES {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    if bytes.contains(&0) {
        return None;
    }
    String::from_utf8(bytes).ok()
}

#[test]
fn no_tracked_file_refers_to_anything_outside_the_repository() {
    let root = triad_tests::workspace_root();
    let files = tracked_files(&root);
    assert!(
        files.len() > 100,
        "git ls-files listed only {}",
        files.len()
    );
    let banned = banned();
    let mut found = vec![];
    let mut searched = 0;
    for rel in files.iter().filter(|r| !skipped(r)) {
        let Some(text) = text_of(&root.join(rel)) else {
            continue;
        };
        searched += 1;
        for (i, line) in text.lines().enumerate() {
            for b in banned.iter().filter(|b| line.contains(b.as_str())) {
                found.push(format!("{rel}:{}: `{b}` in: {}", i + 1, line.trim()));
            }
        }
    }
    assert!(searched > 100, "only {searched} text files searched");
    assert!(
        found.is_empty(),
        "files that refer to something outside the repository (the repository must explain \
         itself: point at docs/design.md or another page in docs/ instead):\n{}",
        found.join("\n")
    );
}

/// The workspace members named in the root Cargo.toml's `members = [...]`.
fn workspace_members(root: &Path) -> Vec<String> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("read Cargo.toml");
    let start = manifest.find("members").expect("Cargo.toml: no `members`");
    let list = &manifest[start..];
    let list = &list[list.find('[').expect("members: no `[`") + 1..];
    let list = &list[..list.find(']').expect("members: no `]`")];
    list.split(',')
        .map(|m| m.trim().trim_matches('"').to_string())
        .filter(|m| !m.is_empty())
        .collect()
}

/// The `//!` lines at the top of a file (blank lines before them allowed), with their numbers.
fn crate_doc(text: &str) -> Vec<(usize, &str)> {
    text.lines()
        .enumerate()
        .skip_while(|(_, l)| l.trim().is_empty())
        .take_while(|(_, l)| l.trim_start().starts_with("//!"))
        .map(|(i, l)| (i + 1, l))
        .collect()
}

#[test]
fn every_crate_doc_comment_points_to_the_design_page() {
    let root = triad_tests::workspace_root();
    let members = workspace_members(&root);
    assert!(members.len() >= 9, "members: {members:?}");
    let mut missing = vec![];
    for m in &members {
        let lib = format!("{m}/src/lib.rs");
        let main = format!("{m}/src/main.rs");
        let rel = if root.join(&lib).is_file() { lib } else { main };
        let text = std::fs::read_to_string(root.join(&rel)).unwrap_or_else(|e| {
            panic!("{rel}: {e} (crate `{m}` has no src/lib.rs or src/main.rs)")
        });
        let doc = crate_doc(&text);
        if doc.is_empty() {
            missing.push(format!("{rel}:1: no crate-level `//!` doc comment"));
        } else if !doc.iter().any(|(_, l)| l.contains("docs/design.md")) {
            let (first, last) = (doc[0].0, doc[doc.len() - 1].0);
            missing.push(format!(
                "{rel}:{first}-{last}: the crate doc comment does not mention docs/design.md"
            ));
        }
    }
    assert!(
        missing.is_empty(),
        "crate doc comments must point to docs/design.md (e.g. \"//! Architecture and \
         conventions: docs/design.md.\"):\n{}",
        missing.join("\n")
    );
}

/// `line` with inline code spans emptied (`a[i](x)` in code is not a link; a link whose text is
/// code keeps its target).
fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    for (i, part) in line.split('`').enumerate() {
        if i % 2 == 0 {
            out.push_str(part);
        }
    }
    out
}

/// Every link target in Markdown `text`, with its line: inline links and images `[..](target)`
/// and reference definitions `[name]: target`, outside fenced code blocks.
fn links_of(text: &str) -> Vec<(usize, String)> {
    let mut out = vec![];
    let mut fenced = false;
    for (i, raw) in text.lines().enumerate() {
        if raw.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let line = without_code_spans(raw);
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let end = rest.find(')').unwrap_or(rest.len());
            let target = rest[..end].split_whitespace().next().unwrap_or("");
            out.push((i + 1, target.trim_matches(['<', '>']).to_string()));
            rest = &rest[end..];
        }
        let t = line.trim_start();
        if let (true, Some(close)) = (t.starts_with('['), t.find("]:")) {
            if let Some(target) = t[close + 2..].split_whitespace().next() {
                out.push((i + 1, target.trim_matches(['<', '>']).to_string()));
            }
        }
    }
    out
}

/// Where a relative link from the Markdown file `md` (relative to the root) leads, relative to
/// the root; `Err` when it is absolute or climbs out of the repository. `None` for links that
/// are not paths: web and mail addresses, anchors within the page.
fn resolve(md: &str, target: &str) -> Option<Result<PathBuf, String>> {
    let lower = target.to_ascii_lowercase();
    if ["http://", "https://", "mailto:"]
        .iter()
        .any(|s| lower.starts_with(s))
    {
        return None;
    }
    let path = target.split(['#', '?']).next().unwrap_or("");
    if path.is_empty() {
        return None;
    }
    if path.starts_with('/') || lower.contains("://") {
        return Some(Err("is not a path relative to this file".into()));
    }
    let mut parts: Vec<String> = Path::new(md)
        .parent()
        .into_iter()
        .flat_map(|p| p.iter().map(|c| c.to_string_lossy().into_owned()))
        .collect();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Some(Err("climbs out of the repository".into()));
                }
            }
            p => parts.push(p.replace("%20", " ")),
        }
    }
    Some(Ok(parts.iter().collect()))
}

#[test]
fn every_relative_markdown_link_resolves_inside_the_repository() {
    let root = triad_tests::workspace_root();
    let mut pages = vec!["README.md".to_string()];
    for entry in std::fs::read_dir(root.join("docs")).expect("read docs/") {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            pages.push(format!("docs/{name}"));
        }
    }
    pages.sort();
    assert!(pages.iter().any(|p| p == "docs/design.md"), "{pages:?}");
    let mut bad = vec![];
    let mut checked = 0;
    for page in &pages {
        let text = std::fs::read_to_string(root.join(page)).unwrap();
        for (line, target) in links_of(&text) {
            match resolve(page, &target) {
                None => {}
                Some(Err(why)) => bad.push(format!("{page}:{line}: link `{target}` {why}")),
                Some(Ok(rel)) if !root.join(&rel).exists() => bad.push(format!(
                    "{page}:{line}: link `{target}`: {} does not exist",
                    rel.display()
                )),
                Some(Ok(_)) => checked += 1,
            }
        }
    }
    assert!(
        checked >= 10,
        "only {checked} relative links found in {pages:?}"
    );
    assert!(
        bad.is_empty(),
        "Markdown links that do not resolve inside the repository:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_link_checker_reads_links_and_refuses_climbing_out() {
    let md = "See [a](x.md#top), [`b/`](b/) and ![i](img/p.png \"t\").\n\
              ```\nlet v = a[0](1);\n```\n\
              Code `f[0](y)` is no link. [web](https://example.com/x) [ref]: ../Cargo.toml\n";
    let links: Vec<String> = links_of(md).into_iter().map(|(_, t)| t).collect();
    assert_eq!(
        links,
        ["x.md#top", "b/", "img/p.png", "https://example.com/x"]
    );
    let ok = |md: &str, t: &str| resolve(md, t).unwrap().unwrap();
    assert_eq!(ok("docs/a.md", "x.md#top"), PathBuf::from("docs/x.md"));
    assert_eq!(ok("docs/a.md", "../README.md"), PathBuf::from("README.md"));
    assert_eq!(ok("README.md", "docs/"), PathBuf::from("docs"));
    assert!(resolve("docs/a.md", "../../x").unwrap().is_err());
    assert!(resolve("README.md", "../x").unwrap().is_err());
    assert!(resolve("README.md", "/etc/passwd").unwrap().is_err());
    assert!(resolve("README.md", "https://example.com").is_none());
    assert!(resolve("README.md", "#section").is_none());
    assert_eq!(
        links_of("[ref]: docs/design.md\n"),
        [(1, "docs/design.md".to_string())]
    );
}

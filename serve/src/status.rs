//! The one place a Triad error becomes a gRPC status, for both services: the error's own crate
//! says what kind of failure it is ([`Classified`]); this maps the kind to a code and scrubs the
//! server's paths from the message, so a client sees its own (root-relative) paths and nothing
//! of the server's layout. Messages are capped at [`MAX_MESSAGE_BYTES`] here and, for statuses
//! a handler builds itself, on the way out ([`crate::cap::CapMessages`]).

use std::borrow::Cow;
use std::path::Path;
use tonic::{Code, Status};
use triad_data::error::{Classified, ErrorKind};

/// The gRPC code of an error kind.
pub fn code(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::InvalidInput => Code::InvalidArgument,
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::FailedPrecondition => Code::FailedPrecondition,
        ErrorKind::ResourceExhausted => Code::ResourceExhausted,
        ErrorKind::Cancelled => Code::Cancelled,
        ErrorKind::Internal => Code::Internal,
    }
}

/// `e` as a client receives it: its kind's code, its message with paths under `root` made
/// relative and any other absolute path cut to its last component. The whole error goes to
/// the log first.
pub fn status<E: Classified>(root: &Path, e: &E) -> Status {
    let kind = e.kind();
    if kind == ErrorKind::Internal {
        tracing::error!(error = ?e, "request failed on the server's side");
    }
    let text = scrub(root, &e.to_string());
    Status::new(code(kind), capped(&text))
}

/// Longest status message a client receives, in bytes. gRPC sends it percent-encoded in a
/// header (up to 3 bytes per byte) and clients refuse headers over 8 KiB ("metadata size
/// exceeds"), so a longer message would reach the client as a transport error instead.
pub const MAX_MESSAGE_BYTES: usize = 2048;

/// `text` cut to at most [`MAX_MESSAGE_BYTES`] on a character boundary, saying so at its end.
pub fn capped(text: &str) -> Cow<'_, str> {
    if text.len() <= MAX_MESSAGE_BYTES {
        return Cow::Borrowed(text);
    }
    let tail = format!("… (message cut: {} bytes in all)", text.len());
    let mut cut = MAX_MESSAGE_BYTES - tail.len();
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    Cow::Owned(format!("{}{tail}", &text[..cut]))
}

/// `s` with its message [`capped`] (code and details kept).
pub fn cap(s: Status) -> Status {
    match capped(s.message()) {
        Cow::Borrowed(_) => s,
        Cow::Owned(m) => Status::with_details(s.code(), m, s.details().to_vec().into()),
    }
}

/// `text` without server paths: `root/` prefixes removed, and every other absolute path
/// (a cache folder, a library) shortened to `…/last-component`.
pub fn scrub(root: &Path, text: &str) -> String {
    let mut text = text.to_string();
    let canonical = root.canonicalize().ok();
    for root in std::iter::once(root).chain(canonical.as_deref()) {
        let r = root.to_string_lossy();
        let r = r.trim_end_matches('/');
        if !r.is_empty() {
            text = text.replace(&format!("{r}/"), "").replace(r, ".");
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find('/') {
        let starts_path = at == 0 || rest[..at].ends_with(is_path_boundary);
        let (head, tail) = rest.split_at(at);
        out.push_str(head);
        if !starts_path {
            out.push('/');
            rest = &tail[1..];
            continue;
        }
        let end = tail.find(is_path_end).unwrap_or(tail.len());
        let path = &tail[..end];
        match path.trim_end_matches('/').rsplit_once('/') {
            Some((dir, last)) if !dir.is_empty() => {
                out.push_str("…/");
                out.push_str(last);
            }
            _ => out.push_str(path),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// What may stand before an absolute path in a message.
fn is_path_boundary(c: char) -> bool {
    c.is_whitespace() || matches!(c, '`' | '\'' | '"' | '(' | '[' | '=' | ',')
}

/// What ends a path in a message (paths with spaces are cut at the space: the rest is kept).
fn is_path_end(c: char) -> bool {
    c.is_whitespace() || matches!(c, '`' | '\'' | '"' | ')' | ']' | ',' | ';' | ':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_paths_become_relative_and_other_paths_lose_their_folders() {
        let root = Path::new("/srv/triad/data");
        assert_eq!(
            scrub(
                root,
                "/srv/triad/data/d/train.jsonl:3: field `text`: missing"
            ),
            "d/train.jsonl:3: field `text`: missing"
        );
        assert_eq!(
            scrub(root, "cannot open `/var/cache/triad/scores/ab.bin`: gone"),
            "cannot open `…/ab.bin`: gone"
        );
        assert_eq!(
            scrub(root, "the data root /srv/triad/data is full"),
            "the data root . is full"
        );
        assert_eq!(scrub(root, "lr 1e-4/step, and/or"), "lr 1e-4/step, and/or");
        assert_eq!(scrub(root, "/"), "/");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("{0}: out of disk")]
    struct Full(String);
    impl Classified for Full {
        fn kind(&self) -> ErrorKind {
            ErrorKind::ResourceExhausted
        }
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let s = status(
            Path::new("/r"),
            &Full(format!("/r/{}", "é".repeat(1 << 19))),
        );
        let m = s.message();
        assert!(m.len() <= MAX_MESSAGE_BYTES, "{} bytes", m.len());
        assert!(
            m.starts_with("éé") && m.ends_with("(message cut: 1048589 bytes in all)"),
            "{m}"
        );
        assert_eq!(capped("short"), "short");
        let exact = "x".repeat(MAX_MESSAGE_BYTES);
        assert_eq!(capped(&exact), exact);
        let s = cap(Status::invalid_argument("y".repeat(1 << 20)));
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().len() <= MAX_MESSAGE_BYTES);
    }

    #[test]
    fn the_kind_decides_the_code() {
        let s = status(Path::new("/r"), &Full("/r/runs/a".into()));
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert_eq!(s.message(), "runs/a: out of disk");
    }
}

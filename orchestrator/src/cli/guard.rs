//! The CLI's panic boundary: a panic inside long tensor work (libtorch refusing an allocation,
//! a bug) ends the command with one clear error line and exit code 1, not exit 101 and
//! kilobytes of panic text and C++ backtrace. The whole text is logged at debug level
//! (`TRIAD_LOG=debug`).

use anyhow::{anyhow, Result};

/// Most characters of a panic's first line the error quotes.
const SUMMARY_CHARS: usize = 200;

/// `f`, with a panic inside it turned into an error about `what` ("the evaluation").
pub fn catch_panics<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        tracing::debug!(panic = %info, "caught a panic");
    }));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    r.unwrap_or_else(|p| Err(anyhow!(message(what, &*p))))
}

/// `what stopped on an internal error: <the panic's first line, cut>`.
fn message(what: &str, payload: &(dyn std::any::Any + Send)) -> String {
    let text = triad_serve::incident::panic_text(payload);
    let first = text.lines().next().unwrap_or("").trim();
    let summary: String = first.chars().take(SUMMARY_CHARS).collect();
    let cut = if summary.len() < first.len() {
        "…"
    } else {
        ""
    };
    format!("{what} stopped on an internal error: {summary}{cut} (TRIAD_LOG=debug shows all of it)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_one_short_error_line() {
        let long = format!(
            "Torch(\"not enough memory: you tried to allocate {} bytes\nException raised from \
             alloc at /opt/pytorch/c10/core/alloc.cpp:12\nframe #0: in /opt/libtorch/lib.so\")",
            "9".repeat(500)
        );
        let e = catch_panics("the evaluation", || -> Result<()> { panic!("{long}") })
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("the evaluation stopped on an internal error: Torch(\"not enough memory"),
            "{e}"
        );
        assert!(!e.contains("/opt") && !e.contains('\n'), "{e}");
        assert!(e.len() < 320, "{} bytes: {e}", e.len());
        // Errors and results pass through as they are; the hook is given back.
        assert_eq!(catch_panics("x", || Ok(3)).unwrap(), 3);
        let e = catch_panics("x", || -> Result<()> { Err(anyhow!("bad line")) }).unwrap_err();
        assert_eq!(e.to_string(), "bad line");
    }
}

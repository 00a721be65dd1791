//! Process-wide settings for tensor work.

/// Keep freed tensor memory in the process instead of returning it to the OS.
///
/// glibc serves every allocation above 32 MiB (logits, activations) with a fresh `mmap`, so each
/// forward pass page-faults its large buffers in again; on SmolLM2 on 2 CPU cores that costs
/// 10–15% of a forward pass. Serving them from the heap and never trimming it removes that cost
/// at the price of RSS staying at its peak, which is what a tensor process wants anyway.
/// Set `TRIAD_MALLOC_DEFAULT=1` to keep glibc's defaults. Call once, early in `main`.
pub fn tune_allocator() {
    if std::env::var_os("TRIAD_MALLOC_DEFAULT").is_some() {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is safe to call at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

/// An error and its causes on one line, `a: b: c`, leaving out a cause whose text the message
/// before it already contains (our errors embed their source, so `{:#}` would say it twice).
pub fn error_line(chain: impl IntoIterator<Item = String>) -> String {
    let mut out = String::new();
    for msg in chain {
        if !out.contains(&msg) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&msg);
        }
    }
    out
}

#[cfg(test)]
mod error_line_tests {
    #[test]
    fn causes_already_said_are_left_out() {
        let chain = ["a.json: not found".to_string(), "not found".into()];
        assert_eq!(super::error_line(chain), "a.json: not found");
        let chain = ["reading config".to_string(), "bad field `x`".into()];
        assert_eq!(super::error_line(chain), "reading config: bad field `x`");
    }
}

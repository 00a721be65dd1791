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

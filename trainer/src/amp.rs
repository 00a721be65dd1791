//! Mixed precision: bf16 autocast on CUDA (weights and optimizer state stay fp32), nothing on CPU.

use triad_lm::tch::{self, Device};

extern "C" {
    fn triad_set_cuda_autocast_bf16() -> i32;
}

/// Run `f` under bf16 autocast when `device` is CUDA, else plainly.
pub fn maybe_autocast<T>(device: Device, f: impl FnOnce() -> T) -> T {
    if !device.is_cuda() {
        return f();
    }
    static SET: std::sync::Once = std::sync::Once::new();
    SET.call_once(|| {
        // SAFETY: a C function without arguments that only sets a global libtorch option.
        let rc = unsafe { triad_set_cuda_autocast_bf16() };
        if rc != 0 {
            tracing::warn!(
                "could not select bf16 for CUDA autocast; libtorch's default (fp16) applies"
            );
        }
    });
    tch::autocast(true, f)
}

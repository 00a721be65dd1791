//! Peak memory of a run: resident memory of the process (CPU), and the CUDA caching
//! allocator's peak allocation (GPU; what `torch.cuda.max_memory_allocated` reports).

use triad_lm::tch::Device;

extern "C" {
    fn triad_cuda_peak_allocated(index: i32) -> i64;
    fn triad_cuda_reset_peak(index: i32) -> i32;
}

/// Start counting peaks afresh: the process's resident high-water mark, and on CUDA the
/// allocator's peak.
pub fn reset_peaks(device: Device) {
    // Writing 5 to clear_refs resets VmHWM (Linux ≥ 4.0); elsewhere the peak spans the process.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    if let Device::Cuda(i) = device {
        // SAFETY: a C function taking a device index; it catches every C++ exception.
        if unsafe { triad_cuda_reset_peak(i as i32) } != 0 {
            tracing::debug!("CUDA allocator statistics unavailable");
        }
    }
}

/// The process's peak resident memory (VmHWM), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|kb| kb * 1024)
}

/// Peak bytes allocated on `device` by libtorch's CUDA allocator; `None` on CPU or when the
/// statistics are unavailable.
pub fn peak_device_bytes(device: Device) -> Option<u64> {
    let Device::Cuda(i) = device else {
        return None;
    };
    // SAFETY: as above.
    let b = unsafe { triad_cuda_peak_allocated(i as i32) };
    u64::try_from(b).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_has_a_resident_peak_and_no_device_peak() {
        reset_peaks(Device::Cpu);
        let _v = vec![1u8; 64 << 20].iter().map(|&x| x as u64).sum::<u64>();
        assert!(peak_rss_bytes().unwrap() > 1 << 20);
        assert_eq!(peak_device_bytes(Device::Cpu), None);
    }

    #[test]
    fn cuda_statistics_fail_softly_without_a_gpu() {
        if triad_lm::tch::Cuda::is_available() {
            reset_peaks(Device::Cuda(0));
            let _t = triad_lm::tch::Tensor::zeros(
                [1 << 20],
                (triad_lm::tch::Kind::Float, Device::Cuda(0)),
            );
            assert!(peak_device_bytes(Device::Cuda(0)).unwrap() >= 4 << 20);
        } else {
            // No GPU: the calls report "unavailable" instead of crashing.
            reset_peaks(Device::Cuda(0));
            assert_eq!(peak_device_bytes(Device::Cuda(0)), None);
        }
    }
}

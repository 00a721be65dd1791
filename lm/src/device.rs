//! Device and dtype selection from user-facing strings.

use crate::error::{LmError, Result};
use tch::{Device, Kind};

/// `cpu`, `cuda`, `cuda:N`, or `auto` (CUDA when available).
pub fn parse_device(s: &str) -> Result<Device> {
    let d = match s {
        "cpu" => Device::Cpu,
        "auto" => Device::cuda_if_available(),
        "cuda" => Device::Cuda(0),
        other => match other
            .strip_prefix("cuda:")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) => Device::Cuda(n),
            None => return Err(LmError::Device(s.to_string())),
        },
    };
    if let Device::Cuda(n) = d {
        if !tch::Cuda::is_available() || n >= tch::Cuda::device_count() as usize {
            return Err(LmError::Device(s.to_string()));
        }
    }
    Ok(d)
}

/// `f32`/`fp32`/`float32` or `bf16`/`bfloat16`.
pub fn parse_kind(s: &str) -> Option<Kind> {
    match s {
        "f32" | "fp32" | "float32" => Some(Kind::Float),
        "bf16" | "bfloat16" => Some(Kind::BFloat16),
        "f16" | "fp16" | "float16" => Some(Kind::Half),
        _ => None,
    }
}

/// The default compute dtype: bf16 on CUDA, fp32 on CPU (CPU bf16 matmuls are slow and less exact).
pub fn default_kind(device: Device) -> Kind {
    match device {
        Device::Cpu => Kind::Float,
        _ => Kind::BFloat16,
    }
}

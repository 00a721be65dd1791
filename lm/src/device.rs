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

/// The weights' dtype for a `dtype` setting, one meaning for every command and service:
/// `auto` is fp32 weights on every device (the trainer then runs CUDA matmuls under bf16
/// autocast; the evaluator scores in fp32), else `f32`, `bf16` or `f16` as asked.
pub fn resolve_kind(dtype: &str) -> Option<Kind> {
    match dtype {
        "auto" => Some(Kind::Float),
        other => parse_kind(other),
    }
}

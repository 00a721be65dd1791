//! ggml tensor types to f32. Block layouts follow ggml's definitions (32 values a block).

use super::reader::TensorInfo;
use half::{bf16, f16};

pub const F32: u32 = 0;
pub const F16: u32 = 1;
pub const Q4_0: u32 = 2;
pub const Q4_1: u32 = 3;
pub const Q8_0: u32 = 8;
pub const BF16: u32 = 30;

const QK: usize = 32;

pub fn type_name(t: u32) -> String {
    match t {
        F32 => "F32".into(),
        F16 => "F16".into(),
        Q4_0 => "Q4_0".into(),
        Q4_1 => "Q4_1".into(),
        Q8_0 => "Q8_0".into(),
        BF16 => "BF16".into(),
        other => format!("ggml type {other}"),
    }
}

/// `(values per block, bytes per block)`.
fn block(t: u32) -> Option<(usize, usize)> {
    Some(match t {
        F32 => (1, 4),
        F16 | BF16 => (1, 2),
        Q4_0 => (QK, 2 + QK / 2),
        Q4_1 => (QK, 4 + QK / 2),
        Q8_0 => (QK, 2 + QK),
        _ => return None,
    })
}

/// Bytes a tensor occupies, or why it cannot be read.
pub fn byte_size(t: &TensorInfo) -> Result<usize, String> {
    let (per, bytes) = block(t.ggml_type).ok_or_else(|| {
        format!(
            "{} is not supported (supported: F32, F16, BF16, Q4_0, Q4_1, Q8_0)",
            type_name(t.ggml_type)
        )
    })?;
    let n = t
        .dims
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .filter(|&n| n < (1 << 40))
        .ok_or("dimensions overflow")? as usize;
    if !n.is_multiple_of(per) {
        return Err(format!(
            "{n} values is not a multiple of the block size {per}"
        ));
    }
    Ok(n / per * bytes)
}

fn h(b: &[u8]) -> f32 {
    f16::from_le_bytes([b[0], b[1]]).to_f32()
}

/// Dequantise `bytes` of ggml type `t` (length already validated by [`byte_size`]).
pub fn to_f32(t: u32, bytes: &[u8]) -> Vec<f32> {
    match t {
        F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        F16 => bytes.chunks_exact(2).map(h).collect(),
        BF16 => bytes
            .chunks_exact(2)
            .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Q4_0 | Q4_1 => {
            let header = if t == Q4_0 { 2 } else { 4 };
            let mut out = Vec::with_capacity(bytes.len() / (header + 16) * QK);
            for blk in bytes.chunks_exact(header + QK / 2) {
                let d = h(&blk[0..2]);
                let (m, shift) = if t == Q4_0 {
                    (0.0, -8.0)
                } else {
                    (h(&blk[2..4]), 0.0)
                };
                let qs = &blk[header..];
                // Low nibbles are values 0..16, high nibbles 16..32.
                out.extend(qs.iter().map(|&q| d * ((q & 0x0f) as f32 + shift) + m));
                out.extend(qs.iter().map(|&q| d * ((q >> 4) as f32 + shift) + m));
            }
            out
        }
        Q8_0 => {
            let mut out = Vec::with_capacity(bytes.len() / (2 + QK) * QK);
            for blk in bytes.chunks_exact(2 + QK) {
                let d = h(&blk[0..2]);
                out.extend(blk[2..].iter().map(|&q| d * (q as i8) as f32));
            }
            out
        }
        other => unreachable!("type {other} rejected by byte_size"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_1_block_layout() {
        let mut blk = vec![];
        blk.extend_from_slice(&f16::from_f32(0.5).to_le_bytes());
        blk.extend_from_slice(&f16::from_f32(-1.0).to_le_bytes());
        blk.extend((0..16u8).map(|i| i | ((15 - i) << 4)));
        let v = to_f32(Q4_1, &blk);
        assert_eq!(v.len(), 32);
        assert_eq!(v[0], -1.0); // q=0
        assert_eq!(v[15], 0.5 * 15.0 - 1.0);
        assert_eq!(v[16], 0.5 * 15.0 - 1.0); // high nibble of byte 0
        assert_eq!(v[31], -1.0);
    }

    #[test]
    fn q8_0_and_q4_0() {
        let mut blk = f16::from_f32(0.25).to_le_bytes().to_vec();
        blk.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let v = to_f32(Q8_0, &blk);
        assert_eq!(v[0], -4.0);
        assert_eq!(v[31], 3.75);
        let mut blk = f16::from_f32(2.0).to_le_bytes().to_vec();
        blk.extend([0x80u8; 16]);
        let v = to_f32(Q4_0, &blk);
        assert_eq!(v[0], -16.0);
        assert_eq!(v[16], 0.0);
    }
}

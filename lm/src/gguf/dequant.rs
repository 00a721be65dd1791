//! ggml tensor types to f32. Block layouts follow ggml's definitions: the legacy formats here
//! (32 values a block), the K-quants (256-value super-blocks) in [`super::kquants`]. Each value is
//! computed with the same f32 operations, in the same order, as gguf-py's dequantiser, so the
//! results are bit-identical to it.

use super::kquants;
use super::reader::TensorInfo;
use half::{bf16, f16};

pub const F32: u32 = 0;
pub const F16: u32 = 1;
pub const Q4_0: u32 = 2;
pub const Q4_1: u32 = 3;
pub const Q5_0: u32 = 6;
pub const Q5_1: u32 = 7;
pub const Q8_0: u32 = 8;
pub const Q2_K: u32 = 10;
pub const Q3_K: u32 = 11;
pub const Q4_K: u32 = 12;
pub const Q5_K: u32 = 13;
pub const Q6_K: u32 = 14;
pub const BF16: u32 = 30;

const QK: usize = 32;

/// The types [`to_f32`] reads, by ggml id.
pub const SUPPORTED: [u32; 13] = [
    F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K,
];

/// ggml's name for type `t` (also for types this module cannot read, so errors can name them).
pub fn type_name(t: u32) -> String {
    const NAMES: [&str; 42] = [
        "F32",
        "F16",
        "Q4_0",
        "Q4_1",
        "Q4_2",
        "Q4_3",
        "Q5_0",
        "Q5_1",
        "Q8_0",
        "Q8_1",
        "Q2_K",
        "Q3_K",
        "Q4_K",
        "Q5_K",
        "Q6_K",
        "Q8_K",
        "IQ2_XXS",
        "IQ2_XS",
        "IQ3_XXS",
        "IQ1_S",
        "IQ4_NL",
        "IQ3_S",
        "IQ2_S",
        "IQ4_XS",
        "I8",
        "I16",
        "I32",
        "I64",
        "F64",
        "IQ1_M",
        "BF16",
        "Q4_0_4_4",
        "Q4_0_4_8",
        "Q4_0_8_8",
        "TQ1_0",
        "TQ2_0",
        "IQ4_NL_4_4",
        "IQ4_NL_4_8",
        "IQ4_NL_8_8",
        "MXFP4",
        "NVFP4",
        "Q1_0",
    ];
    match NAMES.get(t as usize) {
        Some(n) => n.to_string(),
        None => format!("ggml type {t}"),
    }
}

/// `(values per block, bytes per block)`.
fn block(t: u32) -> Option<(usize, usize)> {
    Some(match t {
        F32 => (1, 4),
        F16 | BF16 => (1, 2),
        Q4_0 => (QK, 2 + QK / 2),
        Q4_1 => (QK, 4 + QK / 2),
        Q5_0 => (QK, 6 + QK / 2),
        Q5_1 => (QK, 8 + QK / 2),
        Q8_0 => (QK, 2 + QK),
        Q2_K | Q3_K | Q4_K | Q5_K | Q6_K => (kquants::QK_K, kquants::block_bytes(t)?),
        _ => return None,
    })
}

/// Bytes a tensor occupies, or why it cannot be read.
pub fn byte_size(t: &TensorInfo) -> Result<usize, String> {
    let (per, bytes) = block(t.ggml_type).ok_or_else(|| {
        let names: Vec<String> = SUPPORTED.iter().map(|&s| type_name(s)).collect();
        format!(
            "type {} (ggml type {}) is not supported (supported: {})",
            type_name(t.ggml_type),
            t.ggml_type,
            names.join(", ")
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
            "{n} values is not a multiple of the block size {per} of {}",
            type_name(t.ggml_type)
        ));
    }
    Ok(n / per * bytes)
}

/// The f16 at the start of `b`, as f32.
pub(super) fn h(b: &[u8]) -> f32 {
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
        Q4_0 | Q4_1 => blocks(bytes, block(t), |blk, out| q4(t, blk, out)),
        Q5_0 | Q5_1 => blocks(bytes, block(t), |blk, out| q5(t, blk, out)),
        Q8_0 => blocks(bytes, block(t), q8_0),
        Q2_K | Q3_K | Q4_K | Q5_K | Q6_K => blocks(bytes, block(t), |blk, out| {
            kquants::block_to_f32(t, blk, out)
        }),
        other => unreachable!("type {other} rejected by byte_size"),
    }
}

/// Run `f` over every block of `bytes`, each writing its values into `out`.
fn blocks(
    bytes: &[u8],
    shape: Option<(usize, usize)>,
    f: impl Fn(&[u8], &mut Vec<f32>),
) -> Vec<f32> {
    let (per, size) = shape.expect("a block type");
    let mut out = Vec::with_capacity(bytes.len() / size * per);
    for blk in bytes.chunks_exact(size) {
        f(blk, &mut out);
    }
    out
}

/// Q4_0 (`d·(q−8)`) and Q4_1 (`d·q + m`): low nibbles are values 0..16, high nibbles 16..32.
fn q4(t: u32, blk: &[u8], out: &mut Vec<f32>) {
    let d = h(&blk[0..2]);
    if t == Q4_0 {
        let qs = &blk[2..];
        out.extend(qs.iter().map(|&q| d * ((q & 0x0f) as i8 - 8) as f32));
        out.extend(qs.iter().map(|&q| d * ((q >> 4) as i8 - 8) as f32));
    } else {
        let (m, qs) = (h(&blk[2..4]), &blk[4..]);
        out.extend(qs.iter().map(|&q| d * (q & 0x0f) as f32 + m));
        out.extend(qs.iter().map(|&q| d * (q >> 4) as f32 + m));
    }
}

/// Q5_0 (`d·(q−16)`) and Q5_1 (`d·q + m`): four nibbles as in Q4, the fifth bit of value `i` is
/// bit `i` of the little-endian u32 `qh`.
fn q5(t: u32, blk: &[u8], out: &mut Vec<f32>) {
    let d = h(&blk[0..2]);
    let (m, rest) = if t == Q5_0 {
        (None, &blk[2..])
    } else {
        (Some(h(&blk[2..4])), &blk[4..])
    };
    let qh = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let qs = &rest[4..];
    for i in 0..QK {
        let low = if i < 16 {
            qs[i] & 0x0f
        } else {
            qs[i - 16] >> 4
        };
        let q = low | ((((qh >> i) & 1) as u8) << 4);
        out.push(match m {
            None => d * (q as i8 - 16) as f32,
            Some(m) => d * q as f32 + m,
        });
    }
}

/// Q8_0: `d·q` with q a signed byte.
fn q8_0(blk: &[u8], out: &mut Vec<f32>) {
    let d = h(&blk[0..2]);
    out.extend(blk[2..].iter().map(|&q| (q as i8) as f32 * d));
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

    #[test]
    fn q5_0_high_bits() {
        // qh bit i set for odd i: those values gain 16.
        let mut blk = f16::from_f32(1.0).to_le_bytes().to_vec();
        blk.extend(0xAAAA_AAAAu32.to_le_bytes());
        blk.extend([0x21u8; 16]); // low nibble 1, high nibble 2
        let v = to_f32(Q5_0, &blk);
        assert_eq!(&v[..2], &[1.0 - 16.0, 17.0 - 16.0]);
        assert_eq!(&v[16..18], &[2.0 - 16.0, 18.0 - 16.0]);
    }

    #[test]
    fn unknown_types_are_named() {
        let t = TensorInfo {
            name: "w".into(),
            dims: vec![256],
            ggml_type: 16,
            offset: 0,
        };
        let e = byte_size(&t).unwrap_err();
        assert!(
            e.contains("IQ2_XXS (ggml type 16)") && e.contains("Q6_K"),
            "{e}"
        );
        assert_eq!(type_name(99), "ggml type 99");
    }
}

//! llama.cpp's K-quants: 256-value super-blocks of 16 or 8 sub-blocks, each sub-block with its
//! own (quantised) scale and, for Q2_K/Q4_K/Q5_K, its own minimum. Layouts as in ggml's
//! `block_q*_K`; float operations ordered as in gguf-py so results are bit-identical.

use super::dequant::{h, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K};

pub const QK_K: usize = 256;

/// Bytes of one super-block of type `t`.
pub fn block_bytes(t: u32) -> Option<usize> {
    Some(match t {
        Q2_K => QK_K / 16 + QK_K / 4 + 4,
        Q3_K => QK_K / 8 + QK_K / 4 + 12 + 2,
        Q4_K => 4 + 12 + QK_K / 2,
        Q5_K => 4 + 12 + QK_K / 8 + QK_K / 2,
        Q6_K => QK_K / 2 + QK_K / 4 + QK_K / 16 + 2,
        _ => return None,
    })
}

/// Append the 256 values of super-block `blk` (exactly [`block_bytes`] long) to `out`.
pub fn block_to_f32(t: u32, blk: &[u8], out: &mut Vec<f32>) {
    match t {
        Q2_K => q2_k(blk, out),
        Q3_K => q3_k(blk, out),
        Q4_K | Q5_K => q45_k(t, blk, out),
        Q6_K => q6_k(blk, out),
        other => unreachable!("{other} is not a K-quant"),
    }
}

/// Two bits of value `v` from a 64-byte plane: the 256 values are two halves of 128, each half
/// 32 bytes read four times (shifts 0, 2, 4, 6).
fn two_bits(plane: &[u8], v: usize) -> u8 {
    let (half, j, l) = (v / 128, (v % 128) / 32, v % 32);
    (plane[half * 32 + l] >> (2 * j)) & 3
}

/// Q2_K: `scales[16] qs[64] d dmin`; each scale byte is a 4-bit scale and a 4-bit minimum for
/// 16 values: `d·sc·q − dmin·m`.
fn q2_k(blk: &[u8], out: &mut Vec<f32>) {
    let (scales, qs) = (&blk[..16], &blk[16..80]);
    let (d, dmin) = (h(&blk[80..82]), h(&blk[82..84]));
    for v in 0..QK_K {
        let s = scales[v / 16];
        let dl = d * (s & 0x0f) as f32;
        let ml = dmin * (s >> 4) as f32;
        out.push(dl * two_bits(qs, v) as f32 - ml);
    }
}

/// Q3_K's sixteen 6-bit signed scales: low nibbles in bytes 0..8 (two per byte), high bit
/// pairs in bytes 8..12 (four per byte), offset by 32.
fn q3_scales(s: &[u8]) -> [f32; 16] {
    std::array::from_fn(|i| {
        let lo = (s[i % 8] >> (4 * (i / 8))) & 0x0f;
        let hi = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
        ((lo | (hi << 4)) as i8 - 32) as f32
    })
}

/// Q3_K: `hmask[32] qs[64] scales[12] d`; a value is two low bits minus 4 when its `hmask` bit
/// is clear: `d·sc·q`.
fn q3_k(blk: &[u8], out: &mut Vec<f32>) {
    let (hmask, qs) = (&blk[..32], &blk[32..96]);
    let scales = q3_scales(&blk[96..108]);
    let d = h(&blk[108..110]);
    for v in 0..QK_K {
        let high = (hmask[v % 32] >> (v / 32)) & 1;
        let q = two_bits(qs, v) as i8 - (((high ^ 1) << 2) as i8);
        out.push(d * scales[v / 16] * q as f32);
    }
}

/// Q4_K/Q5_K's eight 6-bit scales and minimums, packed in 12 bytes.
fn scale_min(s: &[u8], j: usize) -> (u8, u8) {
    if j < 4 {
        (s[j] & 0x3f, s[j + 4] & 0x3f)
    } else {
        let sc = (s[j + 4] & 0x0f) | ((s[j - 4] >> 2) & 0x30);
        let m = (s[j + 4] >> 4) | ((s[j] >> 2) & 0x30);
        (sc, m)
    }
}

/// Q4_K `d dmin scales[12] qs[128]` and Q5_K `d dmin scales[12] qh[32] qs[128]`: eight
/// sub-blocks of 32, `d·sc·q − dmin·m`; sub-block `b` takes nibble `b % 2` of bytes
/// `32·(b/2)..`, and Q5_K's fifth bit is bit `b` of `qh`.
fn q45_k(t: u32, blk: &[u8], out: &mut Vec<f32>) {
    let (d, dmin) = (h(&blk[0..2]), h(&blk[2..4]));
    let scales = &blk[4..16];
    let (qh, qs) = if t == Q5_K {
        (Some(&blk[16..48]), &blk[48..])
    } else {
        (None, &blk[16..])
    };
    for b in 0..8 {
        let (sc, m) = scale_min(scales, b);
        let (dl, ml) = (d * sc as f32, dmin * m as f32);
        for l in 0..32 {
            let mut q = (qs[32 * (b / 2) + l] >> (4 * (b % 2))) & 0x0f;
            if let Some(qh) = qh {
                q |= ((qh[l] >> b) & 1) << 4;
            }
            out.push(dl * q as f32 - ml);
        }
    }
}

/// Q6_K: `ql[128] qh[64] scales[16] d`; four low bits from `ql` (halves of 128 values, each 64
/// bytes read twice), two high bits from `qh`, offset by 32: `d·sc·q`.
fn q6_k(blk: &[u8], out: &mut Vec<f32>) {
    let (ql, qh) = (&blk[..128], &blk[128..192]);
    let scales = &blk[192..208];
    let d = h(&blk[208..210]);
    for v in 0..QK_K {
        let (half, nib, l) = (v / 128, (v % 128) / 64, v % 64);
        let low = (ql[half * 64 + l] >> (4 * nib)) & 0x0f;
        let q = (low | (two_bits(qh, v) << 4)) as i8 - 32;
        out.push(d * (scales[v / 16] as i8) as f32 * q as f32);
    }
}

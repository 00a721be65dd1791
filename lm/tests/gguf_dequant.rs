//! Every block type Triad dequantises, against gguf-py's dequantiser on random blocks
//! (tests/oracles/gguf_dequant.py): the values must be bit-identical (NaN for NaN).

use triad_lm::gguf::dequant;

#[test]
fn block_types_match_gguf_py() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&triad_tests::run_oracle("gguf_dequant.py", &[out])).unwrap();
    let manifest = manifest.as_object().unwrap();
    assert_eq!(manifest.len(), dequant::SUPPORTED.len() - 1, "all but F32");
    for (name, m) in manifest {
        let t = m["type"].as_u64().unwrap() as u32;
        assert_eq!(dequant::type_name(t), *name);
        let raw = std::fs::read(dir.path().join(format!("{name}.bin"))).unwrap();
        let want: Vec<f32> = std::fs::read(dir.path().join(format!("{name}.f32")))
            .unwrap()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let got = dequant::to_f32(t, &raw);
        assert_eq!(got.len(), want.len(), "{name}");
        let mut max_abs = 0f32;
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let same = g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()) || g == w;
            assert!(same, "{name} value {i}: {g} vs gguf-py {w}");
            if w.is_finite() {
                max_abs = max_abs.max(w.abs());
            }
        }
        eprintln!(
            "{name}: {} values bit-identical (max |v| {max_abs})",
            got.len()
        );
    }
}

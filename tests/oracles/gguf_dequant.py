"""Random ggml blocks and gguf-py's dequantisation of them, for Triad's dequantiser test.

usage: gguf_dequant.py OUT_DIR

For each block type writes OUT_DIR/NAME.bin (raw blocks: random bytes, the f16 scale fields set
to finite random values, plus an all-zero and an all-0xFF block) and OUT_DIR/NAME.f32 (the
values from `gguf.quants.dequantize`, little-endian f32), and prints a JSON manifest
{NAME: {"type": ggml id, "blocks": n, "values": n}}.
"""
import json
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize

# Byte offsets of each block's f16 scale fields (d, and dmin/m where the type has one).
F16_FIELDS = {
    Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q8_0: [0],
    Q.Q2_K: [80, 82], Q.Q3_K: [108], Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208],
}
N_BLOCKS = 64


def blocks(rng, qtype):
    _, size = GGML_QUANT_SIZES[qtype]
    b = rng.integers(0, 256, size=(N_BLOCKS, size), dtype=np.uint8)
    b[0, :] = 0
    b[1, :] = 0xFF
    for off in F16_FIELDS[qtype]:
        scale = (rng.standard_normal(N_BLOCKS) * 0.05).astype(np.float16)
        b[:, off:off + 2] = scale.view(np.uint8).reshape(N_BLOCKS, 2)
    return b


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(20240611)
    manifest = {}
    for qtype in F16_FIELDS:
        raw = blocks(rng, qtype)
        values = dequantize(raw.reshape(-1), qtype).astype("<f4").reshape(-1)
        raw.tofile(os.path.join(out_dir, f"{qtype.name}.bin"))
        values.tofile(os.path.join(out_dir, f"{qtype.name}.f32"))
        manifest[qtype.name] = {"type": int(qtype), "blocks": N_BLOCKS, "values": int(values.size)}
    # F16 and BF16: every bit pattern of a random sample, NaNs and infinities included.
    for qtype in (Q.F16, Q.BF16):
        raw = rng.integers(0, 256, size=4096, dtype=np.uint8)
        values = dequantize(raw, qtype).astype("<f4").reshape(-1)
        raw.tofile(os.path.join(out_dir, f"{qtype.name}.bin"))
        values.tofile(os.path.join(out_dir, f"{qtype.name}.f32"))
        manifest[qtype.name] = {"type": int(qtype), "blocks": 2048, "values": int(values.size)}
    json.dump(manifest, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])

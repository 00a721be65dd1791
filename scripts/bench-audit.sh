#!/usr/bin/env bash
# Power of the one-run audit (issue 12, docs/evaluator.md "Audit power"): fine-tuning of
# SmolLM2-135M on 16 generated dialogues plus M audit canaries (each included by a fair coin),
# evaluated after every epoch, for each canary design. Prints ε_lb per epoch.
#
# usage: [METHOD=full|lora] scripts/bench-audit.sh [M] [EPOCHS] [LR] [DESIGNS...]
#        (defaults: full, 500, 2, 1e-4, rare-tokens digits; LoRA is r 8 on q/v)
set -euo pipefail
cd "$(dirname "$0")/.."
M=${1:-500}
EPOCHS=${2:-2}
LR=${3:-1e-4}
shift $(( $# < 3 ? $# : 3 ))
DESIGNS=("$@")
[ ${#DESIGNS[@]} -gt 0 ] || DESIGNS=(rare-tokens digits)
METHOD=${METHOD:-full}
GGUF=.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
TRIAD=target/release/triad
for design in "${DESIGNS[@]}"; do
  dir=studies/audit-power-$METHOD-$design-m$M-e$EPOCHS-lr$LR
  mkdir -p "$dir"
  cat > "$dir/spec.toml" <<TOML
# scripts/bench-audit.sh: the audit's power on $METHOD fine-tuning ($design canaries).
name = "audit-power-$METHOD-$design"

[model]
gguf = "$PWD/$GGUF"

[data]
generate = "customer-support"
train = 16
test = 16
seed = 1
audit_canaries = $M
audit_design = "$design"

[train]
epochs = $EPOCHS
batch_size = 8
max_length = 256
seed = 1

[[method]]
method = "$METHOD"
lr = [$LR]

[eval]
every_epoch = true
TOML
  start=$(date +%s)
  $TRIAD study run "$dir/spec.toml" --dir "$dir" --device cpu
  echo "== $design: $(( $(date +%s) - start )) s; audit per evaluation (results.csv):"
  python3 - "$dir/results.csv" <<'PY'
import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    print(f"  {r['label']:6} epoch {r['epoch']}: {r['audit_correct']}/{r['audit_guesses']} right of "
          f"{r['audit_canaries']} canaries -> eps_lb {float(r['audit_epsilon_lb']):.2f} "
          f"(ceiling {float(r['audit_ceiling']):.2f}, delta {r['audit_delta']})")
PY
done

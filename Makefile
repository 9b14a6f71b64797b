# alexbench: `make bench-all` runs the seed protocol for every installed framework and
# writes the report; `make test` runs the tests. Both set up .venv when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# CPU wheels here; on a machine with an NVIDIA driver, JAX's CUDA build.
EXTRAS ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo torch,tensorflow,jax-cuda,dev || echo all,dev)
ALEXBENCH := $(BIN)/alexbench

.PHONY: setup bench-all bench-quick bench-perf bench-layers report test test-fast lint clean-venv

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

report: setup
	$(ALEXBENCH) report

test: setup
	$(BIN)/python -m pytest -q

# Everything but the end-to-end runs of real frameworks (marked slow): a few minutes.
test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

clean-venv:
	rm -rf $(VENV)

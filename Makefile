# alexbench: `make bench-all` runs the seed protocol for every installed framework and
# writes the report; `make test` runs the tests. Both set up .venv when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# CPU wheels here; on a machine with an NVIDIA driver, JAX's CUDA build.
EXTRAS ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo torch,tensorflow,jax-cuda,dev || echo all,dev)
ALEXBENCH := $(BIN)/alexbench

.PHONY: setup bench-all bench-quick report test lint clean-venv

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[$(EXTRAS)]"
	touch $@

setup: $(VENV)/.installed

bench-all: setup
	$(ALEXBENCH) run --label bench-all
	$(ALEXBENCH) report

bench-quick: setup
	$(ALEXBENCH) run --label quick --batch-size 4 --image-size 112 --burn-in 2 --steps 10
	$(ALEXBENCH) report

report: setup
	$(ALEXBENCH) report

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .

clean-venv:
	rm -rf $(VENV)

# The two commands: `make demo` and `make test`. Both set up what they need, idempotently:
# the main virtualenv (.venv, Python 3.11, CPU torch) and the Lava sidecar (Python 3.10).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.spikecore-installed

.PHONY: demo test setup lava-sidecar lint docs bench clean

demo: setup
	$(BIN)/spikecore demo

test: setup
	$(BIN)/python -m pytest
	$(BIN)/ruff check .

setup: $(STAMP) lava-sidecar

# constraints.txt pins torch to the CPU build (2.13.0); anything else pulls CUDA wheels.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt "torch==2.13.0"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps "sinabs==2.0.3" "pbr==7.1.3"
	touch $(STAMP)

# Creates $(VENV)/lava-sidecar (Python 3.10 + lava-nc) when a Python 3.10 exists; otherwise
# prints why Lava will be unavailable and how to fix it, and succeeds.
lava-sidecar: $(STAMP)
	$(BIN)/python -m spikecore.backends.lava.sidecar setup

lint: setup
	$(BIN)/ruff check .

# The docs site (docs/*.md and an API reference from the docstrings) into site/. --strict:
# a broken link or cross-reference, or a docstring naming a parameter the signature lacks,
# fails the build (tests/test_docs_site.py runs the same build).
docs: setup
	$(BIN)/mkdocs build --strict --site-dir site

# Benchmarks print ratios measured side by side; they are not tests. Run one at a time on a
# quiet machine, e.g. `make bench` or `.venv/bin/python benchmarks/bench_norse.py --quick`.
bench: setup
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build dist site *.egg-info .pytest_cache .ruff_cache

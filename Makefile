# The two commands a newcomer needs: `make train` and `make test`. Each creates .venv on first use.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv train test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

train: $(STAMP)
	$(BIN)/openland train

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q --durations=15

bench: $(STAMP)
	$(BIN)/python bench/worlds.py
	$(BIN)/python bench/env.py
	$(BIN)/python bench/learner.py

clean:
	rm -rf $(VENV) runs .pytest_cache

# The two commands a newcomer needs: `make train` and `make test`. Each creates .venv on first use.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv train test browser bench bench-rllib clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

train: $(STAMP)
	$(BIN)/openland train

# The viewer and report tests drive Debian's chromium through its chromedriver (apt packages: nothing is
# downloaded at test time); installed here when missing, so a fresh machine or CI gets them.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver; \
	fi

test: $(STAMP) browser
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q --durations=15

bench: $(STAMP)
	$(BIN)/python bench/worlds.py
	$(BIN)/python bench/env.py
	$(BIN)/python bench/learner.py

# RLlib 2.60 pins gymnasium 1.2.2 (openland pins 1.4.0): its benchmark gets a virtual environment of its own.
RLLIB_VENV := .venv-rllib
$(RLLIB_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(RLLIB_VENV)
	$(RLLIB_VENV)/bin/pip install -q --upgrade pip
	$(RLLIB_VENV)/bin/pip install -q "ray[rllib]==2.60.0" "torch==2.13.0" "mujoco==4.0.0" "numba==0.68.1" "jax[cpu]==0.10.2" \
		"flax==0.12.8" "optax==0.2.8" "orbax-checkpoint==0.12.8" "pettingzoo==1.27.0" tyro tqdm tensorboardX matplotlib pillow
	$(RLLIB_VENV)/bin/pip install -q --no-deps -e .
	touch $(RLLIB_VENV)/.installed

bench-rllib: $(RLLIB_VENV)/.installed
	$(RLLIB_VENV)/bin/python bench/rllib.py --parallel

clean:
	rm -rf $(VENV) runs .pytest_cache

# fedrisk — `make demo` and `make test` are the two set-up commands on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.fedrisk-installed

# Point the data directory at the shared public datasets when they sit beside the checkout.
SHARED_DATA := $(abspath ../shared/data)
ifneq ($(wildcard $(SHARED_DATA)),)
export FEDRISK_DATA_DIR ?= $(SHARED_DATA)
endif
# Nothing phones home (also set by every entry point; repeated here for the tools we call directly).
export FLWR_TELEMETRY_ENABLED ?= 0
export FLWR_DISABLE_UPDATE_CHECK ?= 1
export RAY_USAGE_STATS_ENABLED ?= 0

.PHONY: install demo test bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	# torch first, exactly this spec: anything else pulls a multi-GB CUDA build.
	$(PIP) install torch==2.13.0
	$(PIP) install -e ".[dev,dkg]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/fedrisk demo $(DEMO_ARGS)

test: $(STAMP)
	bash scripts/install-browser
	bash scripts/test

bench: $(STAMP)
	$(PY) -m bench.run_all

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

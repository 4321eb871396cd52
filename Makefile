# envmon — the two entry points are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo test install system-deps bench lint clean

demo: install            ## the main job: a simulated week through receiver → Airflow ingest → InfluxDB
	$(BIN)/envmon demo

test: install            ## the test suite against a throwaway influxd and a throwaway Airflow home
	$(BIN)/pytest

install: system-deps $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -U pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

system-deps:             ## Debian packages: influxdb (influxd), chromium, CJK fonts, pango (WeasyPrint)
	@scripts/ensure-system-deps.sh

bench: install           ## benchmarks: figures and ratios, not pass/fail
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: install
	$(BIN)/ruff check sensors monitoring limits dags tests bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

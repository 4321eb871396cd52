# envmon — the two entry points are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo demo-once up test test-live install system-deps bench lint clean

demo: install            ## back-fill a simulated week (receiver → Airflow → InfluxDB), then the live stack until Ctrl-C
	$(BIN)/envmon demo

demo-once: install       ## the back-fill and its summary only, then exit (CI, benchmarks)
	$(BIN)/envmon demo --once

test: install            ## the test suite against a throwaway influxd and a throwaway Airflow home
	$(BIN)/pytest

test-live: install       ## ~1 h of envmon up --simulate under the real scheduler: alert counts, latency, clean stop
	$(BIN)/pytest -m live -s tests/monitoring/test_live_run.py

up: install              ## the whole one-server stack in the foreground (Ctrl-C stops everything)
	$(BIN)/envmon up

install: system-deps $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -U pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

system-deps:             ## Debian packages: influxdb (influxd), chromium, CJK fonts, pango (WeasyPrint)
	@scripts/ensure-system-deps.sh

bench: install           ## benchmarks: figures and ratios, not pass/fail
	$(BIN)/python bench/bench_pipeline.py ratio
	$(BIN)/python bench/bench_pipeline.py month
	$(BIN)/python bench/bench_write.py
	$(BIN)/python bench/bench_receiver.py
	$(BIN)/python bench/bench_evaluate.py
	$(BIN)/python bench/bench_alert_latency.py
	$(BIN)/python bench/bench_console.py

lint: install
	$(BIN)/ruff check sensors monitoring limits dags tests bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

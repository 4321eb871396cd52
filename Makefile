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
	$(BIN)/python bench/bench_pipeline.py ratio
	$(BIN)/python bench/bench_pipeline.py month
	$(BIN)/python bench/bench_write.py
	$(BIN)/python bench/bench_receiver.py
	$(BIN)/python bench/bench_evaluate.py
	$(BIN)/python bench/bench_alert_latency.py

lint: install
	$(BIN)/ruff check sensors monitoring limits dags tests bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

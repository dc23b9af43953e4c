# Everything a fresh machine needs, from python3 and make alone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo lab test lint format bench screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## Open mailscope on the embedded lab.
demo: $(STAMP)
	$(BIN)/mailscope demo

## Run the lab headless and print its addresses.
lab: $(STAMP)
	$(BIN)/mailscope lab

## Lint, format check and the whole test suite.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/audit_latency.py
	$(BIN)/python bench/probe.py
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/postmaster.py
	$(BIN)/python bench/send.py
	$(BIN)/python bench/bounce.py
	$(BIN)/python bench/dmarc_report.py

## Regenerate screenshots/ from the demo lab.
screenshots: $(STAMP)
	$(BIN)/python scripts/export_screenshots.py

clean:
	rm -rf $(VENV) build dist *.egg-info

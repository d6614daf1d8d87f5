# Every target sets up .venv on first use, so `make demo` and `make test` work on a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format bench screenshot clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/kspan-py replay

test: $(STAMP)
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check kspan_py tests benchmarks
	$(BIN)/ruff format --check kspan_py tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format kspan_py tests benchmarks
	$(BIN)/ruff check --fix kspan_py tests benchmarks

# About 10 minutes on 2 cores; state_bench's full run (100 events/s for 4 h) takes about 10 more:
# run `$(BIN)/python benchmarks/state_bench.py` for it.
# Bytecode first, as an installed wheel has it: with an editable install (and where
# PYTHONDONTWRITEBYTECODE is set) every process measured would compile the package as it starts.
bench: $(STAMP)
	$(BIN)/python -m compileall -q kspan_py
	$(BIN)/python benchmarks/classify_bench.py --quick
	$(BIN)/python benchmarks/replay_bench.py
	$(BIN)/python benchmarks/export_bench.py --quick --end-to-end-deployments 300 --repeat 3
	$(BIN)/python benchmarks/live_bench.py --rates 2500,5000,10000
	$(BIN)/python benchmarks/state_bench.py --quick

# The README's picture of the HTML timeline (needs Debian's chromium).
screenshot: $(STAMP)
	mkdir -p build
	$(BIN)/kspan-py replay examples/captures/real-1.36/crashloop.events.jsonl \
		examples/captures/real-1.36/badpull.events.jsonl --exporter html --html-file build/timeline.html
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --virtual-time-budget=3000 \
		--user-data-dir=build/chromium --window-size=1200,760 \
		--screenshot=$(CURDIR)/docs/timeline.png file://$(CURDIR)/build/timeline.html

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .grimp_cache

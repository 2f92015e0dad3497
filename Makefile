# Two entry points on a fresh machine: `make demo` and `make test`.
# Each creates and fills its own virtual environment in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

#: Branch coverage `make test` must keep (97% when this was set, interop tests included).
COVERAGE_FLOOR := 95

.PHONY: demo test check lint clean bench interop-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

lint: $(STAMP)
	$(BIN)/ruff check src tests examples benchmarks
	$(BIN)/ruff format --check src tests examples benchmarks
	$(BIN)/mypy

# The interop tests' Node packages, installed before the tests start (a no-op once installed
# from this lock file; without npm the interop tests decide whether to skip or fail).
interop-deps: $(STAMP)
	@if command -v npm >/dev/null; then cd tests && ../$(BIN)/python -c \
		"import shutil; from interop.interop_peers import npm_ci; npm_ci(shutil.which('npm'))"; fi

test: lint interop-deps
	$(BIN)/python -m pytest -n 3 --cov --cov-report=term --cov-fail-under=$(COVERAGE_FLOOR)

# The fast loop: the pure tests alone, in about a second.
check: $(STAMP)
	$(BIN)/python -m pytest -q -m pure

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_middleware.py
	$(BIN)/python benchmarks/bench_inspect.py
	$(BIN)/python benchmarks/bench_fleet.py
	$(BIN)/python benchmarks/bench_http.py

clean:
	rm -rf $(VENV)

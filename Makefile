# Two entry points on a fresh machine: `make demo` and `make test`.
# Each creates and fills its own virtual environment in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

#: Branch coverage `make test` must keep (97% when this was set, interop tests included).
COVERAGE_FLOOR := 95

.PHONY: demo test check lint clean bench

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

test: lint
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

# bizos — the two commands: `make run` and `make test`.
SHELL  := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test test-sqlite test-postgres lint format bench clean

install: $(STAMP)

# pip prints each package as it goes: a first install takes a few minutes.
$(STAMP): pyproject.toml
	@echo "==> setting up .venv (first time: a few minutes; each package is listed below)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	set -o pipefail; $(BIN)/python -m pip install --progress-bar off -e '.[dev]' \
		| sed -u -n -e '/^Collecting/p' -e '/^Installing/p' -e '/^Successfully/p'
	touch $(STAMP)
	@echo "==> .venv ready"

## Migrate, seed the demo tenant if absent, and serve on http://127.0.0.1:8000
run: install
	$(BIN)/bizos migrate
	$(BIN)/bizos demo
	$(BIN)/bizos serve --host 127.0.0.1 --port 8000 --no-migrate

## The test suites (SQLite; set BIZOS_TEST_DATABASE_URL for PostgreSQL)
test: install
	$(BIN)/python -m pytest

test-postgres: install
	BIZOS_TEST_DATABASE_URL=$${BIZOS_TEST_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/postgres} \
		$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests bench migrations scripts
	$(BIN)/ruff format --check src tests bench migrations scripts
	$(BIN)/mypy --strict src
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format src tests bench migrations scripts
	$(BIN)/ruff check --fix src tests bench migrations scripts

bench: install
	$(BIN)/python bench/events.py
	$(BIN)/python bench/api.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache

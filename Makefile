# One word per task. `make help` lists them.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
DATA    ?= var
PORT    ?= 8000
ARGS    ?=

.DEFAULT_GOAL := help
.PHONY: help venv install install-test assets run test lint format bench airflow clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

install: $(VENV)/.installed ## create .venv and install the project

install-test: $(VENV)/.installed-test ## install the project with what the tests need

YASGUI  := endpoint/static/vendor/yasgui/yasgui.min.js

# The query page's YASGUI, from npm (endpoint/frontend/package-lock.json); `npm ci` there copies
# the built files into endpoint/static/vendor/ (git-ignored). The server runs without them.
$(YASGUI): endpoint/frontend/package.json endpoint/frontend/package-lock.json endpoint/frontend/copy-assets.mjs
	cd endpoint/frontend && npm ci --no-audit --no-fund
	@touch $@

assets: $(YASGUI) ## build the query page's assets (YASGUI from npm, served locally)

run: install assets ## harvest the sandbox, map, validate, publish, then serve on 127.0.0.1:$(PORT)
	$(BIN)/gongkai run --data-dir $(DATA) --port $(PORT) $(ARGS)

lint: install-test ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-test ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint assets ## lint, then the whole test suite
	$(BIN)/python -m pytest $(ARGS)

bench: install-test ## end-to-end benchmark (ARGS="--notices 100000"; bench/README.md lists the others)
	$(BIN)/python -m bench $(ARGS)

airflow: install ## install the Airflow extra
	$(BIN)/python -m pip install -q -e '.[airflow]'

clean: ## remove the virtualenv and the default data directory
	rm -rf $(VENV) $(DATA)

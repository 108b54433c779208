# The README's two commands. Both work in the project's virtual environment .venv, made
# from $(PYTHON) (the distribution's python3 is fine: nothing is installed into it) and
# reused; pip runs again only when requirements*.txt or pyproject.toml changed (scripts/venv).
#   make dev [PORT=9000] [ARGS="--data /tmp/logdig"]   requirements.txt + LogDig, then `logdig dev`
#   make test [ARGS="tests/unit -x"]   scripts/install-deps (Debian packages, requirements-dev.txt), then pytest
PYTHON ?= python3
export PYTHON
VENV := .venv
PORT ?=
ARGS ?=

.PHONY: dev test lint deps bench

dev:
	@bash scripts/venv dev
	$(VENV)/bin/logdig dev $(if $(PORT),--port $(PORT)) $(ARGS)

deps:
	@bash scripts/install-deps

test: deps
	$(VENV)/bin/python -m pytest $(ARGS)

lint:
	@bash scripts/venv test
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

bench:
	@bash scripts/venv test
	bench/run

# One entry for checks: `make test` installs what is missing, then runs every test.
.PHONY: dev test lint deps bench

dev:
	python3 -m pip install -q -r requirements.txt && python3 -m pip install -q --no-deps -e .
	logdig dev

deps:
	bash scripts/install-deps

test: deps
	python3 -m pytest

lint:
	ruff check . && ruff format --check .

bench:
	bench/run

# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test fuzz load-test bench bench-quick lint format check-migrations schema db-stop clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed

## Set up everything and serve the seeded app on http://$(HOST):$(PORT)
run: $(VENV)/.installed
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py init_local
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

## Set up everything and run the whole test suite
test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Fuzz the API from its OpenAPI schema with many more examples per operation than the suite
fuzz: $(VENV)/.installed-dev
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-200} $(BIN)/python -m pytest tests/test_fuzz.py $(PYTEST_ARGS)

## Load and fault test: gunicorn (production settings), 32 clients for 60 s, the database restarted
load-test: $(VENV)/.installed
	$(BIN)/python manage.py load_test --clients 32 --seconds 60 --fault

## Benchmark over HTTP at 1,000 and 1,000,000 statements beside a minimal view and Datasette (up to an hour)
bench: $(VENV)/.installed
	$(BIN)/python manage.py bench --output docs/benchmarks.md $(BENCH_ARGS)

## The same at 1,000 and 20,000 statements, in a few minutes (results not written to docs/)
bench-quick: $(VENV)/.installed
	$(BIN)/python manage.py bench --quick --output var/bench/benchmarks-quick.md $(BENCH_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

check-migrations: $(VENV)/.installed
	$(BIN)/python manage.py makemigrations --check --dry-run

## Write the OpenAPI schema to var/schema.yaml, failing on any warning
schema: $(VENV)/.installed
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file var/schema.yaml

## Stop the embedded PostgreSQL server (it is started again on demand)
db-stop: $(VENV)/.installed
	$(BIN)/python -m project.embedded_pg stop

clean:
	rm -rf $(VENV) var/static .pytest_cache .ruff_cache

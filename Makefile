# Puppies: `make run` runs the whole stack, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export PORT

.PHONY: run test api-contract lint format servers migrate upstream bench-feed bench-likes bench-http bench-ingest bench-load bench-faults clean

$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

# Local runs are DEBUG runs unless told otherwise: settings.py refuses to start without
# DEBUG until SECRET_KEY and JWT_SIGNING_KEY are set (see the README).
servers migrate run: export DEBUG ?= true

servers: $(BIN)/.installed
	$(BIN)/python scripts/local_servers.py

migrate: servers
	$(BIN)/python manage.py migrate --noinput

run: migrate
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py ingestion_source --defaults
	rm -rf .local/metrics && mkdir -p .local/metrics
	PROMETHEUS_MULTIPROC_DIR=$(CURDIR)/.local/metrics PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/honcho start --port $(PORT)

test: servers
	$(BIN)/pytest $(PYTEST_ARGS)

# schemathesis against a live gunicorn (scripts/api_contract.py; CONTRACT_MAX_EXAMPLES).
api-contract: servers
	$(BIN)/python scripts/api_contract.py $(CONTRACT_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(BIN)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench-likes: servers
	$(BIN)/python bench/likes.py $(BENCH_ARGS)

bench-feed: servers
	$(BIN)/python bench/feed.py $(BENCH_ARGS)

bench-http: servers
	$(BIN)/python bench/http_load.py $(BENCH_ARGS)

# locust and matplotlib: benchmark tools only, not the app's requirements.
$(BIN)/.bench-installed: bench/requirements.txt $(BIN)/.installed
	$(BIN)/pip install --quiet -r bench/requirements.txt
	touch $@

bench-load: servers $(BIN)/.bench-installed
	$(BIN)/python bench/load.py $(BENCH_ARGS)

bench-faults: servers $(BIN)/.bench-installed
	$(BIN)/python bench/faults.py $(BENCH_ARGS)

bench-ingest: servers
	$(BIN)/python bench/ingest.py $(BENCH_ARGS)

# The local upstream (JSONPlaceholder- and PokeAPI-shaped data, faults on demand) on
# 127.0.0.1:8001, for trying imports with `make run`; UPSTREAM_ARGS="--posts 1000 ...".
upstream: $(BIN)/.installed
	$(BIN)/python -m ingestion.testing.upstream --port 8001 $(UPSTREAM_ARGS)

clean:
	rm -rf $(VENV) .local staticfiles .pytest_cache .ruff_cache .import_linter_cache

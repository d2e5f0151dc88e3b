# make up: install, migrate, run the API and dashboard, a worker and Flower until Ctrl-C (make down).
# It serves plain HTTP on 127.0.0.1, so the session cookie is not marked Secure there.
# make test: the whole suite against the real PostgreSQL and Redis.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
RUN_DIR := .run

.PHONY: install up down test lint format bench

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

up: install
	@$(BIN)/importer preflight
	@$(BIN)/importer db upgrade
	@mkdir -p $(RUN_DIR)
	@rm -rf $(RUN_DIR)/metrics && mkdir -p $(RUN_DIR)/metrics
	@test -s $(RUN_DIR)/flower-auth || echo "admin:$$(openssl rand -hex 12)" > $(RUN_DIR)/flower-auth
	@test -s $(RUN_DIR)/secret-key || (umask 077 && openssl rand -hex 32 > $(RUN_DIR)/secret-key)
	@key=$$($(BIN)/importer create-api-key demo) && \
	  echo "API:    http://127.0.0.1:8000  (docs: http://127.0.0.1:8000/api/docs)" && \
	  echo "Flower: http://127.0.0.1:5555  (login $$(cat $(RUN_DIR)/flower-auth))" && \
	  echo "Dashboard: http://127.0.0.1:8000/dashboard/  (sign in with the demo API key)" && \
	  echo "Demo API key: $$key" && \
	  echo "  export IMPORTER_API_KEY=$$key" && \
	  echo "Stop with Ctrl-C or make down."
	@echo $$$$ > $(RUN_DIR)/up.pid; \
	  PATH="$(CURDIR)/$(BIN):$$PATH" IMPORTER_FLOWER_BASIC_AUTH=$$(cat $(RUN_DIR)/flower-auth) \
	  IMPORTER_SECRET_KEY=$$(cat $(RUN_DIR)/secret-key) \
	  IMPORTER_SESSION_COOKIE_SECURE=$${IMPORTER_SESSION_COOKIE_SECURE:-false} \
	  IMPORTER_FLOWER_URL=$${IMPORTER_FLOWER_URL:-http://127.0.0.1:$${IMPORTER_FLOWER_PORT:-5555}} \
	  exec $(BIN)/honcho start -f Procfile

down:
	@if test -s $(RUN_DIR)/up.pid && kill $$(cat $(RUN_DIR)/up.pid) 2>/dev/null; then \
	  echo "stopped"; else echo "not running"; fi
	@rm -f $(RUN_DIR)/up.pid

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# BENCH_ARGS=--quick by default (20k and 100k rows); `make bench BENCH_ARGS=` for 100k and 1M.
BENCH_ARGS ?= --quick
bench: install
	$(BIN)/python bench/cancel_latency.py
	$(BIN)/python bench/pipeline.py $(BENCH_ARGS)

# make up: install, migrate, run the API and dashboard, a worker and Flower until Ctrl-C (make down).
# It serves plain HTTP on 127.0.0.1, so the session cookie is not marked Secure there.
# make test: the whole suite against the real PostgreSQL and Redis.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
RUN_DIR := .run
# The banner names the addresses as the processes get them: under `honcho run`, which lays .env
# over the environment as `honcho start` does, and gunicorn's from its own config file.
GUNICORN_BIND := import runpy; print(runpy.run_path('gunicorn.conf.py')['bind'])

.PHONY: install up down test lint format bench

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# honcho pipes its processes' output, which would make them all log JSON: at a terminal, `make up`
# asks them for text unless IMPORTER_LOG_FORMAT says otherwise.
up: install
	@$(BIN)/importer preflight
	@$(BIN)/importer db upgrade
	@mkdir -p $(RUN_DIR)
	@rm -rf $(RUN_DIR)/metrics && mkdir -p $(RUN_DIR)/metrics
	@test -s $(RUN_DIR)/flower-auth || echo "admin:$$(openssl rand -hex 12)" > $(RUN_DIR)/flower-auth
	@test -s $(RUN_DIR)/secret-key || (umask 077 && openssl rand -hex 32 > $(RUN_DIR)/secret-key)
	@key=$$($(BIN)/importer create-api-key demo) && \
	  api=http://$$($(BIN)/honcho run $(BIN)/python -c "$(GUNICORN_BIND)") && \
	  flower=http://127.0.0.1:$$($(BIN)/honcho run sh -c 'echo $${IMPORTER_FLOWER_PORT:-5555}') && \
	  echo "API:    $$api  (docs: $$api/api/docs)" && \
	  echo "Flower: $$flower  (login $$(cat $(RUN_DIR)/flower-auth))" && \
	  echo "Dashboard: $$api/dashboard/  (sign in with the demo API key)" && \
	  echo "Demo API key: $$key" && \
	  echo "  export IMPORTER_API_KEY=$$key" && \
	  echo "Stop with Ctrl-C or make down." && \
	  echo $$$$ > $(RUN_DIR)/up.pid && \
	  PATH="$(CURDIR)/$(BIN):$$PATH" IMPORTER_FLOWER_BASIC_AUTH=$$(cat $(RUN_DIR)/flower-auth) \
	  IMPORTER_SECRET_KEY=$$(cat $(RUN_DIR)/secret-key) \
	  IMPORTER_SESSION_COOKIE_SECURE=$${IMPORTER_SESSION_COOKIE_SECURE:-false} \
	  IMPORTER_FLOWER_URL=$${IMPORTER_FLOWER_URL:-$$flower} \
	  IMPORTER_LOG_FORMAT=$${IMPORTER_LOG_FORMAT:-$$(test -t 2 && echo text || echo json)} \
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

# BENCH_ARGS=--quick by default (pipeline: 20k and 100k rows; scale_out: 50k, 12 x 5k; undo: 20k);
# `make bench BENCH_ARGS=` for the full sizes (pipeline: 100k and 1M; scale_out: 1M, 12 x 60k;
# undo: 100k).
BENCH_ARGS ?= --quick
bench: install
	$(BIN)/python bench/cancel_latency.py
	$(BIN)/python bench/pipeline.py $(BENCH_ARGS)
	$(BIN)/python bench/scale_out.py $(BENCH_ARGS)
	$(BIN)/python bench/undo.py $(BENCH_ARGS)

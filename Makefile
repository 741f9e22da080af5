# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint typecheck pytest coverage install install-test clean chromium screenshots bench wrk

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,postgres,redis]'
	touch $@ $(VENV)/.installed

# The browser tests drive Debian's Chromium; Playwright never downloads a browser.
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# The OpenID Connect provider the OAuth tests run against (oauth2-mock-server), from its lock.
OAUTH_SERVER := tests/federation/server
$(OAUTH_SERVER)/node_modules/.installed: $(OAUTH_SERVER)/package-lock.json
	npm ci --prefix $(OAUTH_SERVER) --no-audit --no-fund --silent
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test chromium $(BIN)/promtool $(OAUTH_SERVER)/node_modules/.installed

# promtool checks the alert rules (tests/deploy): taken out of Debian's prometheus package
# into the venv, so no Prometheus server is installed or started.
$(BIN)/promtool: | $(BIN)/python
	@tmp=$$(mktemp -d) && cd $$tmp && \
		(apt-get download -qq prometheus 2>/dev/null || \
			(apt-get update -qq && apt-get download -qq prometheus 2>/dev/null)) && \
		dpkg-deb --fsys-tarfile prometheus_*.deb | tar -x ./usr/bin/promtool && \
		mv usr/bin/promtool $(CURDIR)/$@ && cd / && rm -rf $$tmp

run: install
	@echo "authgate on http://$(HOST):$(PORT)  (API docs: http://$(HOST):$(PORT)/docs)"
	@echo "First token, from another terminal:"
	@echo "  curl -s -X POST http://$(HOST):$(PORT)/auth/register -H 'Content-Type: application/json' -d '{\"email\": \"ada@example.com\", \"password\": \"correct horse battery staple\"}'"
	@echo "  curl -s -X POST http://$(HOST):$(PORT)/auth/login -H 'Content-Type: application/json' -d '{\"email\": \"ada@example.com\", \"password\": \"correct horse battery staple\"}'"
	@echo "More in README.md, '5-minute tour'."
	$(BIN)/authgate serve --host $(HOST) --port $(PORT)

lint: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: install-test
	$(BIN)/mypy src

pytest: install-test
	$(BIN)/pytest -n 3 --dist worksteal

# The same run with line and branch coverage: about 60% more CPU, so not part of `make test`.
coverage: install-test
	$(BIN)/pytest -n 3 --dist worksteal --cov --cov-report=term

test: lint typecheck pytest

# Benchmarks (never part of `make test`): writes bench/results/latest.{md,json}.
wrk:
	@command -v wrk >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null)

bench: install-test wrk
	$(BIN)/python -m bench

# PNGs of every page, for docs/pages.md.
screenshots: install-test
	$(BIN)/python -m tests.browser.screenshots docs/screenshots

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage*

# The npm jose verifier of the signing-key interop tests, from its lock.
KEYS_INTEROP := tests/keys/interop
$(KEYS_INTEROP)/node_modules/.installed: $(KEYS_INTEROP)/package-lock.json
	npm ci --prefix $(KEYS_INTEROP) --no-audit --no-fund --silent
	touch $@
install-test: $(KEYS_INTEROP)/node_modules/.installed

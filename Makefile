# heron: every target sets up what it needs. `make demo` and `make test` work on a fresh machine.
# Bytecode is compiled at install: this machine sets PYTHONDONTWRITEBYTECODE, and without
# it every `heron` process would recompile ccxt (seconds of CPU per start).
# uv is installed *inside* the venv: a system Python may refuse pip installs (PEP 668,
# Debian's python3) and may not have uv at all.
# The `ml` extra (PyTorch, for ml_signal's lstm/gru) is installed only from a CPU wheel of
# torch found in pip's find-links (PIP_FIND_LINKS or `pip config`; uv reads neither): PyPI's
# Linux torch is the CUDA build, gigabytes. Without one the torch tests skip.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# uv trusts the platform's certificate store, as pip does (a TLS-inspecting proxy's CA
# lives there); the two names are newer and older uv's.
UV := UV_SYSTEM_CERTS=1 UV_NATIVE_TLS=1 $(BIN)/python -m uv
OUT := out

.PHONY: venv web chromium demo serve test check lint types bench bench-peers clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(UV) --version >/dev/null 2>&1 || { $(BIN)/python -m pip --version >/dev/null 2>&1 \
		|| $(BIN)/python -m ensurepip >/dev/null; \
		$(BIN)/python -m pip install --quiet --disable-pip-version-check uv; }
	@wheel=$$(tag=$$($(BIN)/python -c 'import sys; print("cp%d%d" % sys.version_info[:2])'); \
		for dir in $${PIP_FIND_LINKS:-} $$($(BIN)/python -m pip config get global.find-links \
		2>/dev/null); do ls "$${dir#file://}"/torch-*+cpu-$$tag-*_$$(uname -m).whl 2>/dev/null; \
		done | tail -n 1); \
	if [ -z "$$wheel" ]; then echo "no CPU torch wheel in pip's find-links: the ml extra \
		(PyTorch) is left out and its tests skip"; fi; \
	set -x; $(UV) pip install --quiet --compile-bytecode --python $(BIN)/python \
		-e ".[dev,ray$${wheel:+,ml}]" $$wheel
	@touch $(STAMP)

venv: $(STAMP)

# The dashboard (web/): rebuilt only when its sources or lockfile change. The stamp lives in
# web/dist, so removing the build (or a fresh checkout) rebuilds it.
WEB_STAMP := web/dist/.stamp
WEB_SRC := $(shell find web/src -type f 2>/dev/null) web/index.html web/package.json \
	web/package-lock.json web/vite.config.ts web/tsconfig.json

$(WEB_STAMP): $(WEB_SRC)
	@command -v npm >/dev/null 2>&1 || { echo "make web: npm not found; install Node.js 20+ \
	with npm (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	cd web && npm ci --no-audit --no-fund && npm run build
	@touch $(WEB_STAMP)

web: $(WEB_STAMP)

# Debian's chromium drives the dashboard's browser tests; without it they skip.
chromium:
	@test -x /usr/bin/chromium || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; \
	then apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && \
	apt-get install -y -qq chromium >/dev/null; } || echo "chromium: install failed; the \
	browser tests will skip"; else echo "chromium: /usr/bin/chromium missing; the browser \
	tests will skip (apt-get install chromium)"; fi; }

demo: venv web
	@mkdir -p $(OUT)
	$(BIN)/heron backtest --strategy sma_cross --data data/btc-perp-20211231-20220201_1m.csv.gz \
		--symbol BTC-PERP --param fast=10 --param slow=50 --cash 100000 --fee-bps 10 \
		--json $(OUT)/demo.json --report $(OUT)/demo-report.html --journal $(OUT)/demo-journal.sqlite

# The API and dashboard on http://127.0.0.1:8000, with a demo backtest in the list
# (runs and server.sqlite in heron-home/; Ctrl-C stops the server, not the runs).
serve: venv web
	$(BIN)/heron serve --demo

test: venv web chromium
	$(BIN)/pytest -q

lint: venv
	$(BIN)/ruff check src tests bench

types: venv
	$(BIN)/mypy

check: lint types test

bench: venv
	$(BIN)/python bench/bench_backtest.py
	$(BIN)/python bench/bench_feed.py --quick

bench-peers:
	bench/install_peers.sh

clean:
	rm -rf $(OUT) .pytest_cache .mypy_cache .ruff_cache

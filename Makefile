# Latent Explorer: `make run` starts the app, `make test` runs every test. Both install first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# Local only unless asked: `make run HOST=0.0.0.0` serves on every network interface (with a warning).
HOST ?= localhost
# Real MNIST sits beside the checkout in our workplace and CI; elsewhere data/ (git-ignored).
export EXPLORER_DATA_DIR ?= $(if $(wildcard ../shared/datasets/MNIST/raw),$(abspath ../shared/datasets),$(CURDIR)/data)

.PHONY: run test install install-dev zoo bench bench-peers clean-cache

# --compile-bytecode: Python files compiled once at install. Without it (uv's default) every fresh process
# compiles torch, streamlit... from source when the environment forbids writing .pyc (PYTHONDONTWRITEBYTECODE,
# as here): a server's first page took 16 s of imports instead of 6.5 s, every test subprocess too.
$(VENV)/.installed: requirements.txt
	@command -v uv >/dev/null 2>&1 || python3 -m pip install -q uv
	@test -x $(PY) || uv venv -q -p python3.11 $(VENV)
	VIRTUAL_ENV=$(VENV) uv pip install -q --compile-bytecode -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	VIRTUAL_ENV=$(VENV) uv pip install -q --compile-bytecode -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	@case "$(HOST)" in localhost|127.0.0.1|::1) ;; *) echo "WARNING: serving on $(HOST):$(PORT) with no authentication: anyone on this network can open the app, train models and fill the models folder." >&2 ;; esac
	$(PY) -m streamlit run streamlit_app.py --server.address $(HOST) --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

test: install-dev
	$(PY) -m pytest -q

zoo: install
	$(PY) -m explorer zoo

bench: install
	$(PY) benchmarks/bench_backbone.py
	$(PY) benchmarks/bench_relative.py
	$(PY) benchmarks/bench_geometry.py
	$(PY) benchmarks/bench_interpolation.py
	$(PY) benchmarks/bench_stitching.py
	$(PY) benchmarks/bench_similarity.py
	$(PY) benchmarks/bench_app.py
	$(PY) benchmarks/bench_sources.py
	$(PY) benchmarks/bench_browser.py
	$(PY) benchmarks/bench_browser.py --busy
	$(PY) benchmarks/bench_cancel.py
	$(PY) benchmarks/bench_sweep.py
	$(PY) benchmarks/bench_sweep.py --busy

# Benchmark peers (DADApy pins numpy<2 and builds from source): their own venv, never the app's.
BENCH_VENV ?= .venv-bench
bench-peers: $(BENCH_VENV)/.installed
$(BENCH_VENV)/.installed: benchmarks/requirements-peers.txt
	@command -v uv >/dev/null 2>&1 || python3 -m pip install -q uv
	@test -x $(BENCH_VENV)/bin/python || uv venv -q -p python3.11 $(BENCH_VENV)
	VIRTUAL_ENV=$(BENCH_VENV) uv pip install -q -r benchmarks/requirements-peers.txt
	@touch $@

clean-cache:
	rm -rf $${EXPLORER_CACHE_DIR:-$$HOME/.cache/latent-explorer}

# Two commands a new user needs: `make run` and `make test`. Both set up
# everything themselves (virtualenv, pinned packages, model files).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODELS_STAMP := var/models/.fetched

.PHONY: run test lint typecheck pytest install models system-deps bench lock clean cluster

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
		{ echo "Python 3.11 is required (found $$($(PYTHON) --version))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

install: $(STAMP)

$(MODELS_STAMP): $(STAMP) src/veronica/pipeline/models.py
	$(BIN)/veronica models fetch
	touch $@

models: $(MODELS_STAMP)

# Development mode (public template key, VERONICA_ADMIN_KEY, plain http): `veronica
# serve` without --dev refuses to start until the production settings are there.
run: $(MODELS_STAMP)
	$(BIN)/veronica serve --dev

# nginx (TLS) in front of several production-mode instances on PostgreSQL and Redis,
# on this machine (docs/DEPLOY.md); `scripts/cluster.sh down` stops it.
cluster: $(MODELS_STAMP)
	bash scripts/cluster.sh up

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy

# Chromium and ffmpeg for the end-to-end tests (Debian packages).
system-deps:
	bash scripts/system-deps.sh

pytest: $(MODELS_STAMP) system-deps
	$(BIN)/python -m pytest

test: lint typecheck pytest

# The speed comparison needs face_recognition (dlib), kept out of the main install.
# face_recognition declares a dependency on the source `dlib`, which would compile
# for many minutes; dlib-bin provides the same module prebuilt, hence --no-deps.
bench: $(MODELS_STAMP)
	$(BIN)/python -m pip install --quiet -r requirements-compare.lock
	$(BIN)/python -m pip install --quiet --no-deps face_recognition==1.3.0
	$(BIN)/python benchmarks/pipeline.py --out benchmarks/RESULTS.md

lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^veronica' > requirements.lock.new
	{ printf "# Full pinned dependency tree (runtime + dev tools), Python 3.11, Linux x86_64.\n# Regenerate after changing pyproject.toml: make lock\n"; cat requirements.lock.new; } > requirements.lock && rm requirements.lock.new

clean:
	rm -rf $(VENV) var/models .mypy_cache .ruff_cache .pytest_cache

# masterproxy: `make demo` builds the bundled example, `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CHECKOV_VENV ?= .venv-checkov
CHECKOV_VERSION := 3.3.30

NODE_TOOLS := tests/node/node_modules/.installed

.PHONY: demo test lint typecheck pytest bench schema clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(wildcard examples/plugins/*/pyproject.toml) | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	@for p in examples/plugins/*/; do [ -f "$$p/pyproject.toml" ] && $(BIN)/pip install -q -e "$$p" || true; done
	touch $(VENV)/.installed $@

# checkov pins old libraries (networkx 2.x among them): it lives in a virtual environment of its own.
$(CHECKOV_VENV)/bin/checkov:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/pip install -q checkov==$(CHECKOV_VERSION)

# The real Mermaid parser and YAML language server the tests drive (pinned in tests/node/package-lock.json).
# Without Node or the npm registry, those tests skip with the reason.
$(NODE_TOOLS): tests/node/package.json tests/node/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix tests/node --no-audit --no-fund --loglevel=error && touch $@ \
			|| echo "npm ci failed: the Mermaid and YAML language server tests will skip"; \
	else echo "npm not found: the Mermaid and YAML language server tests will skip"; fi

demo: $(VENV)/.installed
	$(BIN)/mpc validate examples/local-api-gateway/mesh.yaml
	$(BIN)/mpc graph examples/local-api-gateway/mesh.yaml --format mermaid
	$(BIN)/mpc build examples/local-api-gateway/mesh.yaml -o out/
	@find out -mindepth 1 -maxdepth 3 -type d | sort | sed 's|^|  |'
	@echo "next: kubectl kustomize out/kustomize/overlays/default   (one cluster's whole desired state)"
	@echo "      .venv/bin/mpc dev examples/local-api-gateway/mesh.yaml   (the master proxy on your laptop)"

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check mpc tests benchmarks
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

pytest: $(VENV)/.installed-test $(CHECKOV_VENV)/bin/checkov $(NODE_TOOLS)
	MPC_CHECKOV=$(abspath $(CHECKOV_VENV)/bin/checkov) $(BIN)/pytest -n auto -q

test: lint typecheck pytest

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench.py

schema: $(VENV)/.installed
	$(BIN)/mpc schema > schemas/mesh.schema.json

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache

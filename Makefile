# Two commands for a newcomer: `make sandbox` (demo) and `make test` (every test tier that can run here).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: venv sandbox sandbox-down test unit integration lint crds e2e-kind clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

venv: $(BIN)/.installed

# Control plane (built once into ~/.cache/kruise-py), 3 simulated nodes, CRDs and the operator.
sandbox: venv
	$(BIN)/kruise-py sandbox up

sandbox-down: venv
	$(BIN)/kruise-py sandbox down

# Unit + integration (real kube-apiserver/etcd/scheduler/controller-manager) + e2e (skips without Docker).
test: venv
	$(BIN)/kruise-py binaries > /dev/null
	$(BIN)/python -m pytest tests

unit: venv
	$(BIN)/python -m pytest tests/unit

integration: venv
	$(BIN)/kruise-py binaries > /dev/null
	$(BIN)/python -m pytest tests/integration

lint: venv
	$(BIN)/ruff check kruise_py tests bench hack
	$(BIN)/lint-imports
	$(BIN)/mypy kruise_py

# Regenerate crds/ from the pydantic models and the apiserver's pod schema snapshot.
crds: venv
	$(BIN)/python hack/gen_crds.py

e2e-kind: venv
	KIND_E2E=1 $(BIN)/python -m pytest tests/e2e

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

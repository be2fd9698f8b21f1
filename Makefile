# Two commands for a newcomer: `make sandbox` (demo) and `make test` (every test tier that can run here).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: venv sandbox sandbox-down test unit integration reliability compat lint crds e2e-kind lock clean

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

# Faults, conflicts and bad input on a control plane of its own (docs/reliability.md).
reliability: venv
	$(BIN)/kruise-py binaries > /dev/null
	$(BIN)/python -m pytest tests/reliability

# Takeover from the real OpenKruise 1.9 manager and back (docs/migrate.md); skips without
# OPENKRUISE_MANAGER_BIN. KRUISE_COMPAT_RECORD=1 rewrites tests/fixtures/openkruise-1.9.0/.
compat: venv
	$(BIN)/kruise-py binaries > /dev/null
	$(BIN)/python -m pytest tests/compat

lint: venv
	$(BIN)/ruff check kruise_py tests bench hack
	$(BIN)/lint-imports
	$(BIN)/mypy kruise_py
	$(BIN)/hadolint --config .hadolint.yaml Dockerfile

# Regenerate crds/ from the pydantic models and the apiserver's pod schema snapshot.
crds: venv
	$(BIN)/python hack/gen_crds.py

# kind cluster + image build/load + helm install + tests/e2e; without Docker it prints why and skips.
e2e-kind: venv
	PYTHON=$(BIN)/python hack/e2e-kind.sh

# Re-pin the image's runtime dependencies (requirements.lock) from pyproject.toml.
lock:
	rm -rf /tmp/kruise-py-lock && $(PY) -m venv /tmp/kruise-py-lock
	/tmp/kruise-py-lock/bin/pip install -q --dry-run --ignore-installed --report /tmp/kruise-py-lock/report.json .
	{ echo "# Runtime dependencies of the kruise-py image, pinned (resolved from pyproject.toml for Python 3.11)."; \
	  echo "# Regenerate: make lock   (pip's resolver report, in a throwaway venv)"; \
	  $(PY) -c "import json; r = json.load(open('/tmp/kruise-py-lock/report.json')); \
	  [print(m['name'] + '==' + m['version']) for m in sorted((i['metadata'] for i in r['install']), key=lambda m: m['name'].lower()) if m['name'] != 'kruise-py']"; \
	} > requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

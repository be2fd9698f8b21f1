# Two commands for a newcomer: `make sandbox` (demo) and `make test` (every test tier that can run here).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: venv sandbox sandbox-down test unit integration reliability compat realnode lint crds gotypes e2e-kind lock clean

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

# Unit + integration (real kube-apiserver/etcd/scheduler/controller-manager) + real node (skips,
# saying why, without root/containerd/runc/CNI) + e2e (skips without Docker).
test: venv
	$(BIN)/kruise-py binaries > /dev/null
	$(BIN)/kruise-py binaries --kubelet > /dev/null || echo "make: no kubelet built; tests/realnode will skip and say why"
	$(BIN)/python -m pytest tests --durations=25

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

# The same scenarios on a real kubelet + containerd + runc node and on the simulator (docs/realnode.md).
realnode: venv
	$(BIN)/kruise-py binaries --kubelet > /dev/null
	$(BIN)/python -m pytest tests/realnode

lint: venv
	$(BIN)/ruff check kruise_py tests bench hack
	$(BIN)/ruff format --check kruise_py tests bench hack
	$(BIN)/lint-imports
	$(BIN)/mypy kruise_py
	$(BIN)/hadolint --config .hadolint.yaml Dockerfile

# Regenerate crds/ from the pydantic models and the apiserver's pod schema snapshot.
crds: venv
	$(BIN)/python hack/gen_crds.py

# Regenerate the Go field table (kruise_py/core/gotypes.json: k8s.io/api v0.32.10, OpenKruise 1.9's,
# plus what v0.36.2 adds) and the Go test vectors (tests/unit/core/goshape/expected.json), by
# reflection over the real types (hack/gotypes; needs Go and the module proxy).
GO_TOOLCHAIN ?= go1.26.8
gotypes:
	cd hack/gotypes && tmp=$$(mktemp -d) && export GOTOOLCHAIN=$(GO_TOOLCHAIN) GOFLAGS=-mod=mod && \
	  go run -modfile=go.v032.mod . table > $$tmp/v032.json && \
	  go run . table > $$tmp/v036.json && \
	  go run . merge $$tmp/v032.json $$tmp/v036.json > $$tmp/gotypes.json && \
	  go run -modfile=go.v032.mod . vectors ../../tests/unit/core/goshape/cases.json > $$tmp/expected.json && \
	  mv $$tmp/gotypes.json ../../kruise_py/core/gotypes.json && \
	  mv $$tmp/expected.json ../../tests/unit/core/goshape/expected.json && rm -r $$tmp

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

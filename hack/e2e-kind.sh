#!/usr/bin/env bash
# End-to-end on kind, for machines with Docker: create a cluster, build the image and load it into
# the cluster, install the chart, run tests/e2e against it.
#
#   make e2e-kind                       # or: hack/e2e-kind.sh
#   KEEP_CLUSTER=1 make e2e-kind        # leave the cluster running afterwards
#
# Without docker (a running engine), kind, kubectl or helm it prints what is missing and exits 0:
# nothing was tested, and it says so. The same checks run without Docker in tests/integration
# (test_helm_install.py) against a real control plane.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CLUSTER="${KIND_CLUSTER:-kruise-py-e2e}"
IMAGE="${IMAGE:-kruise-py:e2e}"
NS="${NAMESPACE:-kruise-py-system}"
PY="${PYTHON:-$ROOT/.venv/bin/python}"

skip() { echo "e2e-kind SKIPPED: $*"; exit 0; }

command -v docker >/dev/null || skip "no docker client on PATH (the kind e2e needs a Docker engine)"
docker info >/dev/null 2>&1 || skip "the docker client answers but no Docker engine is running"
command -v kind >/dev/null || skip "no kind binary on PATH (https://kind.sigs.k8s.io)"
# kubectl and helm also come with the sandbox's binaries (~/.cache/kruise-py/k8s/<version>).
if ! command -v helm >/dev/null || ! command -v kubectl >/dev/null; then
  eval "$("$PY" -m kruise_py sandbox env | grep '^export PATH=')" || true
fi
command -v kubectl >/dev/null || skip "no kubectl on PATH"
command -v helm >/dev/null || skip "no helm on PATH"

if ! kind get clusters | grep -qx "$CLUSTER"; then
  kind create cluster --name "$CLUSTER" --wait 120s
fi
if [ "${KEEP_CLUSTER:-0}" != 1 ]; then
  trap 'kind delete cluster --name "$CLUSTER"' EXIT
fi
CONTEXT="kind-$CLUSTER"

docker build -t "$IMAGE" "$ROOT"
kind load docker-image "$IMAGE" --name "$CLUSTER"

helm upgrade --install kruise-py "$ROOT/deploy/helm/kruise-py" --kube-context "$CONTEXT" \
  -n "$NS" --create-namespace --wait --timeout 180s \
  --set image.repository="${IMAGE%%:*}" --set image.tag="${IMAGE##*:}" --set image.pullPolicy=Never
kubectl --context "$CONTEXT" apply --server-side --force-conflicts -f "$ROOT/deploy/helm/kruise-py/crds/"

KIND_E2E=1 KIND_CLUSTER="$CLUSTER" KRUISE_PY_NAMESPACE="$NS" "$PY" -m pytest "$ROOT/tests/e2e" -v

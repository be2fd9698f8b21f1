"""CRDs as a user meets them: kubectl explain, printer columns, scale, schema rejections."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from kruise_py.sandbox.sandbox import load_crds

from .conftest import Kubectl, wait_for


@pytest.fixture(scope="module", autouse=True)
def _fresh_discovery(kubectl: Kubectl, crds: None) -> None:
    # kubectl caches discovery on disk. The `crds` fixture's apply/wait cached it before the CRDs were
    # served, and `kubectl explain` does not refresh on a miss ("doesn't have a resource type"), while
    # `kubectl api-resources` always re-reads it. (Users of `sandbox up` meet the same: see the report.)
    kubectl("api-resources", "--api-group=apps.kruise.io")


ASTS = {
    "apiVersion": "apps.kruise.io/v1beta1",
    "kind": "StatefulSet",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 1,
        "serviceName": "web",
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]},
        },
    },
}


def test_explain_reaches_into_the_pod_template(kubectl: Kubectl, crds: None) -> None:
    out = kubectl("explain", "asts.spec.template.spec.containers.image")
    assert "image" in out.lower() and "container image name" in out.lower(), out
    out = kubectl("explain", "broadcastjob.spec.template.spec.restartPolicy")
    assert "restartpolicy" in out.lower()
    out = kubectl("explain", "sidecarset.spec.containers.podInjectPolicy")
    assert "podinjectpolicy" in out.lower()


def test_short_names_and_printer_columns(kubectl: Kubectl, crds: None, ns: str) -> None:
    out = kubectl("api-resources", "--api-group=apps.kruise.io", "-o", "wide")
    assert "asts" in out and "bcj" in out
    assert " sts " not in out and ",sts" not in out, "must not shadow the core StatefulSet's short name"
    # Create one of each kind (schema only; no operator needed) and read the columns kubectl prints.
    kubectl.apply(ASTS, ns)
    out = kubectl("get", "asts", "web", "-n", ns, "-o", "wide")
    for col in ("DESIRED", "CURRENT", "UPDATED", "READY", "AGE", "CONTAINERS", "IMAGES"):
        assert col in out.splitlines()[0], out
    bcj = {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "BroadcastJob",
        "metadata": {"name": "job"},
        "spec": {
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
            }
        },
    }
    kubectl.apply(bcj, ns)
    out = kubectl("get", "bcj", "job", "-n", ns)
    for col in ("DESIRED", "ACTIVE", "SUCCEEDED", "FAILED", "AGE"):
        assert col in out.splitlines()[0].upper(), out
    out = kubectl("get", "sidecarsets")
    assert out == "" or "MATCHED" in out.splitlines()[0]


def test_scale_subresource(kubectl: Kubectl, crds: None, ns: str) -> None:
    kubectl.apply(ASTS, ns)
    kubectl("scale", "asts/web", "--replicas=3", "-n", ns)
    assert kubectl.json("get", "asts", "web", "-n", ns)["spec"]["replicas"] == 3


def test_wrong_field_type_is_rejected_with_its_path(kubectl: Kubectl, crds: None, ns: str) -> None:
    bad = json.loads(json.dumps(ASTS))
    bad["metadata"]["name"] = "bad"
    bad["spec"]["replicas"] = "three"
    res = kubectl.apply(bad, ns, check=False)
    assert res.returncode != 0
    assert "spec.replicas" in res.stderr, res.stderr
    bad2 = json.loads(json.dumps(ASTS))
    bad2["metadata"]["name"] = "bad2"
    bad2["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": "eighty"}]
    res = kubectl.apply(bad2, ns, check=False)
    assert res.returncode != 0
    assert "spec.template.spec.containers[0].ports[0].containerPort" in res.stderr, res.stderr


def test_unknown_template_field_is_caught(kubectl: Kubectl, crds: None, ns: str) -> None:
    bad = json.loads(json.dumps(ASTS))
    bad["metadata"]["name"] = "typo"
    bad["spec"]["template"]["spec"]["containers"][0]["imagee"] = "nginx"
    res = kubectl.apply(bad, ns, check=False)
    # kubectl's server-side field validation (Strict by default for apply) names the unknown field.
    assert res.returncode != 0 and "imagee" in res.stderr, res.stderr


# ---------------------------------------------------------------------------------------------------
# Schema-only checks. The CRDs are also installed under a scratch group that no webhook watches, so
# these tests see exactly what the openAPIV3Schema accepts, whether or not the operator (and its
# validating webhooks, which add OpenKruise's semantic rules) runs in this session.

SCRATCH_GROUP = "schema.kruise-py.test"

# A realistic OpenKruise Advanced StatefulSet: in-place update with the readiness gate, reserveOrdinals
# mixing ints and "a-b" ranges, lifecycle hooks, percentages and ints for the int-or-string fields,
# and the things exported manifests carry (creationTimestamp: null, status in claim templates).
REALISTIC_ASTS = """
apiVersion: apps.kruise.io/v1beta1
kind: StatefulSet
metadata: {name: sample, labels: {app: sample}}
spec:
  replicas: 3
  serviceName: sample
  podManagementPolicy: Parallel
  reserveOrdinals: [0, "2-5", 9]
  selector: {matchLabels: {app: sample}}
  persistentVolumeClaimRetentionPolicy: {whenDeleted: Delete, whenScaled: Retain}
  scaleStrategy: {maxUnavailable: 2}
  lifecycle:
    preDelete: {finalizersHandler: [example.com/unready-blocker], markPodNotReady: true}
    inPlaceUpdate: {labelsHandler: {example.com/update-hook: "true"}}
    preNormal: {finalizersHandler: [example.com/normal-hook]}
  updateStrategy:
    type: RollingUpdate
    rollingUpdate:
      podUpdatePolicy: InPlaceIfPossible
      maxUnavailable: "50%"
      partition: 1
      minReadySeconds: 10
      inPlaceUpdateStrategy: {gracePeriodSeconds: 10}
      unorderedUpdate:
        priorityStrategy:
          weightPriority: [{weight: 50, matchSelector: {matchLabels: {test-key: foo}}}]
  revisionHistoryLimit: 5
  template:
    metadata:
      creationTimestamp: null
      labels: {app: sample}
      annotations: {example.com/a: b}
    spec:
      readinessGates: [{conditionType: InPlaceUpdateReady}]
      terminationGracePeriodSeconds: 10
      tolerations: [{key: k, operator: Exists, effect: ""}]
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            podAffinityTerm:
              topologyKey: kubernetes.io/hostname
              labelSelector: {matchExpressions: [{key: app, operator: In, values: [sample]}]}
      containers:
      - name: main
        image: nginx:alpine
        imagePullPolicy: IfNotPresent
        env:
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: MODE, value: a}
        - {name: MODE, value: b}
        ports: [{name: http, containerPort: 80}, {containerPort: 8443, protocol: TCP}]
        resources:
          requests: {cpu: 0.5, memory: 64Mi}
          limits: {cpu: "1", memory: 128Mi, example.com/gpu: 1}
        readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 5}
        livenessProbe: {tcpSocket: {port: 80}}
        lifecycle: {preStop: {exec: {command: [sh, -c, sleep 5]}}}
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data, creationTimestamp: null}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
    status: {phase: Pending}
"""

REALISTIC_BCJ = """
apiVersion: apps.kruise.io/v1alpha1
kind: BroadcastJob
metadata: {name: download-image}
spec:
  parallelism: "50%"
  template:
    spec:
      restartPolicy: OnFailure
      containers: [{name: pull, image: busybox, command: [echo, started]}]
  completionPolicy: {type: Always, activeDeadlineSeconds: 600, ttlSecondsAfterFinished: 30}
  failurePolicy: {type: Continue, restartLimit: 3}
"""

REALISTIC_SIDECARSET = """
apiVersion: apps.kruise.io/v1alpha1
kind: SidecarSet
metadata: {name: NAME}
spec:
  selector: {matchLabels: {app: sample}}
  namespace: default
  updateStrategy:
    type: RollingUpdate
    maxUnavailable: "20%"
    partition: 1
    scatterStrategy: [{key: zone, value: "*"}]
  injectionStrategy: {revision: {customVersion: v1}}
  containers:
  - name: sidecar1
    image: centos:6.7
    command: [sleep, 999d]
    podInjectPolicy: BeforeAppContainer
    shareVolumePolicy: {type: enabled}
    transferEnv:
    - {sourceContainerName: main, envName: PROXY_IP}
    - sourceContainerNameFrom: {fieldRef: {apiVersion: v1, fieldPath: "metadata.labels['main']"}}
      envNames: [A, B]
    upgradeStrategy: {upgradeType: ColdUpgrade}
    volumeMounts: [{name: log-volume, mountPath: /var/log}]
    resources: {limits: {cpu: 100m}}
  initContainers: [{name: init, image: busybox, restartPolicy: Always}]
  volumes:
  - {name: log-volume, emptyDir: {}}
  - {name: cfg, configMap: {name: cfg, items: [{key: a, path: a}]}}
  imagePullSecrets: [{name: regcred}]
  patchPodMetadata:
  - annotations: {oom-score: '{"log-agent": 1}'}
    patchPolicy: MergePatchJson
  revisionHistoryLimit: 5
"""


SCRATCH_KINDS = ("StatefulSet", "BroadcastJob", "SidecarSet")


def _scratch(manifest: str) -> str:
    """The manifest for the scratch copy of the CRDs (own group and kinds, so nothing resolves to it by accident)."""
    manifest = manifest.replace("apiVersion: apps.kruise.io/", f"apiVersion: {SCRATCH_GROUP}/")
    for kind in SCRATCH_KINDS:
        manifest = manifest.replace(f"kind: {kind}\n", f"kind: Scratch{kind}\n")
    return manifest


def _scratch_obj(obj: dict[str, Any], version: str = "v1beta1") -> dict[str, Any]:
    out = json.loads(json.dumps(obj))
    out["apiVersion"] = f"{SCRATCH_GROUP}/{version}"
    out["kind"] = "Scratch" + out["kind"]
    return out


@pytest.fixture(scope="module")
def scratch_crds(kubectl: Kubectl, crds: None) -> Iterator[None]:
    docs = load_crds()
    for crd in docs:
        names = crd["spec"]["names"]
        kind = "Scratch" + names["kind"]
        crd["spec"]["group"] = SCRATCH_GROUP
        # Own kind, plural and no short names: `kubectl explain asts` must keep resolving to apps.kruise.io.
        crd["spec"]["names"] = {
            "kind": kind,
            "listKind": kind + "List",
            "plural": kind.lower() + "s",
            "singular": kind.lower(),
        }
        crd["metadata"]["name"] = f"{kind.lower()}s.{SCRATCH_GROUP}"
    kubectl("apply", "--server-side", "-f", "-", input="\n---\n".join(json.dumps(c) for c in docs))
    names = [f"crd/{c['metadata']['name']}" for c in docs]
    # Polled rather than `kubectl wait`, which fails at once ("status.conditions accessor error") while a
    # new CRD has no conditions yet - likely for these large ones.
    established = '{.status.conditions[?(@.type=="Established")].status}'
    for n in names:
        wait_for(
            lambda n=n: kubectl("get", n, "-o", f"jsonpath={established}") == "True", what=f"{n} Established"
        )
    yield
    kubectl.run("delete", "--wait=false", *names, check=False)


@pytest.mark.parametrize("server_side", [False, True], ids=["client-side", "server-side"])
def test_realistic_openkruise_manifests_are_accepted(
    kubectl: Kubectl, scratch_crds: None, ns: str, server_side: bool
) -> None:
    ssa = ["--server-side"] if server_side else []
    name = f"sc-{ns}"[:63]
    for manifest, namespaced in (
        (REALISTIC_ASTS, True),
        (REALISTIC_BCJ, True),
        (REALISTIC_SIDECARSET.replace("NAME", name), False),
    ):
        where = ["-n", ns] if namespaced else []
        res = kubectl.run("apply", *ssa, *where, "-f", "-", input=_scratch(manifest), check=False)
        assert res.returncode == 0, f"{res.stderr}\n{manifest}"
    asts = kubectl.json("get", f"scratchstatefulsets.{SCRATCH_GROUP}", "sample", "-n", ns)
    # Nothing was pruned or defaulted away: what was applied is what is stored.
    assert asts["spec"]["reserveOrdinals"] == [0, "2-5", 9]
    assert asts["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"] == "50%"
    assert asts["spec"]["scaleStrategy"]["maxUnavailable"] == 2
    container = asts["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["requests"]["cpu"] == 0.5 and "protocol" not in container["ports"][0]
    assert asts["spec"]["template"]["metadata"]["labels"] == {"app": "sample"}
    bcj = kubectl.json("get", f"scratchbroadcastjobs.{SCRATCH_GROUP}", "download-image", "-n", ns)
    assert bcj["spec"]["parallelism"] == "50%"
    sidecarset = kubectl.json("get", f"scratchsidecarsets.{SCRATCH_GROUP}", name)
    spec = sidecarset["spec"]
    assert spec["containers"][0]["transferEnv"][1]["envNames"] == ["A", "B"]
    assert spec["injectionStrategy"]["revision"]["policy"] == "Always"  # the one default, as OpenKruise
    assert spec["patchPodMetadata"][0]["patchPolicy"] == "MergePatchJson"
    kubectl.run("delete", f"scratchsidecarsets.{SCRATCH_GROUP}", name, "--wait=false", check=False)


@pytest.mark.parametrize(
    ("path_value", "message"),
    [
        (
            {"spec": {"updateStrategy": {"rollingUpdate": {"maxUnavailable": True}}}},
            "spec.updateStrategy.rollingUpdate.maxUnavailable",
        ),
        ({"spec": {"reserveOrdinals": [1.5]}}, "spec.reserveOrdinals[0]"),
        (
            {"spec": {"lifecycle": {"preDelete": {"labelsHandler": {"a": 1}}}}},
            "spec.lifecycle.preDelete.labelsHandler.a",
        ),
        ({"spec": {"template": {"metadata": {"labels": {"a": 1}}}}}, "spec.template.metadata.labels.a"),
        (
            {"spec": {"volumeClaimTemplates": [{"spec": {"accessModes": "ReadWriteOnce"}}]}},
            "spec.volumeClaimTemplates[0].spec.accessModes",
        ),
        ({"spec": {"replica": 3}}, 'unknown field "spec.replica"'),
        ({"spec": {"updateStrategy": {"rollingUpdate": {"maxUnavailabe": 1}}}}, "maxUnavailabe"),
    ],
    ids=[
        "int-or-string-bool",
        "reserve-float",
        "hook-label-int",
        "template-label-int",
        "claim-list",
        "spec-typo",
        "nested-typo",
    ],
)
def test_schema_rejections_name_the_field(
    kubectl: Kubectl, scratch_crds: None, ns: str, path_value: dict[str, Any], message: str
) -> None:
    obj = _scratch_obj(ASTS)
    _merge(obj, path_value)
    res = kubectl.apply(obj, ns, check=False)
    assert res.returncode != 0 and message in res.stderr, res.stderr


def _merge(dst: dict[str, Any], src: dict[str, Any]) -> None:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge(dst[k], v)
        else:
            dst[k] = v


def test_v1alpha1_serves_the_subset(kubectl: Kubectl, scratch_crds: None, ns: str) -> None:
    alpha = _scratch_obj(ASTS, "v1alpha1")
    alpha["metadata"]["name"] = "alpha"
    kubectl.apply(alpha, ns)
    alpha["metadata"]["name"] = "alpha-reserve"
    alpha["spec"]["reserveOrdinals"] = [1]
    res = kubectl.apply(alpha, ns, check=False)
    assert res.returncode != 0 and "spec.reserveOrdinals" in res.stderr, res.stderr
    # A v1beta1 object read as v1alpha1: same fields, v1beta1-only ones not shown.
    beta = _scratch_obj(ASTS)
    beta["spec"]["reserveOrdinals"] = [1]
    kubectl.apply(beta, ns)
    seen = json.loads(
        kubectl("get", "--raw", f"/apis/{SCRATCH_GROUP}/v1alpha1/namespaces/{ns}/scratchstatefulsets/web")
    )
    assert seen["apiVersion"] == f"{SCRATCH_GROUP}/v1alpha1"
    assert "reserveOrdinals" not in seen["spec"] and seen["spec"]["replicas"] == 1


def test_explain_kruise_and_nested_core_fields(kubectl: Kubectl, crds: None) -> None:
    for path, words in (
        ("asts.spec.reserveOrdinals", "range"),
        ("asts.spec.updateStrategy.rollingUpdate.podUpdatePolicy", "InPlaceUpdateReady"),
        ("asts.spec.volumeClaimTemplates.spec.accessModes", "access modes"),
        ("asts.spec.template.metadata.labels", "labels"),
        ("bcj.spec.completionPolicy.activeDeadlineSeconds", "startTime"),
        ("sidecarset.spec.volumes.configMap", "configMap"),
        ("sidecarset.spec.containers.transferEnv.sourceContainerNameFrom.fieldRef", "annotations"),
    ):
        out = kubectl("explain", path)
        assert words.lower() in out.lower(), out


def test_stored_crds_fit_in_etcd(kubectl: Kubectl, crds: None) -> None:
    for crd in load_crds():
        raw = kubectl(
            "get",
            "--raw",
            f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd['metadata']['name']}",
        )
        assert len(raw) < 1_400_000, f"{crd['metadata']['name']}: {len(raw)} bytes stored"

"""Installing kruise-py over OpenKruise 1.9's CRDs with objects of all three kinds stored in both
versions: `kubectl apply --server-side --force-conflicts -f crds/`, `helm install`/`helm upgrade`,
`kubectl create -f crds/` after a delete. Nothing stored may be lost, and what kruise-py rewrites
must be in the shape OpenKruise 1.9 reads (v1beta1, converted as its own conversion does).

Shared by tests/compat (OpenKruise's real CRDs) and tests/integration (stand-ins built from ours,
with the properties that matter: schemaless, both versions served, v1beta1 the storage version
after v1alpha1 was, a conversion webhook of OpenKruise's on the StatefulSet CRD).
"""

from __future__ import annotations

import copy
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from kruise_py.api import convert
from kruise_py.sandbox.controlplane import ControlPlane, free_port
from kruise_py.sandbox.sandbox import REPO_ROOT, apply_crds, crd_dir, load_crds, wait_http_ok
from tests.integration.conftest import Kubectl, _spawn, _stop, local_operator_argv, wait_for

NS = "ok-install"
CHART = REPO_ROOT / "deploy" / "helm" / "kruise-py"
A, B = "apps.kruise.io/v1alpha1", "apps.kruise.io/v1beta1"
NAME_LABEL = "kubernetes.io/metadata.name"
CUSTOM = "apps.kruise.io/sidecarset-custom-version"

# Written before OpenKruise 1.9 made v1beta1 the storage version (stored as v1alpha1 where the CRD
# allows), then the 1.9 ones.
OLD_OBJECTS = [
    {
        "apiVersion": A,
        "kind": "SidecarSet",
        "metadata": {"name": "ok-install-a", "labels": {CUSTOM: "v1"}},
        "spec": {
            "namespace": NS,
            "selector": {"matchLabels": {"app": "ok-a"}},
            "containers": [{"name": "side-a", "image": "busybox:1.36"}],
        },
    },
    {
        "apiVersion": A,
        "kind": "BroadcastJob",
        "metadata": {"name": "job-a", "namespace": NS},
        "spec": {
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36"}]}
            },
            "completionPolicy": {"type": "Always"},
        },
    },
]
NEW_OBJECTS = [
    {
        "apiVersion": B,
        "kind": "SidecarSet",
        "metadata": {"name": "ok-install-b"},
        "spec": {
            "customVersion": "v2",
            "selector": {"matchLabels": {"app": "ok-b"}},
            "namespaceSelector": {"matchLabels": {NAME_LABEL: NS}},
            "containers": [{"name": "side-b", "image": "busybox:1.36"}],
        },
    },
    {
        "apiVersion": B,
        "kind": "BroadcastJob",
        "metadata": {"name": "job-b", "namespace": NS},
        "spec": {
            "parallelism": "50%",
            "template": {
                "spec": {"restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox:1.36"}]}
            },
            "completionPolicy": {"type": "Always", "ttlSecondsAfterFinished": 3600},
            "failurePolicy": {"type": "Continue", "restartLimit": 2},
        },
    },
    {
        "apiVersion": B,
        "kind": "StatefulSet",
        "metadata": {"name": "sts-b", "namespace": NS},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "sts-b"}},
            "podManagementPolicy": "Parallel",
            "reserveOrdinals": [1, "3-4"],
            "lifecycle": {"preDelete": {"labelsHandler": {"hold": "true"}}},
            "template": {
                "metadata": {"labels": {"app": "sts-b"}},
                "spec": {
                    "readinessGates": [{"conditionType": "InPlaceUpdateReady"}],
                    "containers": [{"name": "c", "image": "nginx:1.25"}],
                },
            },
            "updateStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {
                    "podUpdatePolicy": "InPlaceIfPossible",
                    "maxUnavailable": "20%",
                    "inPlaceUpdateStrategy": {"gracePeriodSeconds": 5},
                },
            },
        },
        "status": {
            "replicas": 0,
            "readyReplicas": 0,
            "availableReplicas": 0,
            "currentReplicas": 0,
            "updatedReplicas": 0,
            "updatedReadyReplicas": 0,
            "observedGeneration": 1,
            "updateRevision": "sts-b-7f8d9c6b5",
            "currentRevision": "sts-b-7f8d9c6b5",
            "labelSelector": "app=sts-b",
        },
    },
    {
        "apiVersion": A,
        "kind": "StatefulSet",
        "metadata": {"name": "sts-a", "namespace": NS},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "sts-a"}},
            "template": {
                "metadata": {"labels": {"app": "sts-a"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    },
]
PLURAL = {"SidecarSet": "sidecarsets", "BroadcastJob": "broadcastjobs", "StatefulSet": "statefulsets"}


def stand_in_crds() -> list[dict[str, Any]]:
    """OpenKruise-1.9-shaped CRDs from ours: schemaless versions, conversion None except the
    StatefulSet CRD (a webhook of OpenKruise's, as its kustomize install has it), v1alpha1 the
    storage version (switched to v1beta1 later, as upgrading to 1.9 does)."""
    out = []
    for crd in load_crds(crd_dir()):
        crd = copy.deepcopy(crd)
        crd["metadata"] = {"name": crd["metadata"]["name"]}
        for v in crd["spec"]["versions"]:
            v["schema"] = {
                "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            }
            v["storage"] = v["name"] == (
                "v1beta1" if crd["spec"]["names"]["plural"] == "statefulsets" else "v1alpha1"
            )
        crd["spec"]["conversion"] = {"strategy": "None"}
        out.append(crd)
    return out


def _read(kubectl: Kubectl, obj: dict[str, Any], version: str) -> dict[str, Any]:
    kind = obj["kind"]
    args = [f"{PLURAL[kind]}.{version.split('/')[1]}.apps.kruise.io", obj["metadata"]["name"]]
    if obj["metadata"].get("namespace"):
        args += ["-n", obj["metadata"]["namespace"]]
    out = kubectl.json("get", *args)
    md = out["metadata"]
    for k in ("managedFields", "resourceVersion", "generation"):
        md.pop(k, None)
    return dict(out)


def _create(kubectl: Kubectl, objs: list[dict[str, Any]]) -> None:
    for o in objs:
        o = copy.deepcopy(o)
        status = o.pop("status", None)
        kubectl("create", "-f", "-", input=json.dumps(o))
        if status:
            kubectl(
                "patch",
                f"{PLURAL[o['kind']]}.apps.kruise.io",
                o["metadata"]["name"],
                "-n",
                o["metadata"]["namespace"],
                "--subresource=status",
                "--type=merge",
                "-p",
                json.dumps({"status": status}),
            )


def _stored_version(o: dict[str, Any], old_storage_v1alpha1: bool) -> str:
    """The version an object is stored in, so that reading it there shows exactly what is stored:
    v1beta1, but for the BroadcastJobs and SidecarSets written while v1alpha1 was the storage version."""
    if old_storage_v1alpha1 and o["kind"] != "StatefulSet" and o in OLD_OBJECTS:
        return A
    return B


def run(
    cp: ControlPlane,
    kubectl: Kubectl,
    helm: Path,
    tmp: Path,
    install_openkruise: Callable[[], None],
    switch_storage: Callable[[], None] | None = None,
    after_objects: Callable[[], None] | None = None,
) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    install_openkruise()
    kubectl("create", "namespace", NS)
    _create(kubectl, OLD_OBJECTS)
    if switch_storage is not None:
        switch_storage()
    _create(kubectl, NEW_OBJECTS)
    if after_objects is not None:
        after_objects()

    def _view(o: dict[str, Any]) -> str:
        return _stored_version(o, switch_storage is not None)

    stored = {
        (o["kind"], o["metadata"]["name"]): _read(kubectl, o, _view(o)) for o in OLD_OBJECTS + NEW_OBJECTS
    }
    figures["storedVersions_before"] = {
        c["metadata"]["name"]: c["status"]["storedVersions"]
        for c in kubectl.json("get", "crd")["items"]
        if c["metadata"]["name"].endswith(".apps.kruise.io")
        and c["metadata"]["name"].split(".")[0] in PLURAL.values()
    }

    def unchanged() -> None:
        for o in OLD_OBJECTS + NEW_OBJECTS:
            assert _read(kubectl, o, _view(o)) == stored[(o["kind"], o["metadata"]["name"])], o["metadata"][
                "name"
            ]

    # helm install over OpenKruise's CRDs. Helm 4 applies crds/ server-side: fields of those CRDs are
    # owned by whoever installed OpenKruise, so it needs --force-conflicts (docs/migrate.md), as
    # `kubectl apply --server-side` does.
    def helm_(*args: str) -> None:
        r = subprocess.run(
            [str(helm), f"--kubeconfig={cp.kubeconfig}", *args], capture_output=True, text=True, timeout=300
        )
        assert r.returncode == 0, f"helm {' '.join(args)}: {r.stdout}{r.stderr}"

    helm_(
        "install",
        "kruise-py",
        str(CHART),
        "-n",
        "kruise-py-system",
        "--create-namespace",
        "--force-conflicts",
    )
    unchanged()
    # The documented step (docs/migrate.md): our CRDs over theirs.
    apply_crds(cp.kubeconfig)
    unchanged()
    helm_("upgrade", "kruise-py", str(CHART), "-n", "kruise-py-system")
    # The chart's webhook configurations point at a Service with no endpoints here: remove them
    # before the operator below registers its own.
    helm_("uninstall", "kruise-py", "-n", "kruise-py-system")
    unchanged()

    # kruise-py: conversion webhook on, statuses written; what is stored is what OpenKruise 1.9 reads.
    port = free_port()
    argv = local_operator_argv(
        cp.kubeconfig, port, tmp / "install-certs", "--operator-namespace", "kruise-py-system"
    )
    proc = _spawn("operator-install", argv, cp.logs, cp.kubeconfig)
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/readyz", 90, cp.logs / "operator-install.log")
        for o in OLD_OBJECTS + NEW_OBJECTS:
            # What is stored, as OpenKruise 1.9's own conversion turns it into v1beta1.
            want = convert(stored[(o["kind"], o["metadata"]["name"])], B)
            got = wait_for(
                lambda o=o: (g := _read(kubectl, o, B)).get("status") and g,
                timeout=60,
                what=f"{o['metadata']['name']} observed",
            )
            for key, value in (want.get("spec") or {}).items():
                if key != "template":
                    assert got["spec"].get(key) == value, (o["metadata"]["name"], key, got["spec"].get(key))
            if o["kind"] == "StatefulSet":
                assert _read(kubectl, o, A)["apiVersion"] == A  # conversion None again: v1alpha1 reads work
            if o["kind"] == "SidecarSet":
                assert (got["metadata"].get("labels") or {}).get(CUSTOM) == (
                    want["metadata"].get("labels") or {}
                ).get(CUSTOM)
                back = _read(kubectl, o, A)  # and v1alpha1 readers see the label again
                assert (back["metadata"].get("labels") or {}).get(CUSTOM) == (
                    want["spec"].get("customVersion") or (want["metadata"].get("labels") or {}).get(CUSTOM)
                )
    finally:
        _stop(proc)
    figures["storedVersions_after"] = {
        c["metadata"]["name"]: c["status"]["storedVersions"]
        for c in kubectl.json("get", "crd")["items"]
        if c["metadata"]["name"] in {f"{p}.apps.kruise.io" for p in PLURAL.values()}
    }

    # kubectl create -f crds/ after a delete (a reinstall: the objects go with their CRDs).
    kubectl("delete", "-f", str(crd_dir()), "--wait=true")
    wait_for(
        lambda: (
            not [
                c
                for c in kubectl.json("get", "crd")["items"]
                if c["metadata"]["name"] in {f"{p}.apps.kruise.io" for p in PLURAL.values()}
            ]
        ),
        timeout=120,
        what="CRDs deleted",
    )
    kubectl("create", "-f", str(crd_dir()))
    apply_crds(cp.kubeconfig)
    kubectl("delete", "namespace", NS, "--wait=false")
    return figures


def stand_in_installer(kubectl: Kubectl) -> tuple[Callable[[], None], Callable[[], None], Callable[[], None]]:
    """install, switch the storage version to v1beta1, then give the StatefulSet CRD OpenKruise's
    conversion webhook (kustomize install: Service kruise-system/kruise-webhook-service)."""
    crds = stand_in_crds()

    def apply() -> None:
        kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=yaml.safe_dump_all(crds))

    def install() -> None:
        apply()
        for c in crds:
            kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{c['metadata']['name']}")

    def switch() -> None:
        for c in crds:
            for v in c["spec"]["versions"]:
                v["storage"] = v["name"] == "v1beta1"
        apply()
        time.sleep(1)

    def webhook() -> None:
        sts = next(c for c in crds if c["spec"]["names"]["plural"] == "statefulsets")
        sts["spec"]["conversion"] = {
            "strategy": "Webhook",
            "webhook": {
                "conversionReviewVersions": ["v1", "v1beta1"],
                "clientConfig": {
                    "service": {
                        "namespace": "kruise-system",
                        "name": "kruise-webhook-service",
                        "path": "/convert",
                    }
                },
            },
        }
        apply()
        time.sleep(1)

    return install, switch, webhook

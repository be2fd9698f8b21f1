"""Taking over an Advanced StatefulSet that OpenKruise 1.9 ran: its ControllerRevision (OpenKruise's
exact bytes and name, from the Go vectors in tests/unit/core/goshape) is reused and no pod is
written; a later template change gets the revision name and bytes OpenKruise would compute."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kruise_py.api import default_statefulset
from kruise_py.core import lifecycle
from kruise_py.sandbox.controlplane import ControlPlane

from .conftest import Kubectl, OperatorProcess, _stop, wait_for
from .test_statefulset import pods_of, ready, status_of

VECTORS = Path(__file__).parents[1] / "unit" / "core" / "goshape"
CASES = {c["name"]: c for c in json.loads((VECTORS / "cases.json").read_text())["templates"]}
EXPECTED = {e["name"]: e for e in json.loads((VECTORS / "expected.json").read_text())["templates"]}
NAME = "adopt"
HASH_LABEL = "controller.kubernetes.io/hash"


def _audit_writes(cp: ControlPlane, start: int) -> list[dict[str, Any]]:
    with cp.audit_log.open("rb") as f:
        f.seek(start)
        data = f.read()
    events = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
    return [
        e
        for e in events
        if e.get("stage") == "ResponseComplete" and e.get("userAgent", "").startswith("kruise-py/")
    ]


def _metric(op: OperatorProcess, metric: str, **labels: str) -> float:
    with urllib.request.urlopen(f"{op.url}/metrics", timeout=10) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(metric + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _raw_revision(kubectl: Kubectl, ns: str, name: str) -> str:
    """The revision as the apiserver serves it: ``data`` holds the stored bytes verbatim."""
    return kubectl("get", "--raw", f"/apis/apps/v1/namespaces/{ns}/controllerrevisions/{name}")


def _openkruise_pod(
    ns: str, owner: dict[str, Any], template: dict[str, Any], revision: str, i: int
) -> dict[str, Any]:
    """A pod as OpenKruise's newVersionedStatefulSetPod creates it."""
    name = f"{NAME}-{i}"
    labels = {
        **template["metadata"]["labels"],
        "controller-revision-hash": revision,
        "statefulset.kubernetes.io/pod-name": name,
        "apps.kubernetes.io/pod-index": str(i),
        lifecycle.STATE_LABEL: "Normal",
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": labels,
            "ownerReferences": [owner],
            "annotations": {lifecycle.TIMESTAMP_ANNOTATION: lifecycle.format_timestamp(datetime.now(UTC))},
        },
        "spec": {**json.loads(json.dumps(template["spec"])), "hostname": name, "subdomain": NAME},
    }


def test_reuses_openkruises_revision_and_writes_no_pod(
    operator: OperatorProcess, kubectl: Kubectl, control_plane: ControlPlane, ns: str
) -> None:
    v1, v2 = EXPECTED["integration-template"], EXPECTED["integration-template-v2"]
    template = CASES["integration-template"]["template"]
    assert v1["revisionName"] == "adopt-7fbdfb5479"  # the vectors' set name and collision count 0

    # OpenKruise's state, written while kruise-py is down (stopped gracefully: its webhooks are
    # unregistered, so the objects are stored as given, as OpenKruise's webhook left them).
    _stop(operator.proc)
    mark = 0
    try:
        obj = default_statefulset(
            {
                "apiVersion": "apps.kruise.io/v1beta1",
                "kind": "StatefulSet",
                "metadata": {"name": NAME},
                "spec": {
                    "replicas": 2,
                    "serviceName": NAME,
                    "podManagementPolicy": "Parallel",
                    "selector": {"matchLabels": {"app": NAME}},
                    "template": template,
                    "updateStrategy": {
                        "type": "RollingUpdate",
                        "rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible"},
                    },
                },
            }
        )
        kubectl.run("create", "-n", ns, "-f", "-", input=json.dumps(obj))
        stored = kubectl.json("get", "asts", NAME, "-n", ns)
        assert stored["spec"]["template"] == template  # the vectors' input, as stored
        owner = {
            "apiVersion": "apps.kruise.io/v1beta1",
            "kind": "StatefulSet",
            "name": NAME,
            "uid": stored["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
        meta = {
            "name": v1["revisionName"],
            "namespace": ns,
            "ownerReferences": [owner],
            "labels": {**template["metadata"]["labels"], HASH_LABEL: v1["hash"]},
        }
        head = json.dumps(
            {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": meta, "revision": 1}
        )
        kubectl.run("create", "-n", ns, "-f", "-", input=head[:-1] + ', "data": ' + v1["revisionData"] + "}")
        assert f'"data":{v1["revisionData"]}' in _raw_revision(kubectl, ns, v1["revisionName"])
        gate = {
            "status": {
                "conditions": [
                    {
                        "type": "InPlaceUpdateReady",
                        "status": "True",
                        "lastTransitionTime": lifecycle.format_timestamp(datetime.now(UTC)),
                    }
                ]
            }
        }
        for i in range(2):
            pod = _openkruise_pod(ns, owner, template, v1["revisionName"], i)
            kubectl.run("create", "-n", ns, "-f", "-", input=json.dumps(pod))
            # OpenKruise's in-place gate, True on a pod that is not being updated
            kubectl(
                "patch",
                "pod",
                pod["metadata"]["name"],
                "-n",
                ns,
                "--subresource=status",
                "-p",
                json.dumps(gate),
            )
        wait_for(
            lambda: len(pods := pods_of(kubectl, ns, NAME)) == 2 and all(map(ready, pods.values())),
            90,
            what="OpenKruise's pods running",
        )
        status = {
            "replicas": 2,
            "readyReplicas": 2,
            "availableReplicas": 2,
            "currentReplicas": 2,
            "updatedReplicas": 2,
            "currentRevision": v1["revisionName"],
            "updateRevision": v1["revisionName"],
            "collisionCount": 0,
        }
        kubectl(
            "patch",
            "asts",
            NAME,
            "-n",
            ns,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": status}),
        )
        before = {n: p["metadata"]["uid"] for n, p in pods_of(kubectl, ns, NAME).items()}
        revision_rv = kubectl.json("get", "controllerrevision", v1["revisionName"], "-n", ns)["metadata"][
            "resourceVersion"
        ]
    finally:
        mark = control_plane.audit_log.stat().st_size
        operator.start_again()

    generation = kubectl.json("get", "asts", NAME, "-n", ns)["metadata"]["generation"]

    def taken_over() -> dict[str, Any] | None:
        st = status_of(kubectl, ns, NAME)
        return st if st.get("observedGeneration") == generation and st.get("readyReplicas") == 2 else None

    st = wait_for(taken_over, 120, what="kruise-py reconciled the set")
    assert st["currentRevision"] == st["updateRevision"] == v1["revisionName"]
    assert st["updatedReplicas"] == 2 and st.get("collisionCount", 0) == 0
    # One more reconcile (an annotation is an event), and until it has run nothing changes either.
    reconciles = _metric(operator, "controller_runtime_reconcile_total", controller="statefulset")
    kubectl("annotate", "asts", NAME, "-n", ns, "example.com/poke=1")
    wait_for(
        lambda: (
            _metric(operator, "controller_runtime_reconcile_total", controller="statefulset") > reconciles
            and _metric(operator, "workqueue_depth", name="statefulset") == 0
            and _metric(operator, "controller_runtime_active_workers", controller="statefulset") == 0
        ),
        60,
        what="another statefulset reconcile",
    )

    writes = _audit_writes(control_plane, mark)
    mine = [
        (
            e["verb"],
            e["objectRef"].get("resource"),
            e["objectRef"].get("subresource"),
            e["objectRef"].get("name"),
        )
        for e in writes
        if e["objectRef"].get("namespace") == ns
    ]
    assert not [w for w in mine if w[1] in ("pods", "controllerrevisions")], mine
    revisions = kubectl.json("get", "controllerrevisions", "-n", ns)["items"]
    assert [r["metadata"]["name"] for r in revisions] == [v1["revisionName"]]
    assert revisions[0]["metadata"]["resourceVersion"] == revision_rv
    assert {n: p["metadata"]["uid"] for n, p in pods_of(kubectl, ns, NAME).items()} == before

    # A template change: the new revision is named and stored exactly as OpenKruise would write it,
    # and the pods are updated in place (the diff against OpenKruise's revision is the image only).
    new_template = CASES["integration-template-v2"]["template"]
    kubectl(
        "patch",
        "asts",
        NAME,
        "-n",
        ns,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"template": {"spec": {"containers": new_template["spec"]["containers"]}}}}),
    )
    assert kubectl.json("get", "asts", NAME, "-n", ns)["spec"]["template"] == new_template

    def rolled() -> dict[str, Any] | None:
        s = status_of(kubectl, ns, NAME)
        done = (
            s.get("updateRevision") == v2["revisionName"]
            and s.get("currentRevision") == v2["revisionName"]
            and s.get("updatedReplicas") == 2
            and s.get("readyReplicas") == 2
        )
        return s if done else None

    wait_for(rolled, 120, what="rolled out to the new revision")
    assert f'"data":{v2["revisionData"]}' in _raw_revision(kubectl, ns, v2["revisionName"])
    new_rev = kubectl.json("get", "controllerrevision", v2["revisionName"], "-n", ns)
    assert new_rev["metadata"]["labels"][HASH_LABEL] == v2["hash"] and new_rev["revision"] == 2
    after = pods_of(kubectl, ns, NAME)
    assert {n: p["metadata"]["uid"] for n, p in after.items()} == before, "pods were recreated"
    assert {p["spec"]["containers"][0]["image"] for p in after.values()} == {"nginx:1.26"}
    pod_writes = [
        (e["verb"], e["objectRef"].get("subresource"))
        for e in _audit_writes(control_plane, mark)
        if e["objectRef"].get("namespace") == ns and e["objectRef"].get("resource") == "pods"
    ]
    assert all(verb == "patch" for verb, _ in pod_writes), pod_writes  # in place: no create, no delete

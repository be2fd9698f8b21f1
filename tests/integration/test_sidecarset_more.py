"""SidecarSet: revisions, non-upgradable changes, native sidecars, admission rules, operator outage."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest

from .conftest import Kubectl, OperatorProcess, wait_for
from .test_sidecarset import admitted, deployment, pods, sidecar_image, sidecarset


def test_revisions_are_recorded_in_the_operator_namespace(
    operator: OperatorProcess, kubectl: Kubectl, ns: str, sidecarsets: list[str]
) -> None:
    name = f"screv-{ns[-5:]}"
    sidecarsets.append(name)
    obj = sidecarset(name, {"app": "rev", "t": ns[-5:]})
    kubectl.apply(obj)
    admitted(kubectl, name)

    def revisions() -> list[dict[str, Any]]:
        return kubectl.json(
            "get", "controllerrevisions", "-n", "kruise-system", "-l", f"kruise.io/sidecarset-name={name}"
        )["items"]  # type: ignore[no-any-return]

    first = wait_for(lambda: revisions(), 30, what="first revision")
    obj["spec"]["containers"][0]["image"] = "busybox:1.37"
    kubectl.apply(obj)
    revs = wait_for(lambda: (r := revisions()) and len(r) == 2 and r, 30, what="second revision")
    latest = max(revs, key=lambda r: r["revision"])
    assert latest["metadata"]["name"] != first[0]["metadata"]["name"]
    wait_for(
        lambda: (
            kubectl.json("get", "sidecarset", name).get("status", {}).get("latestRevision")
            == latest["metadata"]["name"]
        ),
        30,
        what="status.latestRevision",
    )


def test_a_non_image_change_marks_pods_not_upgradable(
    operator: OperatorProcess, kubectl: Kubectl, ns: str, sidecarsets: list[str]
) -> None:
    name = f"scnu-{ns[-5:]}"
    sidecarsets.append(name)
    obj = sidecarset(name, {"app": "nu", "t": ns[-5:]})
    kubectl.apply(obj)
    admitted(kubectl, name)
    kubectl.apply(deployment("nu", 1, {"app": "nu", "t": ns[-5:]}), ns)
    wait_for(
        lambda: kubectl.json("get", "sidecarset", name).get("status", {}).get("readyPods") == 1,
        60,
        what="ready",
    )
    obj["spec"]["containers"][0]["command"] = ["sh", "-c", "sleep 3600"]
    kubectl.apply(obj)

    def condition() -> dict[str, Any] | None:
        p = pods(kubectl, ns, "app=nu")[0]
        return next(
            (c for c in p["status"].get("conditions", []) if c["type"] == "SidecarSetUpgradable"), None
        )

    cond = wait_for(condition, 60, what="SidecarSetUpgradable condition")
    assert cond["status"] == "False" and cond["reason"] == "UpdateImmutableField"
    assert sidecar_image(pods(kubectl, ns, "app=nu")[0], f"{name}-before")[1] == 0, "not restarted"


def test_native_sidecars_are_upgraded_in_place(
    operator: OperatorProcess, kubectl: Kubectl, ns: str, sidecarsets: list[str]
) -> None:
    """Beyond OpenKruise: an init container with restartPolicy Always (Kubernetes >= 1.29) is
    upgraded in place like a container; OpenKruise only allows NotUpdate for them."""
    name = f"scnat-{ns[-5:]}"
    sidecarsets.append(name)
    obj = sidecarset(
        name,
        {"app": "nat", "t": ns[-5:]},
        containers=[],
        initContainers=[{"name": "proxy", "image": "busybox:1.36", "restartPolicy": "Always"}],
        volumes=[],
        imagePullSecrets=[],
    )
    kubectl.apply(obj)
    admitted(kubectl, name)
    kubectl.apply(deployment("nat", 1, {"app": "nat", "t": ns[-5:]}), ns)
    pod = wait_for(lambda: pods(kubectl, ns, "app=nat"), 60, what="pod")[0]
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["proxy"]
    uid = pod["metadata"]["uid"]
    wait_for(
        lambda: kubectl.json("get", "sidecarset", name).get("status", {}).get("readyPods") == 1,
        60,
        what="ready",
    )
    obj["spec"]["initContainers"][0]["image"] = "busybox:1.37"
    kubectl.apply(obj)

    def upgraded() -> bool:
        p = pods(kubectl, ns, "app=nat")[0]
        st = next((c for c in p["status"].get("initContainerStatuses", []) if c["name"] == "proxy"), {})
        return st.get("image") == "busybox:1.37" and st.get("restartCount") == 1

    wait_for(upgraded, 60, what="native sidecar restarted with the new image")
    assert pods(kubectl, ns, "app=nat")[0]["metadata"]["uid"] == uid


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda o: o["spec"].update(selector={"matchLabels": {}}), "selector"),
        (
            lambda o: o["spec"].update(containers=[], initContainers=[]),
            "no initContainer or container defined for SidecarSet",
        ),
        (lambda o: o["spec"]["containers"][0].update(podInjectPolicy="Sideways"), "podInjectPolicy"),
        (
            lambda o: o["spec"].update(
                updateStrategy={
                    "type": "RollingUpdate",
                    "partition": 1,
                    "selector": {"matchLabels": {"a": "b"}},
                }
            ),
            "Partition and Selector cannot be used together",
        ),
    ],
)
def test_invalid_sidecarsets_are_rejected(
    operator: OperatorProcess, kubectl: Kubectl, ns: str, change: Any, words: str
) -> None:
    obj = sidecarset(f"bad-{ns[-5:]}", {"app": "x"})
    change(obj)
    res = kubectl.apply(obj, check=False)
    assert res.returncode != 0 and words in res.stderr, res.stderr


def test_conflicts_and_immutability_are_rejected(
    operator: OperatorProcess, kubectl: Kubectl, ns: str, sidecarsets: list[str]
) -> None:
    first = f"sca-{ns[-5:]}"
    sidecarsets.append(first)
    obj = sidecarset(first, {"app": "shared", "t": ns[-5:]})
    kubectl.apply(obj)
    admitted(kubectl, first)  # conflicts are checked against the operator's informer cache
    other = copy.deepcopy(obj)
    other["metadata"]["name"] = f"scb2-{ns[-5:]}"
    res = kubectl.apply(other, check=False)  # same container names, overlapping selector
    assert res.returncode != 0 and f"already exist in {first}" in res.stderr, res.stderr
    renamed = copy.deepcopy(obj)
    renamed["spec"]["containers"][1]["name"] = "brand-new"
    res = kubectl.apply(renamed, check=False)  # containers cannot be added or renamed
    assert res.returncode != 0 and "not found" in res.stderr, res.stderr


def test_with_the_operator_down_pod_creation_still_succeeds(
    operator: OperatorProcess, kubectl: Kubectl, ns: str, sidecarsets: list[str]
) -> None:
    """The injection webhook fails open (docs/decisions.md): with the operator killed, pods are
    created in kube-system, in namespaces no SidecarSet selects and in selected ones (without
    sidecars); the operator's own kinds stay fail-closed."""
    name = f"scdown-{ns[-5:]}"
    sidecarsets.append(name)
    kubectl.apply(sidecarset(name, {"app": "sel", "t": ns[-5:]}))
    admitted(kubectl, name)
    operator.kill()
    try:
        bare = {
            "apiVersion": "v1",
            "kind": "Pod",
            "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]},
        }
        for where, labels in ((ns, {"app": "sel", "t": ns[-5:]}), (ns, {"app": "plain"})):
            pod = copy.deepcopy(bare)
            pod["metadata"] = {"generateName": "down-", "labels": labels}
            kubectl("create", "-n", where, "-f", "-", input=json.dumps(pod))
        ks = copy.deepcopy(bare)
        ks["metadata"] = {"name": f"down-{ns[-5:]}"}
        kubectl("create", "-n", "kube-system", "-f", "-", input=json.dumps(ks))
        kubectl("delete", "pod", f"down-{ns[-5:]}", "-n", "kube-system", "--wait=false")
        selected = pods(kubectl, ns, "app=sel")
        assert [c["name"] for c in selected[0]["spec"]["containers"]] == ["app"], "created without sidecars"
        res = kubectl.apply(sidecarset(f"x{name}", {"app": "y"}), check=False)
        assert res.returncode != 0, "our own kinds must fail closed while the operator is down"
    finally:
        operator.start_again()
    time.sleep(1)
    kubectl.apply(deployment("after", 1, {"app": "sel", "t": ns[-5:]}), ns)
    p = wait_for(
        lambda: (
            pods(kubectl, ns, "app=sel,!pod-template-hash")
            and [q for q in pods(kubectl, ns, "app=sel") if "pod-template-hash" in q["metadata"]["labels"]]
        ),
        60,
        what="pod after restart",
    )
    assert f"{name}-before" in [c["name"] for c in p[0]["spec"]["containers"]], "injected again once back"

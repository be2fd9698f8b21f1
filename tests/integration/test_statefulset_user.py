"""Advanced StatefulSet from a user's side: the examples as written, admission rules, `kruise-py
plan`, failure conditions and the in-place lifecycle hook."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import Kubectl, OperatorProcess, wait_for
from .test_statefulset import asts, pods_of, set_image, status_of, wait_rolled_out

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("example", ["asts-inplace.yaml", "asts-canary.yaml", "asts-parallel.yaml"])
def test_examples_roll_out_as_the_readme_says(
    operator: OperatorProcess, kubectl: Kubectl, ns: str, example: str
) -> None:
    doc = yaml.safe_load((EXAMPLES / example).read_text())
    name, n = doc["metadata"]["name"], doc["spec"]["replicas"]
    kubectl("apply", "-n", ns, "-f", str(EXAMPLES / example))
    wait_rolled_out(kubectl, ns, name, n)
    before = pods_of(kubectl, ns, name)
    # kubectl set image does not know custom resources: the README uses this JSON patch.
    kubectl(
        "patch",
        "asts",
        name,
        "-n",
        ns,
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"nginx:1.27"}]',
    )
    partition = doc["spec"]["updateStrategy"]["rollingUpdate"].get("partition", 0)
    want_updated = n - partition

    def done() -> bool:
        # Until the controller has observed the patched generation, the status is the previous
        # rollout's (all pods "updated" to the old revision).
        obj = kubectl.json("get", "asts", name, "-n", ns)
        st = obj.get("status") or {}
        return (
            st.get("observedGeneration") == obj["metadata"]["generation"]
            and st.get("updatedReplicas") == want_updated
            and st.get("readyReplicas") == n
        )

    wait_for(done, 120, what=f"{example}: {want_updated} pods updated")
    after = pods_of(kubectl, ns, name)
    in_place = doc["spec"]["updateStrategy"]["rollingUpdate"].get("podUpdatePolicy") == "InPlaceIfPossible"
    for pod, p in after.items():
        if p["spec"]["containers"][0]["image"] == "nginx:1.27" and in_place:
            assert p["metadata"]["uid"] == before[pod]["metadata"]["uid"], f"{pod} should be updated in place"
    assert sum(p["spec"]["containers"][0]["image"] == "nginx:1.27" for p in after.values()) == want_updated


def _base() -> dict[str, Any]:
    return asts("rules", 1, parallel=True)


def _set(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    cur = obj
    keys = path.split(".")
    for k in keys[:-1]:
        cur = cur.setdefault(k, {})
    cur[keys[-1]] = value
    return obj


# One object per rule of spec §6.1 (create), with the field path and OpenKruise's words.
RULES = [
    (
        _set(_base(), "spec.podManagementPolicy", "Sometimes"),
        "spec.podManagementPolicy",
        "must be 'OrderedReady' or 'Parallel'",
    ),
    (_set(_base(), "spec.reserveOrdinals", ["5-2"]), "spec.reserveOrdinals", ""),
    (
        _set(_base(), "spec.updateStrategy", {"type": "OnDelete", "rollingUpdate": {"partition": 1}}),
        "spec.updateStrategy.rollingUpdate",
        "only allowed for updateStrategy 'RollingUpdate'",
    ),
    (
        _set(_base(), "spec.updateStrategy.rollingUpdate.partition", -1),
        "spec.updateStrategy.rollingUpdate.partition",
        "",
    ),
    (
        _set(_base(), "spec.updateStrategy.rollingUpdate.minReadySeconds", 301),
        "spec.updateStrategy.rollingUpdate.minReadySeconds",
        "must be no more than 300 seconds",
    ),
    (
        _set(_base(), "spec.updateStrategy.rollingUpdate.maxUnavailable", "0%"),
        "spec.updateStrategy.rollingUpdate.maxUnavailable",
        "should not be less than 1",
    ),
    (
        _set(_base(), "spec.updateStrategy.rollingUpdate.podUpdatePolicy", "Sometimes"),
        "spec.updateStrategy.rollingUpdate.podUpdatePolicy",
        "",
    ),
    (
        _set(
            _set(_base(), "spec.podManagementPolicy", "OrderedReady"),
            "spec.updateStrategy.rollingUpdate.unorderedUpdate",
            {
                "priorityStrategy": {
                    "weightPriority": [{"weight": 10, "matchSelector": {"matchLabels": {"a": "b"}}}]
                }
            },
        ),
        "spec.updateStrategy.rollingUpdate.unorderedUpdate",
        "Parallel",
    ),
    (
        _set(
            _base(),
            "spec.updateStrategy.rollingUpdate.unorderedUpdate",
            {
                "priorityStrategy": {
                    "weightPriority": [{"weight": 101, "matchSelector": {"matchLabels": {"a": "b"}}}]
                }
            },
        ),
        "weight",
        "weight must be valid number in the range 1-100",
    ),
    (
        _set(_base(), "spec.persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Keep"}),
        "spec.persistentVolumeClaimRetentionPolicy.whenDeleted",
        "",
    ),
    (_set(_base(), "spec.replicas", -1), "spec.replicas", ""),
    (
        _set(_base(), "spec.selector", {"matchLabels": {"app": "other"}}),
        "spec.template.metadata.labels",
        "`selector` does not match template `labels`",
    ),
    (_set(_base(), "spec.template.spec.restartPolicy", "Never"), "spec.template.spec.restartPolicy", ""),
    (
        _set(_base(), "spec.template.spec.activeDeadlineSeconds", 10),
        "spec.template.spec.activeDeadlineSeconds",
        "",
    ),
    (
        _set(_base(), "spec.template.spec.readinessGates", []),
        "spec.template.spec.readinessGates",
        "must contains InPlaceUpdateReady when podUpdatePolicy is InPlaceIfPossible",
    ),
]


@pytest.mark.parametrize(
    ("obj", "field", "words"), RULES, ids=[r[1] + ("-" + r[2][:20] if r[2] else "") for r in RULES]
)
def test_each_rule_is_enforced_at_admission(
    operator: OperatorProcess, kubectl: Kubectl, ns: str, obj: dict[str, Any], field: str, words: str
) -> None:
    res = kubectl.apply(obj, ns, check=False)
    assert res.returncode != 0, f"admitted: {field}"
    assert field in res.stderr and words in res.stderr, res.stderr
    assert "validate-statefulset" in res.stderr or "is invalid" in res.stderr


@pytest.mark.parametrize("kind", ["StatefulSet", "BroadcastJob"])
def test_a_wrong_type_gets_one_message(
    operator: OperatorProcess, kubectl: Kubectl, ns: str, kind: str
) -> None:
    """`replicas: three`: the apiserver alone would answer twice, once with an internal accessor
    error of the scale subresource; our mutating webhook answers first, once."""
    if kind == "StatefulSet":
        obj, field = _set(_base(), "spec.replicas", "three"), "spec.replicas"
    else:
        obj = {
            "apiVersion": "apps.kruise.io/v1beta1",
            "kind": "BroadcastJob",
            "metadata": {"name": "typed"},
            "spec": {
                "completionPolicy": "Always",
                "template": {
                    "spec": {"containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "Never"}
                },
            },
        }
        field = "spec.completionPolicy"
    for create in (False, True):
        res = (
            kubectl.run("create", "-f", "-", "-n", ns, input=yaml.safe_dump(obj), check=False)
            if create
            else kubectl.apply(obj, ns, check=False)
        )
        assert res.returncode != 0, res.stdout
        err = res.stderr
        assert "accessor error" not in err and "in body must be of type" not in err, err
        assert err.count(field) == 1, err
        assert f"{field}: must be an " in err and "got " in err, err


def test_immutable_fields_are_rejected_on_update(
    operator: OperatorProcess, kubectl: Kubectl, ns: str
) -> None:
    obj = _base()
    kubectl.apply(obj, ns)
    for path, value in (
        ("spec.serviceName", "other"),
        ("spec.selector", {"matchLabels": {"app": "rules", "x": "y"}}),
    ):
        res = kubectl.apply(_set(obj, path, value), ns, check=False)
        assert res.returncode != 0 and "forbidden" in res.stderr, res.stderr


def test_plan_cli_shows_the_next_rollout(
    operator: OperatorProcess, kubectl: Kubectl, kubeconfig: Path, ns: str, tmp_path: Path
) -> None:
    obj = asts("planned", 4, parallel=True, max_unavailable=2, partition=1)
    kubectl.apply(obj, ns)
    wait_rolled_out(kubectl, ns, "planned", 4)
    new = copy.deepcopy(obj)
    new["metadata"]["namespace"] = ns
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27"
    f = tmp_path / "planned.yaml"
    f.write_text(yaml.safe_dump(new))
    before = kubectl.json("get", "asts", "planned", "-n", ns)["metadata"]["resourceVersion"]
    out = subprocess.run(
        [sys.executable, "-m", "kruise_py", "plan", "-f", str(f), "--kubeconfig", str(kubeconfig)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("planned-")}
    assert "in place" in rows["planned-3"] and " 1 " in rows["planned-3"]
    assert "in place" in rows["planned-2"] and " 1 " in rows["planned-2"]
    assert "in place" in rows["planned-1"] and " 2 " in rows["planned-1"]
    assert "untouched" in rows["planned-0"] and "partition" in rows["planned-0"]
    assert kubectl.json("get", "asts", "planned", "-n", ns)["metadata"]["resourceVersion"] == before, (
        "plan wrote"
    )


def test_failed_creates_show_as_a_condition_and_clear(
    operator: OperatorProcess, kubectl: Kubectl, ns: str
) -> None:
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "q"},
            "spec": {"hard": {"pods": "1"}},
        },
        ns,
    )
    kubectl.apply(asts("quota", 2, parallel=True), ns)

    def failed_condition() -> dict[str, Any] | None:
        conds = status_of(kubectl, ns, "quota").get("conditions") or []
        return next((c for c in conds if c["type"] == "FailedCreatePod"), None)

    cond = wait_for(failed_condition, 60, what="FailedCreatePod condition")
    assert cond["status"] == "True" and "exceeded quota" in cond["message"]
    assert cond["message"].startswith("StatefulPodControl failed to create Pod error:")
    kubectl("patch", "resourcequota", "q", "-n", ns, "--type=merge", "-p", '{"spec":{"hard":{"pods":"5"}}}')
    wait_rolled_out(kubectl, ns, "quota", 2)
    wait_for(lambda: failed_condition() is None, 60, what="condition cleared")


def test_in_place_update_hook_holds_the_pod_until_released(
    operator: OperatorProcess, kubectl: Kubectl, ns: str
) -> None:
    obj = asts("iphook", 1, parallel=True)
    obj["spec"]["lifecycle"] = {"inPlaceUpdate": {"labelsHandler": {"example.io/drain": "wait"}}}
    kubectl.apply(obj, ns)
    wait_rolled_out(kubectl, ns, "iphook", 1)
    kubectl("label", "pod", "iphook-0", "-n", ns, "example.io/drain=wait")
    set_image(kubectl, ns, "iphook", "nginx:1.27")
    wait_for(
        lambda: (
            pods_of(kubectl, ns, "iphook")["iphook-0"]["metadata"]["labels"]["lifecycle.apps.kruise.io/state"]
            == "PreparingUpdate"
        ),
        60,
        what="PreparingUpdate",
    )
    assert pods_of(kubectl, ns, "iphook")["iphook-0"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    kubectl("label", "pod", "iphook-0", "-n", ns, "example.io/drain-")
    wait_for(
        lambda: (
            pods_of(kubectl, ns, "iphook")["iphook-0"]["status"]["containerStatuses"][0]["image"]
            == "nginx:1.27"
        ),
        60,
        what="updated after the hook was released",
    )
    labels = pods_of(kubectl, ns, "iphook")["iphook-0"]["metadata"]["labels"]
    wait_for(
        lambda: (
            pods_of(kubectl, ns, "iphook")["iphook-0"]["metadata"]["labels"]["lifecycle.apps.kruise.io/state"]
            in ("Updated", "Normal")
        ),
        60,
        what=f"state after update (was {labels})",
    )


def test_grace_period_defers_the_image_patch(operator: OperatorProcess, kubectl: Kubectl, ns: str) -> None:
    """inPlaceUpdateStrategy.gracePeriodSeconds: the pod is marked not ready and relabelled at once,
    the image changes only after the grace period (spec §2.3, §2.4)."""
    obj = asts("grace", 1, parallel=True)
    obj["spec"]["updateStrategy"]["rollingUpdate"]["inPlaceUpdateStrategy"] = {"gracePeriodSeconds": 3}
    kubectl.apply(obj, ns)
    wait_rolled_out(kubectl, ns, "grace", 1)
    set_image(kubectl, ns, "grace", "nginx:1.27")

    def in_grace() -> dict[str, Any] | None:
        p = pods_of(kubectl, ns, "grace")["grace-0"]
        return p if "apps.kruise.io/inplace-update-grace" in p["metadata"].get("annotations", {}) else None

    p = wait_for(in_grace, 30, interval=0.1, what="grace annotation")
    assert p["spec"]["containers"][0]["image"] == "nginx:1.25", "image must wait for the grace period"
    gate = next(c for c in p["status"]["conditions"] if c["type"] == "InPlaceUpdateReady")
    assert gate["status"] == "False"
    wait_rolled_out(kubectl, ns, "grace", 1)
    p = pods_of(kubectl, ns, "grace")["grace-0"]
    assert p["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert "apps.kruise.io/inplace-update-grace" not in p["metadata"].get("annotations", {})

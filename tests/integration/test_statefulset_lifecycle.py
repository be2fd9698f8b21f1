"""Advanced StatefulSet lifecycle states during in-place updates, on the real control plane.

The state label `lifecycle.apps.kruise.io/state` moves Normal -> Updating -> Normal (or Updated
with `spec.lifecycle`) as OpenKruise moves it, and the writes per pod are counted in the
apiserver's audit log."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from kruise_py.sandbox.controlplane import ControlPlane

from .conftest import Kubectl, OperatorProcess, audit_writes, operator_pod_writes, wait_for
from .monitor import PodMonitor
from .test_statefulset import asts, pods_of, set_image, status_of, wait_rolled_out

STATE = "lifecycle.apps.kruise.io/state"
HOOK = "example.io/hook"


def test_a_pod_status_patch_changes_labels_and_annotations_but_not_the_spec(
    operator: OperatorProcess, kubectl: Kubectl, ns: str
) -> None:
    """What the write budget relies on (k8s podStatusStrategy.PrepareForUpdate keeps only spec,
    deletionTimestamp and ownerReferences of the old pod): labels ride on a pods/status write."""
    kubectl.apply(asts("statuspatch", 1, parallel=True), ns)
    wait_rolled_out(kubectl, ns, "statuspatch", 1)
    body = {
        "metadata": {"labels": {"example.io/x": "1"}, "annotations": {"example.io/y": "2"}},
        "spec": {"containers": [{"name": "app", "image": "nginx:9"}]},
        "status": {"conditions": [{"type": "InPlaceUpdateReady", "status": "True"}]},
    }
    kubectl(
        "patch",
        "pod",
        "statuspatch-0",
        "-n",
        ns,
        "--subresource=status",
        "--type=strategic",
        "-p",
        json.dumps(body),
    )
    pod = pods_of(kubectl, ns, "statuspatch")["statuspatch-0"]
    assert pod["metadata"]["labels"]["example.io/x"] == "1"
    assert pod["metadata"]["annotations"]["example.io/y"] == "2"
    assert pod["spec"]["containers"][0]["image"] == "nginx:1.25"


def _history(mon: PodMonitor, pod: str) -> list[str]:
    """The lifecycle states ``pod`` went through, each once in a row."""
    out: list[str] = []
    for state, _, _ in mon.states[pod]:
        if not out or out[-1] != state:
            out.append(state)
    return out


@pytest.mark.parametrize(
    ("lifecycle", "grace", "states", "writes"),
    [
        # no spec.lifecycle: gate False, one pod patch (revision, Updating, image), gate True + Normal
        (None, 0, ["Normal", "Updating", "Normal"], {"patch status": 2, "patch": 1}),
        # a grace period: gate False carries revision, Updating and the grace annotation; the spec
        # patch when it ends; gate True + Normal
        (None, 2, ["Normal", "Updating", "Normal"], {"patch status": 2, "patch": 1}),
        # spec.lifecycle without an inPlaceUpdate hook: Updated for one round, then Normal (its own write)
        (
            {"preDelete": {"labelsHandler": {"example.io/hold": "true"}}},
            0,
            ["Normal", "Updating", "Updated", "Normal"],
            {"patch status": 2, "patch": 2},
        ),
    ],
    ids=["plain", "grace", "lifecycle"],
)
def test_in_place_update_moves_the_state_through_updating(
    operator: OperatorProcess,
    kubectl: Kubectl,
    kubeconfig: Path,
    control_plane: ControlPlane,
    ns: str,
    lifecycle: dict[str, Any] | None,
    grace: int,
    states: list[str],
    writes: dict[str, int],
) -> None:
    name, n = "states", 3
    obj = asts(name, n, parallel=True)
    if lifecycle is not None:
        obj["spec"]["lifecycle"] = lifecycle
    if grace:
        obj["spec"]["updateStrategy"]["rollingUpdate"]["inPlaceUpdateStrategy"] = {
            "gracePeriodSeconds": grace
        }
    kubectl.apply(obj, ns)
    wait_rolled_out(kubectl, ns, name, n)
    mark = control_plane.audit_log.stat().st_size
    with PodMonitor(kubeconfig, ns, f"app={name}", desired=n) as mon:
        set_image(kubectl, ns, name, "nginx:1.27")
        new_rev = wait_rolled_out(kubectl, ns, name, n)["updateRevision"]
        wait_for(
            lambda: all(
                p["metadata"]["labels"].get(STATE) == "Normal" for p in pods_of(kubectl, ns, name).values()
            ),
            60,
            what="every pod Normal",
        )
    assert not mon.errors
    for pod in (f"{name}-{i}" for i in range(n)):
        assert _history(mon, pod) == states, (pod, mon.states[pod])
        # Updating came with the new revision label, in the same write (the spec patch, or with a
        # grace period the gate-False status write), and the gate went True only with the state moved on.
        first_new = next(s for s in mon.states[pod] if s[1] == new_rev)
        assert first_new[0] == "Updating", (pod, mon.states[pod])
        assert ("Updating", new_rev, "True") not in mon.states[pod], (pod, mon.states[pod])
    per_pod = operator_pod_writes(audit_writes(control_plane, mark), ns)
    print(f"operator writes per pod: { {k: dict(v) for k, v in sorted(per_pod.items())} }")
    assert per_pod == {f"{name}-{i}": Counter(writes) for i in range(n)}
    assert status_of(kubectl, ns, name)["availableReplicas"] == n


def _state(kubectl: Kubectl, ns: str, set_name: str, pod: str) -> str:
    return str(pods_of(kubectl, ns, set_name)[pod]["metadata"]["labels"].get(STATE, ""))


@pytest.mark.parametrize("parallel", [True, False], ids=["Parallel", "OrderedReady"])
def test_relabelling_the_hook_releases_a_preparing_update_pod(
    operator: OperatorProcess, kubectl: Kubectl, ns: str, parallel: bool
) -> None:
    """The pods carry the hook label from the template; the user releases one by setting the label
    to another value (not removing it), and the update goes on."""
    obj = asts("relabel", 2, parallel=parallel)
    obj["spec"]["template"]["metadata"]["labels"][HOOK] = "true"
    obj["spec"]["lifecycle"] = {"inPlaceUpdate": {"labelsHandler": {HOOK: "true"}}}
    kubectl.apply(obj, ns)
    wait_rolled_out(kubectl, ns, "relabel", 2)
    set_image(kubectl, ns, "relabel", "nginx:1.27")
    first = "relabel-1"  # the rollout goes from the highest ordinal down
    wait_for(
        lambda: _state(kubectl, ns, "relabel", first) == "PreparingUpdate",
        60,
        what=f"{first} PreparingUpdate",
    )
    assert pods_of(kubectl, ns, "relabel")[first]["spec"]["containers"][0]["image"] == "nginx:1.25"
    kubectl("label", "pod", first, "-n", ns, f"{HOOK}=false", "--overwrite")
    wait_for(
        lambda: pods_of(kubectl, ns, "relabel")[first]["spec"]["containers"][0]["image"] == "nginx:1.27",
        30,
        what=f"{first} updated in place once its hook label says false",
    )
    # Not all-hooked after the update: it waits in Updated until the hook label is back.
    wait_for(lambda: _state(kubectl, ns, "relabel", first) == "Updated", 60, what=f"{first} Updated")
    kubectl("label", "pod", first, "-n", ns, f"{HOOK}=true", "--overwrite")
    wait_for(
        lambda: _state(kubectl, ns, "relabel", first) == "Normal",
        60,
        what=f"{first} Normal once hooked again",
    )
    # The next pod is held in turn, and released the same way.
    wait_for(
        lambda: _state(kubectl, ns, "relabel", "relabel-0") == "PreparingUpdate",
        60,
        what="relabel-0 PreparingUpdate",
    )
    kubectl("label", "pod", "relabel-0", "-n", ns, f"{HOOK}=false", "--overwrite")
    wait_for(lambda: _state(kubectl, ns, "relabel", "relabel-0") == "Updated", 60, what="relabel-0 Updated")
    kubectl("label", "pod", "relabel-0", "-n", ns, f"{HOOK}=true", "--overwrite")
    wait_rolled_out(kubectl, ns, "relabel", 2)

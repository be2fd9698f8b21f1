"""SidecarSet against the real control plane: the SidecarSetUpgradable condition and the writes it
costs, HotUpgrade, resourcesPolicy and the injection order across SidecarSets (OpenKruise v1.9)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from kruise_py.sandbox.controlplane import ControlPlane

from .conftest import Kubectl, OperatorProcess, wait_for
from .monitor import PodMonitor
from .test_sidecarset import admitted, deployment, pods, sidecarset

HOT = "kruise.io/sidecarset-working-hotupgrade-container"
EMPTY = "busybox:hotupgrade-empty"


def condition(pod: dict[str, Any], ctype: str = "SidecarSetUpgradable") -> dict[str, Any] | None:
    return next((c for c in pod.get("status", {}).get("conditions", []) if c["type"] == ctype), None)


def status(kubectl: Kubectl, name: str) -> dict[str, Any]:
    return kubectl.json("get", "sidecarset", name).get("status", {})  # type: ignore[no-any-return]


def rolled(kubectl: Kubectl, name: str, n: int) -> bool:
    st = status(kubectl, name)
    return bool(
        st.get("matchedPods") == n
        and st.get("updatedPods") == n
        and st.get("readyPods") == n
        and st.get("updatedReadyPods") == n
        and st.get("observedGeneration") == kubectl.json("get", "sidecarset", name)["metadata"]["generation"]
    )


def audit_offset(cp: ControlPlane) -> int:
    return cp.audit_log.stat().st_size


def operator_pod_writes(cp: ControlPlane, start: int, ns: str) -> Counter[tuple[str, str]]:
    """(pod, "pods" | "pods/status") -> writes by the operator (not the node simulator) since ``start``."""
    out: Counter[tuple[str, str]] = Counter()
    with cp.audit_log.open("rb") as f:
        f.seek(start)
        for line in f.read().decode().splitlines():
            if not line.strip():
                continue
            e = json.loads(line)
            ref = e.get("objectRef") or {}
            agent = str(e.get("userAgent", ""))
            if (
                e.get("stage") != "ResponseComplete"
                or not agent.startswith("kruise-py/")
                or ref.get("resource") != "pods"
                or ref.get("namespace") != ns
                or e.get("verb") not in ("patch", "update")
                or e.get("responseStatus", {}).get("code", 200) >= 300
            ):
                continue
            out[
                (ref.get("name", ""), "pods/" + ref["subresource"] if ref.get("subresource") else "pods")
            ] += 1
    return out


def test_upgradable_condition_is_set_at_upgrade_and_costs_one_write_once(
    operator: OperatorProcess, kubectl: Kubectl, control_plane: ControlPlane, ns: str, sidecarsets: list[str]
) -> None:
    """OpenKruise writes SidecarSetUpgradable=True right after upgrading a pod, and never on pods it
    does not upgrade. The condition is pods/status: one more write the first time, none later."""
    name = f"scc-{ns[-5:]}"
    sidecarsets.append(name)
    obj = sidecarset(
        name, {"app": "cond", "t": ns[-5:]}, updateStrategy={"type": "RollingUpdate", "maxUnavailable": 2}
    )
    kubectl.apply(obj)
    admitted(kubectl, name)
    kubectl.apply(deployment("cond", 2, {"app": "cond", "t": ns[-5:]}), ns)
    wait_for(lambda: status(kubectl, name).get("readyPods") == 2, 90, what="2 ready pods")
    assert all(condition(p) is None for p in pods(kubectl, ns, "app=cond")), "not upgraded: no condition"

    mark = audit_offset(control_plane)
    obj["spec"]["containers"][0]["image"] = "busybox:1.37"
    kubectl.apply(obj)
    wait_for(lambda: rolled(kubectl, name, 2), 120, what="first rollout")
    for p in pods(kubectl, ns, "app=cond"):
        cond = condition(p)
        assert cond is not None and cond["status"] == "True", cond
        assert cond["reason"] == "AllSidecarsetUpgradable" and json.loads(cond["message"]) == {name: True}
    writes = operator_pod_writes(control_plane, mark, ns)
    first = {p["metadata"]["name"] for p in pods(kubectl, ns, "app=cond")}
    assert writes == Counter({(pn, sub): 1 for pn in first for sub in ("pods", "pods/status")}), writes

    # A pod created now is injected at the latest version: it is never upgraded, so it has no
    # condition (OpenKruise does not write one either).
    kubectl("scale", "deployment/cond", "--replicas=3", "-n", ns)
    wait_for(lambda: rolled(kubectl, name, 3), 90, what="third pod injected and ready")
    fresh = [p for p in pods(kubectl, ns, "app=cond") if p["metadata"]["name"] not in first]
    assert len(fresh) == 1 and condition(fresh[0]) is None

    mark = audit_offset(control_plane)
    obj["spec"]["containers"][0]["image"] = "busybox:1.36"
    kubectl.apply(obj)
    wait_for(lambda: rolled(kubectl, name, 3), 120, what="second rollout")
    writes = operator_pod_writes(control_plane, mark, ns)
    expected = Counter({(pn, "pods"): 1 for pn in first})
    expected[(fresh[0]["metadata"]["name"], "pods")] = 1
    expected[(fresh[0]["metadata"]["name"], "pods/status")] = 1  # its first upgrade
    assert writes == expected, writes
    assert all(condition(p)["status"] == "True" for p in pods(kubectl, ns, "app=cond"))  # type: ignore[index]


class PairMonitor(PodMonitor):
    """Also records every observed moment at which no container of the HotUpgrade pair is ready
    with a real (non-empty) image: that would be a gap in the sidecar's service."""

    gaps: list[tuple[str, list[tuple[str, str, bool]]]]
    restarts_seen: set[str]

    def _record(self, etype: str, pod: dict[str, Any]) -> None:
        super()._record(etype, pod)
        if etype == "DELETED" or not hasattr(self, "gaps"):
            return
        pair = [
            (c["name"], c.get("image", ""), bool(c.get("ready")))
            for c in pod.get("status", {}).get("containerStatuses", [])
            if c["name"].startswith("mesh-")
        ]
        if len(pair) == 2 and not any(ready and image != EMPTY for _, image, ready in pair):
            self.gaps.append((pod["metadata"]["name"], pair))
        # The watch saw each container's restart (so the check above looked at the moments that
        # matter). A container without a readiness probe is ready as soon as it runs again, as on a
        # real kubelet, so the restart shows as restartCount, not as a not-ready moment.
        self.restarts_seen.update(
            c["name"]
            for c in pod.get("status", {}).get("containerStatuses", [])
            if c["name"].startswith("mesh-") and c.get("restartCount", 0) > 0
        )


def test_hot_upgrade_switches_containers_without_a_gap(
    operator: OperatorProcess,
    kubectl: Kubectl,
    kubeconfig: Any,
    control_plane: ControlPlane,
    ns: str,
    sidecarsets: list[str],
) -> None:
    name = f"schot-{ns[-5:]}"
    sidecarsets.append(name)
    mesh = {
        "name": "mesh",
        "image": "busybox:1.36",
        "podInjectPolicy": "BeforeAppContainer",
        "upgradeStrategy": {"upgradeType": "HotUpgrade", "hotUpgradeEmptyImage": EMPTY},
    }
    obj = sidecarset(
        name,
        {"app": "hot", "t": ns[-5:]},
        containers=[mesh],
        volumes=[],
        imagePullSecrets=[],
        updateStrategy={"type": "RollingUpdate", "maxUnavailable": 1},
    )
    kubectl.apply(obj)
    admitted(kubectl, name)
    kubectl.apply(deployment("hot", 2, {"app": "hot", "t": ns[-5:]}), ns)
    wait_for(lambda: status(kubectl, name).get("readyPods") == 2, 90, what="2 ready pods")

    for p in pods(kubectl, ns, "app=hot"):
        assert [(c["name"], c["image"]) for c in p["spec"]["containers"]] == [
            ("mesh-1", "busybox:1.36"),
            ("mesh-2", EMPTY),
            ("app", "nginx:1.25"),
        ]
        env = {
            e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
            for e in p["spec"]["containers"][1]["env"]
        }
        assert env["SIDECARSET_VERSION"] == "metadata.annotations['version.sidecarset.kruise.io/mesh-2']"
        assert (
            env["SIDECARSET_VERSION_ALT"] == "metadata.annotations['versionalt.sidecarset.kruise.io/mesh-2']"
        )
        ann = p["metadata"]["annotations"]
        assert json.loads(ann[HOT]) == {"mesh": "mesh-1"}
        assert (
            ann["version.sidecarset.kruise.io/mesh-1"],
            ann["versionalt.sidecarset.kruise.io/mesh-1"],
        ) == ("1", "0")
        assert (
            ann["version.sidecarset.kruise.io/mesh-2"],
            ann["versionalt.sidecarset.kruise.io/mesh-2"],
        ) == ("0", "1")
    before = {p["metadata"]["name"]: p["metadata"]["uid"] for p in pods(kubectl, ns, "app=hot")}

    mark = audit_offset(control_plane)
    mon = PairMonitor(kubeconfig, ns, "app=hot", desired=2)
    mon.gaps, mon.restarts_seen = [], set()
    with mon:
        obj["spec"]["containers"][0]["image"] = "busybox:1.37"
        kubectl.apply(obj)
        wait_for(lambda: rolled(kubectl, name, 2), 120, what="hot upgrade of 2 pods")
        wait_for(
            lambda: all(
                next(c for c in p["status"]["containerStatuses"] if c["name"] == "mesh-1")["image"] == EMPTY
                and condition(p, "Ready") == {**(condition(p, "Ready") or {}), "status": "True"}
                for p in pods(kubectl, ns, "app=hot")
            ),
            60,
            what="old containers reset and pods ready",
        )
    assert not mon.errors, mon.errors
    assert mon.restarts_seen == {"mesh-1", "mesh-2"}, mon.restarts_seen
    assert mon.gaps == [], f"a moment with no working sidecar: {mon.gaps[:3]}"

    after = pods(kubectl, ns, "app=hot")
    assert {p["metadata"]["name"]: p["metadata"]["uid"] for p in after} == before, "upgraded in place"
    for p in after:
        ann = p["metadata"]["annotations"]
        assert json.loads(ann[HOT]) == {"mesh": "mesh-2"}
        images = {c["name"]: c["image"] for c in p["spec"]["containers"]}
        assert images == {"mesh-1": EMPTY, "mesh-2": "busybox:1.37", "app": "nginx:1.25"}
        restarts = {c["name"]: c["restartCount"] for c in p["status"]["containerStatuses"]}
        assert restarts == {"mesh-1": 1, "mesh-2": 1, "app": 0}
        version = ann["version.sidecarset.kruise.io/mesh-2"]  # the SidecarSet's resourceVersion then
        assert version.isdigit() and version not in ("0", "1")
        assert ann["versionalt.sidecarset.kruise.io/mesh-1"] == version
        assert (
            ann["version.sidecarset.kruise.io/mesh-1"],
            ann["versionalt.sidecarset.kruise.io/mesh-2"],
        ) == ("0", "0")
    events = kubectl.json("get", "events", "-n", ns, "--field-selector", "reason=ResetContainerSucceed")[
        "items"
    ]
    assert {e["involvedObject"]["name"] for e in events} == set(before)
    assert {e["involvedObject"]["kind"] for e in events} == {"Pod"}
    # Two pod writes per pod (the upgrade, then the reset) and the condition once.
    writes = operator_pod_writes(control_plane, mark, ns)
    assert writes == Counter(
        {(pn, sub): n for pn in before for sub, n in (("pods", 2), ("pods/status", 1))}
    ), writes


def test_resources_policy_sets_sidecar_resources_from_the_pod(
    operator: OperatorProcess, kubectl: Kubectl, ns: str, sidecarsets: list[str]
) -> None:
    """OpenKruise v1.9 YAML applies unchanged; the sidecar's resources come from the app containers
    (the apiserver has already defaulted their requests from their limits)."""
    name = f"scres-{ns[-5:]}"
    sidecarsets.append(name)
    agent = {
        "name": "agent",
        "image": "busybox:1.36",
        "resourcesPolicy": {
            "targetContainersMode": "sum",
            "targetContainersNameRegex": "^app",
            "resourcesExpr": {
                "limits": {"cpu": "cpu*50%", "memory": "max(memory*25%, 64Mi)"},
                "requests": {"cpu": "max(cpu*10%, 10m)"},
            },
        },
    }
    proxy = {
        "name": "proxy",
        "image": "busybox:1.36",
        "restartPolicy": "Always",
        "resourcesPolicy": {
            "targetContainersMode": "max",
            "targetContainersNameRegex": "^app",
            "resourcesExpr": {"limits": {"cpu": "max(cpu*20%, 50m)"}},
        },
    }
    kubectl.apply(
        sidecarset(
            name,
            {"app": "res", "t": ns[-5:]},
            containers=[agent],
            initContainers=[proxy],
            volumes=[],
            imagePullSecrets=[],
        )
    )
    admitted(kubectl, name)
    stored = kubectl.json("get", "sidecarset", name)["spec"]["containers"][0]["resourcesPolicy"]
    assert stored["targetContainersMode"] == "sum" and stored["resourcesExpr"]["limits"]["cpu"] == "cpu*50%"

    dep = deployment("res", 1, {"app": "res", "t": ns[-5:]})
    dep["spec"]["template"]["spec"]["containers"] = [
        {"name": "app", "image": "nginx:1.25", "resources": {"limits": {"cpu": "1", "memory": "512Mi"}}},
        {
            "name": "app-2",
            "image": "nginx:1.25",
            "resources": {
                "limits": {"cpu": "500m", "memory": "256Mi"},
                "requests": {"cpu": "100m", "memory": "128Mi"},
            },
        },
        {"name": "log", "image": "busybox:1.36", "resources": {"limits": {"cpu": "4"}}},  # not ^app
    ]
    kubectl.apply(dep, ns)
    pod = wait_for(lambda: pods(kubectl, ns, "app=res"), 60, what="pod")[0]
    res = {
        c["name"]: c.get("resources") for c in [*pod["spec"]["initContainers"], *pod["spec"]["containers"]]
    }
    # cpu (1 + 500m) * 50%; memory max(768Mi * 25%, 64Mi); requests cpu (1 + 100m) * 10%; the memory
    # request is the apiserver's default from the limit.
    assert res["agent"] == {
        "limits": {"cpu": "750m", "memory": "192Mi"},
        "requests": {"cpu": "110m", "memory": "192Mi"},
    }
    # max(1, 500m) * 20% (requests defaulted from the limit)
    assert res["proxy"] == {"limits": {"cpu": "200m"}, "requests": {"cpu": "200m"}}
    wait_for(lambda: status(kubectl, name).get("readyPods") == 1, 60, what="ready")

    # No container matches: OpenKruise rejects the pod, naming the reason.
    bad = f"scresbad-{ns[-5:]}"
    sidecarsets.append(bad)
    agent_bad = {
        **agent,
        "name": "agent-bad",
        "resourcesPolicy": {**agent["resourcesPolicy"], "targetContainersNameRegex": "^nothing$"},
    }
    kubectl.apply(
        sidecarset(
            bad, {"app": "resbad", "t": ns[-5:]}, containers=[agent_bad], volumes=[], imagePullSecrets=[]
        )
    )
    admitted(kubectl, bad)
    lone = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "lone", "labels": {"app": "resbad", "t": ns[-5:]}},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]},
    }
    r = kubectl.apply(lone, ns, check=False)
    assert r.returncode != 0 and 'no containers match the regex pattern "^nothing$"' in r.stderr, r.stderr


def test_sidecarsets_pinned_to_the_namespace_inject_first(
    operator: OperatorProcess, kubectl: Kubectl, ns: str, sidecarsets: list[str]
) -> None:
    """OpenKruise lists the SidecarSets indexed under the pod's namespace before the cluster-wide ones:
    v1alpha1 ``namespace`` and v1beta1's form of it (a namespaceSelector on the name label) alike."""
    sel = {"app": "order", "t": ns[-5:]}

    def pair(prefix: str) -> list[dict[str, Any]]:
        return [
            {"name": f"{prefix}-b", "image": "busybox:1.36", "podInjectPolicy": "BeforeAppContainer"},
            {"name": f"{prefix}-a", "image": "busybox:1.36", "podInjectPolicy": "AfterAppContainer"},
        ]

    sets = {
        f"aaa-{ns[-5:]}": {},  # cluster-wide, first by name
        f"mmm-{ns[-5:]}": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}},
        f"zzz-{ns[-5:]}": {"namespace": ns},
    }
    for i, (sname, scope) in enumerate(sets.items()):
        sidecarsets.append(sname)
        kubectl.apply(
            sidecarset(sname, sel, containers=pair(f"s{i}"), volumes=[], imagePullSecrets=[], **scope)
        )
        admitted(kubectl, sname)
    kubectl.apply(deployment("order", 1, sel), ns)
    pod = wait_for(lambda: pods(kubectl, ns, "app=order"), 60, what="pod")[0]
    assert [c["name"] for c in pod["spec"]["containers"]] == [
        "s1-b",
        "s2-b",
        "s0-b",
        "app",
        "s1-a",
        "s2-a",
        "s0-a",
    ]
    assert pod["metadata"]["annotations"]["kruise.io/sidecarset-injected-list"] == ",".join(sorted(sets))

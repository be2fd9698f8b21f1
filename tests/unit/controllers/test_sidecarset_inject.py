"""SidecarSet injection at pod creation (spec §5.2), kruise_py.controllers.sidecarset.inject."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kruise_py.api import default_sidecarset, sidecarset_hash, sidecarset_hash_without_image
from kruise_py.controllers.sidecarset import inject as inj
from kruise_py.controllers.sidecarset.inject import InjectionError

Obj = dict[str, Any]

NOW = datetime(2025, 1, 1, tzinfo=UTC)
STAMP = "2025-01-01T00:00:00Z"
APP = {"app": "web"}
HASH = "kruise.io/sidecarset-hash"
HASH_NO_IMAGE = "kruise.io/sidecarset-hash-without-image"
LIST = "kruise.io/sidecarset-injected-list"
NAME_LABEL = "kruise.io/sidecarset-name"
CUSTOM_LABEL = "apps.kruise.io/sidecarset-custom-version"
INJECTED = {"name": "IS_INJECTED", "value": "true"}


def scs(
    name: str = "log-sc",
    containers: list[Obj] | None = None,
    *,
    defaults: bool = True,
    annotations: dict[str, str] | None = None,
    latest: str | None = None,
    **spec: Any,
) -> Obj:
    """A SidecarSet selecting app=web; defaulted and hashed like the mutating webhook does."""
    body: Obj = {"selector": {"matchLabels": dict(APP)}, **spec}
    if containers is not None:
        body["containers"] = containers
    obj: Obj = {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "SidecarSet", "metadata": {"name": name}}
    if annotations:
        obj["metadata"]["annotations"] = dict(annotations)
    obj["spec"] = body
    if latest:
        obj["status"] = {"latestRevision": latest}
    return default_sidecarset(obj) if defaults else obj


def pod(
    containers: list[Obj] | None = None,
    *,
    name: str = "web-0",
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> Obj:
    meta: Obj = {"name": name, "namespace": namespace, "labels": dict(APP if labels is None else labels)}
    if annotations is not None:
        meta["annotations"] = dict(annotations)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            "containers": containers if containers is not None else [{"name": "main", "image": "app:1"}],
            **spec,
        },
    }


def c(name: str, image: str = "img:1", **fields: Any) -> Obj:
    return {"name": name, "image": image, **fields}


def names(containers: list[Obj]) -> list[str]:
    return [x["name"] for x in containers]


def run(p: Obj, sets: list[Obj], **kw: Any) -> Obj:
    return inj.inject(p, sets, NOW, **kw).pod


def container(p: Obj, name: str, key: str = "containers") -> Obj:
    return next(x for x in p["spec"][key] if x["name"] == name)


def ann(p: Obj) -> dict[str, str]:
    return dict(p["metadata"].get("annotations") or {})


def hashes(p: Obj, key: str = HASH) -> Obj:
    return dict(json.loads(ann(p)[key]))


# --------------------------------------------------------------------------------------------------
# Steps 1-3, 5: matching


def _match(p: Obj, sets: list[Obj], ns_labels: dict[str, str] | None = None) -> list[str]:
    return [s["metadata"]["name"] for s in inj.matching_sidecarsets(p, ns_labels or {}, sets)]


@pytest.mark.parametrize(
    ("desc", "pod_patch", "expected"),
    [
        ("running pod", {}, ["a"]),
        ("pending pod", {"status": {"phase": "Pending"}}, ["a"]),
        ("succeeded pod is inactive", {"status": {"phase": "Succeeded"}}, []),
        ("failed pod is inactive", {"status": {"phase": "Failed"}}, []),
        ("terminating pod is inactive", {"metadata": {"deletionTimestamp": "2025-01-01T00:00:00Z"}}, []),
    ],
)
def test_only_active_pods_match(desc: str, pod_patch: Obj, expected: list[str]) -> None:
    p = pod()
    for k, v in pod_patch.items():
        p.setdefault(k, {}).update(v)
    assert _match(p, [scs("a", [c("s")])]) == expected, desc


@pytest.mark.parametrize(
    ("desc", "spec", "pod_labels", "pod_ns", "ns_labels", "matched"),
    [
        ("selector matches", {}, APP, "default", {}, True),
        ("selector does not match", {}, {"app": "db"}, "default", {}, False),
        ("pod without labels", {}, {}, "default", {}, False),
        ("empty selector matches nothing", {"selector": {}}, APP, "default", {}, False),
        ("empty matchLabels matches nothing", {"selector": {"matchLabels": {}}}, APP, "default", {}, False),
        ("missing selector matches nothing", {"selector": None}, APP, "default", {}, False),
        (
            "matchExpressions",
            {"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "x"]}]}},
            APP,
            "default",
            {},
            True,
        ),
        ("v1alpha1 namespace equal", {"namespace": "prod"}, APP, "prod", {}, True),
        ("v1alpha1 namespace differs", {"namespace": "prod"}, APP, "dev", {}, False),
        ("empty pod namespace is default", {"namespace": "default"}, APP, "", {}, True),
        ("empty pod namespace is not prod", {"namespace": "prod"}, APP, "", {}, False),
        (
            "namespaceSelector matches",
            {"namespaceSelector": {"matchLabels": {"env": "prod"}}},
            APP,
            "x",
            {"env": "prod"},
            True,
        ),
        (
            "namespaceSelector differs",
            {"namespaceSelector": {"matchLabels": {"env": "prod"}}},
            APP,
            "x",
            {"env": "dev"},
            False,
        ),
        (
            "namespaceSelector, unlabeled ns",
            {"namespaceSelector": {"matchLabels": {"env": "prod"}}},
            APP,
            "x",
            {},
            False,
        ),
        ("empty namespaceSelector matches all", {"namespaceSelector": {}}, APP, "x", {}, True),
        ("paused injection is skipped", {"injectionStrategy": {"paused": True}}, APP, "default", {}, False),
        ("unpaused injection", {"injectionStrategy": {"paused": False}}, APP, "default", {}, True),
    ],
)
def test_matching(
    desc: str, spec: Obj, pod_labels: dict[str, str], pod_ns: str, ns_labels: dict[str, str], matched: bool
) -> None:
    s = scs("a", [c("s")])
    for k, v in spec.items():
        if v is None:
            s["spec"].pop(k, None)
        else:
            s["spec"][k] = v
    p = pod(labels=pod_labels, namespace=pod_ns)
    assert _match(p, [s], ns_labels) == (["a"] if matched else []), desc


def _canary(name: str, base: str) -> Obj:
    return scs(
        name,
        [c(f"{name}-c")],
        annotations={"apps.kruise.io/sidecarset-canary": "true", "apps.kruise.io/sidecarset-base": base},
    )


@pytest.mark.parametrize(
    ("desc", "sets", "expected"),
    [
        ("sorted by name", [scs("b", [c("b")]), scs("a", [c("a")])], ["a", "b"]),
        ("canary shadows its base", [scs("base", [c("x")]), _canary("canary", "base")], ["canary"]),
        ("canary of another base", [scs("base", [c("x")]), _canary("canary", "other")], ["base", "canary"]),
        (
            "canary annotation not 'true'",
            [
                scs("base", [c("x")]),
                scs(
                    "canary",
                    [c("y")],
                    annotations={
                        "apps.kruise.io/sidecarset-canary": "false",
                        "apps.kruise.io/sidecarset-base": "base",
                    },
                ),
            ],
            ["base", "canary"],
        ),
    ],
)
def test_matching_order_and_canaries(desc: str, sets: list[Obj], expected: list[str]) -> None:
    assert _match(pod(), sets) == expected, desc


def test_canary_that_does_not_match_keeps_base() -> None:
    canary = _canary("canary", "base")
    canary["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    assert _match(pod(), [scs("base", [c("x")]), canary]) == ["base"]


def test_matching_returns_copies() -> None:
    s = scs("a", [c("s")])
    before = copy.deepcopy(s)
    [m] = inj.matching_sidecarsets(pod(), {}, [s])
    m["spec"]["containers"].append({"name": "z"})
    assert s == before


# --------------------------------------------------------------------------------------------------
# Step 8: container merge and order


@pytest.mark.parametrize(
    ("desc", "pod_containers", "sets", "expected"),
    [
        ("Before goes in front", ["main"], [[("s1", "BeforeAppContainer")]], ["s1", "main"]),
        ("After goes behind", ["main"], [[("s1", "AfterAppContainer")]], ["main", "s1"]),
        ("default policy is Before", ["main"], [[("s1", None)]], ["s1", "main"]),
        (
            "before and after, container order kept",
            ["a", "b"],
            [[("s1", "AfterAppContainer"), ("s2", "BeforeAppContainer"), ("s3", "BeforeAppContainer")]],
            ["s2", "s3", "a", "b", "s1"],
        ),
        (
            "SidecarSet list order then container order",
            ["main"],
            [
                [("y1", "BeforeAppContainer"), ("y2", "AfterAppContainer")],
                [("x1", "BeforeAppContainer"), ("x2", "AfterAppContainer")],
            ],
            ["y1", "x1", "main", "y2", "x2"],
        ),
        ("same name replaced in place", ["a", "s1", "b"], [[("s1", "BeforeAppContainer")]], ["a", "s1", "b"]),
        (
            "replacement and insertion together",
            ["a", "s2"],
            [[("s1", "AfterAppContainer"), ("s2", "BeforeAppContainer"), ("s3", "BeforeAppContainer")]],
            ["s3", "a", "s2", "s1"],
        ),
    ],
)
def test_container_order(
    desc: str, pod_containers: list[str], sets: list[list[tuple[str, str | None]]], expected: list[str]
) -> None:
    sidecarsets = []
    for i, containers in enumerate(sets):
        cs = [c(n, "sc:1", **({"podInjectPolicy": pol} if pol else {})) for n, pol in containers]
        sidecarsets.append(scs(f"set-{i}", cs, defaults=False))
    out = run(pod([c(n, "app:1") for n in pod_containers]), sidecarsets)
    assert names(out["spec"]["containers"]) == expected, desc


def test_same_name_replacement_takes_the_sidecar() -> None:
    out = run(
        pod([c("main"), c("proxy", "old:1", env=[{"name": "A", "value": "1"}])]),
        [scs("p", [c("proxy", "new:2")])],
    )
    assert out["spec"]["containers"][1] == {"name": "proxy", "image": "new:2", "env": [INJECTED]}


def test_injected_container_is_a_core_container() -> None:
    sidecar = c(
        "s",
        ports=[{"containerPort": 80}],
        podInjectPolicy="AfterAppContainer",
        upgradeStrategy={"upgradeType": "ColdUpgrade"},
        shareVolumePolicy={"type": "disabled"},
        shareVolumeDevicePolicy={"type": "disabled"},
        transferEnv=[],
        resourcesPolicy={"targetContainersMode": "sum"},
    )
    out = run(pod(), [scs("a", [sidecar])])
    assert container(out, "s") == {
        "name": "s",
        "image": "img:1",
        "ports": [{"containerPort": 80}],
        "env": [INJECTED],
    }


HOT = {"upgradeType": "HotUpgrade", "hotUpgradeEmptyImage": "empty:1"}
WORKING = "kruise.io/sidecarset-working-hotupgrade-container"


def _version_env(name: str, annotation: str) -> Obj:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{annotation}']"}}}


def test_hot_upgrade_injects_a_working_and_an_empty_container() -> None:
    """webhook sidecarset_hotupgrade.go: X-1 runs the image, X-2 the empty image; env from fieldRefs."""
    s = scs("a", [c("mesh", "mesh:1", env=[{"name": "A", "value": "1"}], upgradeStrategy=HOT)])
    out = run(pod(), [s])
    assert names(out["spec"]["containers"]) == ["mesh-1", "mesh-2", "main"]
    for n, image in (("mesh-1", "mesh:1"), ("mesh-2", "empty:1")):
        assert container(out, n) == {
            "name": n,
            "image": image,
            "env": [
                {"name": "A", "value": "1"},
                INJECTED,
                _version_env("SIDECARSET_VERSION", f"version.sidecarset.kruise.io/{n}"),
                _version_env("SIDECARSET_VERSION_ALT", f"versionalt.sidecarset.kruise.io/{n}"),
            ],
        }
    a = ann(out)
    assert json.loads(a[WORKING]) == {"mesh": "mesh-1"}
    assert (a["version.sidecarset.kruise.io/mesh-1"], a["versionalt.sidecarset.kruise.io/mesh-1"]) == (
        "1",
        "0",
    )
    assert (a["version.sidecarset.kruise.io/mesh-2"], a["versionalt.sidecarset.kruise.io/mesh-2"]) == (
        "0",
        "1",
    )
    assert hashes(out)["a"]["sidecarList"] == ["mesh"]


def test_hot_upgrade_keeps_other_working_entries_and_policy() -> None:
    s = scs("a", [c("envoy", upgradeStrategy=HOT, podInjectPolicy="AfterAppContainer")])
    out = run(pod(annotations={WORKING: '{"mesh":"mesh-2"}'}), [s])
    assert names(out["spec"]["containers"]) == ["main", "envoy-1", "envoy-2"]
    assert ann(out)[WORKING] == '{"envoy":"envoy-1","mesh":"mesh-2"}'


def test_hot_upgrade_native_sidecar_init_container_is_expanded_too() -> None:
    """OpenKruise TestInjectInitContainer: a native-sidecar init container with HotUpgrade."""
    init = c("hot-init", restartPolicy="Always", upgradeStrategy=HOT)
    out = run(pod(), [scs("a", [], initContainers=[init])])
    assert names(out["spec"]["initContainers"]) == ["hot-init-1", "hot-init-2"]
    assert [x["image"] for x in out["spec"]["initContainers"]] == ["img:1", "empty:1"]
    assert json.loads(ann(out)[WORKING]) == {"hot-init": "hot-init-1"}
    assert hashes(out)["a"]["sidecarList"] == ["hot-init"]


def test_hot_upgrade_plain_init_container_is_not_expanded() -> None:
    out = run(pod(), [scs("a", [], initContainers=[c("init", upgradeStrategy=HOT)])])
    assert names(out["spec"]["initContainers"]) == ["init"]
    assert WORKING not in ann(out)


# --------------------------------------------------------------------------------------------------
# Injection order across SidecarSets (OpenKruise's namespace index, then cluster-wide) and the gate


def _named(name: str, container_names: list[tuple[str, str]], **spec: Any) -> Obj:
    return scs(name, [c(n, podInjectPolicy=pol) for n, pol in container_names], **spec)


@pytest.mark.parametrize(
    ("desc", "spec", "pinned"),
    [
        ("v1alpha1 namespace", {"namespace": "default"}, True),
        (
            "namespaceSelector by name label",
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "default"}}},
            True,
        ),
        (
            "namespaceSelector In on the name label",
            {
                "namespaceSelector": {
                    "matchExpressions": [
                        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["x", "default"]}
                    ]
                }
            },
            True,
        ),
        ("namespaceSelector on another label", {"namespaceSelector": {"matchLabels": {"team": "a"}}}, False),
        ("no namespace scope", {}, False),
    ],
)
def test_namespace_pinned_sidecarsets_inject_first(desc: str, spec: Obj, pinned: bool) -> None:
    """The webhook lists SidecarSets indexed under the pod's namespace before the cluster-wide ones;
    v1beta1's namespaceSelector on kubernetes.io/metadata.name is the converted v1alpha1 namespace."""
    wide = _named("aaa", [("wide-b", "BeforeAppContainer"), ("wide-a", "AfterAppContainer")])
    scoped = _named("zzz", [("ns-b", "BeforeAppContainer"), ("ns-a", "AfterAppContainer")], **spec)
    labels = {"kubernetes.io/metadata.name": "default", "team": "a"}
    matched = inj.matching_sidecarsets(pod(), labels, [wide, scoped])
    assert [m["metadata"]["name"] for m in matched] == (["zzz", "aaa"] if pinned else ["aaa", "zzz"]), desc
    out = run(pod(), matched)
    if pinned:
        assert names(out["spec"]["containers"]) == ["ns-b", "wide-b", "main", "ns-a", "wide-a"]
    else:
        assert names(out["spec"]["containers"]) == ["wide-b", "ns-b", "main", "wide-a", "ns-a"]


def test_sort_by_name_gate_sorts_every_injected_container() -> None:
    """EnableSortSidecarContainerByName: a stable sort of all sidecars (hot pairs included) by name,
    then the Before/After merge; default off keeps SidecarSet then spec order."""
    sets = [
        _named("a", [("zeta", "BeforeAppContainer"), ("beta", "AfterAppContainer")]),
        scs(
            "b",
            [
                c("alpha", podInjectPolicy="BeforeAppContainer", upgradeStrategy=HOT),
                c("gamma", podInjectPolicy="AfterAppContainer"),
            ],
        ),
    ]
    assert names(run(pod(), sets)["spec"]["containers"]) == [
        "zeta",
        "alpha-1",
        "alpha-2",
        "main",
        "beta",
        "gamma",
    ]
    assert names(run(pod(), sets, sort_by_name=True)["spec"]["containers"]) == [
        "alpha-1",
        "alpha-2",
        "zeta",
        "main",
        "beta",
        "gamma",
    ]


def test_sort_by_name_gate_keeps_same_name_replacement_in_place() -> None:
    out = run(
        pod([c("main"), c("proxy", "old:1")]),
        [_named("a", [("zz", "BeforeAppContainer"), ("proxy", "BeforeAppContainer")])],
        sort_by_name=True,
    )
    assert names(out["spec"]["containers"]) == ["zz", "main", "proxy"]


# --------------------------------------------------------------------------------------------------
# Step 7: env, transferEnv, shared volumes


def test_is_injected_env_is_appended() -> None:
    out = run(pod(), [scs("a", [c("s", env=[{"name": "X", "value": "1"}])])])
    assert container(out, "s")["env"] == [{"name": "X", "value": "1"}, INJECTED]


APP_ENV: list[Obj] = [
    {"name": "A", "value": "a"},
    {"name": "B", "value": "b"},
    {"name": "C", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
]


@pytest.mark.parametrize(
    ("desc", "transfer", "own_env", "pod_meta", "expected"),
    [
        (
            "by sourceContainerName + envName",
            [{"sourceContainerName": "main", "envName": "B"}],
            [],
            {},
            ["B"],
        ),
        (
            "envNames in name order",
            [{"sourceContainerName": "main", "envNames": ["C", "A"]}],
            [],
            {},
            ["A", "C"],
        ),
        (
            "envName and envNames",
            [{"sourceContainerName": "main", "envName": "C", "envNames": ["A"]}],
            [],
            {},
            ["A", "C"],
        ),
        ("missing env skipped", [{"sourceContainerName": "main", "envName": "Z"}], [], {}, []),
        ("missing container skipped", [{"sourceContainerName": "nope", "envName": "A"}], [], {}, []),
        (
            "fieldRef label names the source",
            [
                {
                    "sourceContainerNameFrom": {
                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels['src']"}
                    },
                    "envName": "A",
                }
            ],
            [],
            {"labels": {**APP, "src": "main"}},
            ["A"],
        ),
        (
            "fieldRef annotation names the source",
            [
                {
                    "sourceContainerNameFrom": {
                        "fieldRef": {"fieldPath": "metadata.annotations['x.io/src']"}
                    },
                    "envNames": ["B"],
                }
            ],
            [],
            {"annotations": {"x.io/src": "main"}},
            ["B"],
        ),
        (
            "fieldRef wins over sourceContainerName",
            [
                {
                    "sourceContainerName": "other",
                    "sourceContainerNameFrom": {"fieldRef": {"fieldPath": "metadata.labels['src']"}},
                    "envName": "A",
                }
            ],
            [],
            {"labels": {**APP, "src": "main"}},
            ["A"],
        ),
        (
            "fieldRef to an absent label",
            [
                {
                    "sourceContainerNameFrom": {"fieldRef": {"fieldPath": "metadata.labels['src']"}},
                    "envName": "A",
                }
            ],
            [],
            {},
            [],
        ),
        (
            "unsupported fieldPath skipped",
            [
                {
                    "sourceContainerName": "main",
                    "sourceContainerNameFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                    "envName": "A",
                }
            ],
            [],
            {},
            [],
        ),
        (
            "sidecar's own env wins",
            [{"sourceContainerName": "main", "envName": "A"}],
            [{"name": "A", "value": "mine"}],
            {},
            ["A"],
        ),
    ],
)
def test_transfer_env(
    desc: str, transfer: list[Obj], own_env: list[Obj], pod_meta: Obj, expected: list[str]
) -> None:
    p = pod([c("main", env=APP_ENV), c("other", env=[{"name": "A", "value": "other"}])])
    p["metadata"].update(pod_meta)
    out = run(p, [scs("a", [c("s", env=own_env, transferEnv=transfer)])])
    env = container(out, "s")["env"]
    assert env[: len(own_env)] == own_env, desc
    assert env[len(own_env)] == INJECTED
    transferred = env[len(own_env) + 1 :]
    assert [e["name"] for e in transferred] == [
        n for n in expected if n not in {e["name"] for e in own_env}
    ], desc
    app = {e["name"]: e for e in APP_ENV}
    assert transferred == [app[e["name"]] for e in transferred]


def test_transfer_env_sees_patched_annotations() -> None:
    transfer = [
        {
            "sourceContainerNameFrom": {"fieldRef": {"fieldPath": "metadata.annotations['src']"}},
            "envName": "A",
        }
    ]
    s = scs("a", [c("s", transferEnv=transfer)], patchPodMetadata=[{"annotations": {"src": "main"}}])
    out = run(pod([c("main", env=APP_ENV)]), [s])
    assert container(out, "s")["env"] == [INJECTED, APP_ENV[0]]


SHARED_POD = [
    c(
        "main",
        env=[{"name": "POD_NAME", "value": "x"}, {"name": "OTHER", "value": "y"}],
        volumeMounts=[
            {"name": "data", "mountPath": "/data"},
            {"name": "logs", "mountPath": "/logs", "subPathExpr": "$(POD_NAME)/$(MISSING)"},
        ],
        volumeDevices=[{"name": "blk", "devicePath": "/dev/blk"}],
    ),
    c(
        "old-sidecar",
        env=[INJECTED],
        volumeMounts=[{"name": "sc", "mountPath": "/sc"}],
        volumeDevices=[{"name": "blk2", "devicePath": "/dev/blk2"}],
    ),
    c(
        "second",
        volumeMounts=[{"name": "cache", "mountPath": "/data"}, {"name": "cache", "mountPath": "/cache"}],
    ),
]


@pytest.mark.parametrize(
    ("desc", "fields", "mounts", "devices", "env"),
    [
        ("disabled: nothing shared", {"shareVolumePolicy": {"type": "disabled"}}, [], None, [INJECTED]),
        (
            "enabled: app mounts, first mountPath wins, injected containers skipped, subPathExpr envs",
            {"shareVolumePolicy": {"type": "enabled"}},
            [("data", "/data"), ("logs", "/logs"), ("cache", "/cache")],
            None,
            [INJECTED, {"name": "POD_NAME", "value": "x"}],
        ),
        (
            "sidecar's own mountPath wins",
            {
                "shareVolumePolicy": {"type": "enabled"},
                "volumeMounts": [{"name": "own", "mountPath": "/data"}],
            },
            [("own", "/data"), ("logs", "/logs"), ("cache", "/cache")],
            None,
            [INJECTED, {"name": "POD_NAME", "value": "x"}],
        ),
        (
            "sidecar's own env wins over subPathExpr env",
            {"shareVolumePolicy": {"type": "enabled"}, "env": [{"name": "POD_NAME", "value": "mine"}]},
            [("data", "/data"), ("logs", "/logs"), ("cache", "/cache")],
            None,
            [{"name": "POD_NAME", "value": "mine"}, INJECTED],
        ),
        (
            "devices enabled",
            {"shareVolumeDevicePolicy": {"type": "enabled"}},
            [],
            [("blk", "/dev/blk")],
            [INJECTED],
        ),
        (
            "sidecar's own devicePath wins",
            {
                "shareVolumeDevicePolicy": {"type": "enabled"},
                "volumeDevices": [{"name": "mine", "devicePath": "/dev/blk"}],
            },
            [],
            [("mine", "/dev/blk")],
            [INJECTED],
        ),
    ],
)
def test_share_volume_policy(
    desc: str,
    fields: Obj,
    mounts: list[tuple[str, str]],
    devices: list[tuple[str, str]] | None,
    env: list[Obj],
) -> None:
    out = run(pod(copy.deepcopy(SHARED_POD)), [scs("a", [c("s", **fields)], defaults=False)])
    s = container(out, "s")
    assert [(m["name"], m["mountPath"]) for m in s.get("volumeMounts", [])] == mounts, desc
    if devices is None:
        assert "volumeDevices" not in s
    else:
        assert [(d["name"], d["devicePath"]) for d in s["volumeDevices"]] == devices
    assert s["env"] == env, desc
    # Shared mounts use the pod's volumes: none is added.
    assert "volumes" not in out["spec"]


def test_shared_mounts_copy_the_whole_mount() -> None:
    m = {
        "name": "data",
        "mountPath": "/data",
        "readOnly": True,
        "subPath": "x",
        "mountPropagation": "HostToContainer",
    }
    out = run(pod([c("main", volumeMounts=[m])]), [scs("a", [c("s", shareVolumePolicy={"type": "enabled"})])])
    assert container(out, "s")["volumeMounts"] == [m]


# --------------------------------------------------------------------------------------------------
# Volumes and pull secrets


@pytest.mark.parametrize(
    ("desc", "pod_volumes", "sidecar", "expected"),
    [
        (
            "referenced volume added",
            None,
            c("s", volumeMounts=[{"name": "v1", "mountPath": "/v1"}]),
            [("v1", "set")],
        ),
        ("unreferenced volumes not added", None, c("s"), None),
        (
            "pod's same-named volume wins",
            [{"name": "v1", "hostPath": {"path": "/pod"}}],
            c("s", volumeMounts=[{"name": "v1", "mountPath": "/v1"}]),
            [("v1", "pod")],
        ),
        (
            "appended after the pod's volumes",
            [{"name": "p", "hostPath": {"path": "/pod"}}],
            c("s", volumeMounts=[{"name": "v2", "mountPath": "/v2"}, {"name": "v1", "mountPath": "/v1"}]),
            [("p", "pod"), ("v2", "set"), ("v1", "set")],
        ),
        (
            "device volume added",
            None,
            c("s", volumeDevices=[{"name": "v2", "devicePath": "/dev/x"}]),
            [("v2", "set")],
        ),
    ],
)
def test_volumes(
    desc: str, pod_volumes: list[Obj] | None, sidecar: Obj, expected: list[tuple[str, str]] | None
) -> None:
    set_volumes = [
        {"name": "v1", "hostPath": {"path": "/set"}},
        {"name": "v2", "hostPath": {"path": "/set"}},
        {"name": "unused", "emptyDir": {}},
    ]
    p = pod() if pod_volumes is None else pod(volumes=pod_volumes)
    out = run(p, [scs("a", [sidecar], volumes=set_volumes)])
    if expected is None:
        assert "volumes" not in out["spec"], desc
    else:
        got = [(v["name"], v["hostPath"]["path"].strip("/")) for v in out["spec"]["volumes"]]
        assert got == expected, desc


def test_volumes_referenced_by_init_containers_and_shared_between_sets() -> None:
    vols = [{"name": "shared", "emptyDir": {}}]
    s1 = scs("a", [c("s1", volumeMounts=[{"name": "shared", "mountPath": "/x"}])], volumes=vols)
    s2 = scs(
        "b", [], initContainers=[c("i1", volumeMounts=[{"name": "shared", "mountPath": "/x"}])], volumes=vols
    )
    out = run(pod(), [s1, s2])
    assert out["spec"]["volumes"] == vols


@pytest.mark.parametrize(
    ("desc", "pod_secrets", "set_secrets", "expected"),
    [
        ("added", None, [[{"name": "s1"}]], ["s1"]),
        (
            "pod's first, de-duplicated",
            [{"name": "p"}, {"name": "s1"}],
            [[{"name": "s1"}, {"name": "s2"}]],
            ["p", "s1", "s2"],
        ),
        ("across SidecarSets", None, [[{"name": "a"}], [{"name": "b"}, {"name": "a"}]], ["a", "b"]),
        ("pod duplicates collapse", [{"name": "p"}, {"name": "p"}], [[{"name": "x"}]], ["p", "x"]),
        ("none anywhere", None, [[]], None),
    ],
)
def test_image_pull_secrets(
    desc: str, pod_secrets: list[Obj] | None, set_secrets: list[list[Obj]], expected: list[str] | None
) -> None:
    p = pod() if pod_secrets is None else pod(imagePullSecrets=pod_secrets)
    sets = [scs(f"s{i}", [c(f"c{i}")], imagePullSecrets=secrets) for i, secrets in enumerate(set_secrets)]
    out = run(p, sets)
    if expected is None:
        assert "imagePullSecrets" not in out["spec"], desc
    else:
        assert [x["name"] for x in out["spec"]["imagePullSecrets"]] == expected, desc


# --------------------------------------------------------------------------------------------------
# Init containers


def test_init_containers_sorted_and_appended() -> None:
    s = scs("a", [c("s")], initContainers=[c("z-init"), c("b-init", restartPolicy="Always"), c("a-init")])
    out = run(pod(initContainers=[c("own-2"), c("own-1")]), [s])
    assert names(out["spec"]["initContainers"]) == ["own-2", "own-1", "a-init", "b-init", "z-init"]
    native = container(out, "b-init", "initContainers")
    assert native["restartPolicy"] == "Always"
    assert native["env"] == [INJECTED]
    assert "podInjectPolicy" not in native
    # Native sidecars are listed with the containers; plain init containers are not.
    assert hashes(out)["a"]["sidecarList"] == ["b-init", "s"]


def test_init_containers_sorted_across_sidecarsets() -> None:
    s1 = scs("a", [c("s1")], initContainers=[c("m")])
    s2 = scs("b", [c("s2")], initContainers=[c("c"), c("x")])
    out = run(pod(), [s1, s2])
    assert names(out["spec"]["initContainers"]) == ["c", "m", "x"]


@pytest.mark.parametrize(
    ("desc", "policy", "expected"),
    [
        ("default After", None, ["own", "i"]),
        ("Before", "BeforeAppContainer", ["i", "own"]),
        ("After", "AfterAppContainer", ["own", "i"]),
    ],
)
def test_init_container_policy(desc: str, policy: str | None, expected: list[str]) -> None:
    init = c("i", **({"podInjectPolicy": policy} if policy else {}))
    out = run(pod(initContainers=[c("own")]), [scs("a", [c("s")], defaults=False, initContainers=[init])])
    assert names(out["spec"]["initContainers"]) == expected, desc


def test_init_container_never_duplicated() -> None:
    s = scs("a", [c("s")], initContainers=[c("i", "new:2")])
    out = run(pod(initContainers=[c("i", "old:1"), c("own")]), [s])
    assert out["spec"]["initContainers"] == [{"name": "i", "image": "new:2", "env": [INJECTED]}, c("own")]


def test_init_only_sidecarset_injects_and_writes_empty_sidecar_list() -> None:
    s = scs("a", [], initContainers=[c("i")])
    res = inj.inject(pod(), [s], NOW)
    assert res.injected == ["a"]
    assert names(res.pod["spec"]["initContainers"]) == ["i"]
    assert hashes(res.pod)["a"]["sidecarList"] == []


def test_init_container_transfer_env_and_shared_mounts() -> None:
    init = c(
        "i",
        transferEnv=[{"sourceContainerName": "main", "envName": "A"}],
        shareVolumePolicy={"type": "enabled"},
    )
    out = run(
        pod([c("main", env=APP_ENV, volumeMounts=[{"name": "d", "mountPath": "/d"}])]),
        [scs("a", [], initContainers=[init])],
    )
    i = container(out, "i", "initContainers")
    assert i["env"] == [INJECTED, APP_ENV[0]]
    assert i["volumeMounts"] == [{"name": "d", "mountPath": "/d"}]


# --------------------------------------------------------------------------------------------------
# Step 6: patchPodMetadata


@pytest.mark.parametrize(
    ("desc", "existing", "patches", "expected"),
    [
        ("Retain sets when absent", {}, [("Retain", {"k": "v"})], {"k": "v"}),
        ("Retain keeps existing", {"k": "old"}, [("Retain", {"k": "v"})], {"k": "old"}),
        ("default policy is Retain", {"k": "old"}, [(None, {"k": "v"})], {"k": "old"}),
        ("Overwrite replaces", {"k": "old"}, [("Overwrite", {"k": "v"})], {"k": "v"}),
        ("Overwrite sets when absent", {}, [("Overwrite", {"k": "v"})], {"k": "v"}),
        ("MergePatchJson sets when absent", {}, [("MergePatchJson", {"k": '{"b":1}'})], {"k": '{"b":1}'}),
        (
            "MergePatchJson sets verbatim when absent",
            {},
            [("MergePatchJson", {"k": '{"b": null}'})],
            {"k": '{"b": null}'},
        ),
        (
            "MergePatchJson sets when empty",
            {"k": ""},
            [("MergePatchJson", {"k": '{"b":1}'})],
            {"k": '{"b":1}'},
        ),
        (
            "MergePatchJson merges (RFC 7386), sorted keys",
            {"k": '{"z":1,"a":{"x":1,"y":2},"d":"drop"}'},
            [("MergePatchJson", {"k": '{"a":{"y":null,"w":3},"d":null,"b":[1,{"q":null}]}'})],
            {"k": '{"a":{"w":3,"x":1},"b":[1,{}],"z":1}'},
        ),
        (
            "MergePatchJson keeps untouched nested order",
            {"k": '{"n":{"y":1,"x":2}}'},
            [("MergePatchJson", {"k": '{"m":1}'})],
            {"k": '{"m":1,"n":{"y":1,"x":2}}'},
        ),
        (
            "MergePatchJson into a non-object replaces",
            {"k": "[1,2]"},
            [("MergePatchJson", {"k": '{"a":1,"b":null}'})],
            {"k": '{"a":1}'},
        ),
        (
            "entries applied in order",
            {},
            [("Retain", {"k": "first"}), ("Overwrite", {"k": "second"}), ("Retain", {"k": "third"})],
            {"k": "second"},
        ),
    ],
)
def test_patch_pod_metadata(
    desc: str,
    existing: dict[str, str],
    patches: list[tuple[str | None, dict[str, str]]],
    expected: dict[str, str],
) -> None:
    ppm = [{"annotations": a, **({"patchPolicy": pol} if pol else {})} for pol, a in patches]
    out = run(pod(annotations=existing), [scs("a", [c("s")], defaults=False, patchPodMetadata=ppm)])
    got = {k: v for k, v in ann(out).items() if not k.startswith("kruise.io/")}
    assert got == expected, desc


def test_patch_pod_metadata_across_sidecarsets_in_order() -> None:
    s1 = scs(
        "a", [c("s1")], patchPodMetadata=[{"annotations": {"k": '{"a":1}'}, "patchPolicy": "MergePatchJson"}]
    )
    s2 = scs(
        "b", [c("s2")], patchPodMetadata=[{"annotations": {"k": '{"b":2}'}, "patchPolicy": "MergePatchJson"}]
    )
    assert ann(run(pod(), [s1, s2]))["k"] == '{"a":1,"b":2}'


@pytest.mark.parametrize(
    ("existing", "patch"),
    [
        ("not json", '{"a":1}'),
        ('{"a":1}', "not json"),
        ("null", '{"a":1}'),
        ('{"a":1}', "5"),
        ('{"a":1}', "null"),
    ],
)
def test_merge_patch_json_errors(existing: str, patch: str) -> None:
    s = scs("a", [c("s")], patchPodMetadata=[{"annotations": {"k": patch}, "patchPolicy": "MergePatchJson"}])
    with pytest.raises(InjectionError):
        inj.inject(pod(annotations={"k": existing}), [s], NOW)


def test_patch_without_containers_changes_only_annotations() -> None:
    s = scs("a", defaults=False, patchPodMetadata=[{"annotations": {"k": "v"}}])
    p = pod()
    res = inj.inject(p, [s], NOW)
    assert res.changed and res.injected == []
    assert ann(res.pod) == {"k": "v"}
    assert res.pod["spec"] == p["spec"]


# --------------------------------------------------------------------------------------------------
# Step 9: annotations


def test_annotations_exact_shape() -> None:
    s = scs("log-sc", [c("log-agent", "log:1")], latest="log-sc-6c9d7b8f5")
    h, h2 = s["metadata"]["annotations"][HASH], s["metadata"]["annotations"][HASH_NO_IMAGE]
    out = run(pod(), [s])
    a = ann(out)
    assert a[HASH] == (
        '{"log-sc":{"updateTimestamp":"2025-01-01T00:00:00Z","hash":"H","sidecarSetName":"log-sc",'
        '"sidecarList":["log-agent"],"controllerRevision":"log-sc-6c9d7b8f5"}}'
    ).replace('"H"', f'"{h}"')
    assert a[HASH_NO_IMAGE] == (
        '{"log-sc":{"updateTimestamp":"2025-01-01T00:00:00Z","hash":"H","sidecarSetName":"log-sc",'
        '"sidecarList":["log-agent"]}}'
    ).replace('"H"', f'"{h2}"')
    assert a[LIST] == "log-sc"


def test_controller_revision_omitted_when_no_latest_revision() -> None:
    out = run(pod(), [scs("a", [c("s")])])
    assert "controllerRevision" not in hashes(out)["a"]


def test_hash_annotations_computed_when_missing_on_sidecarset() -> None:
    s = scs("a", [c("s2"), c("s1")], defaults=False)
    out = run(pod(), [s])
    assert hashes(out)["a"]["hash"] == sidecarset_hash(s)
    assert hashes(out, HASH_NO_IMAGE)["a"]["hash"] == sidecarset_hash_without_image(s)
    assert hashes(out)["a"]["sidecarList"] == ["s1", "s2"]


def test_hash_values_come_from_sidecarset_annotations() -> None:
    s = scs("a", [c("s")], annotations={HASH: "h1", HASH_NO_IMAGE: "h2"}, defaults=False)
    out = run(pod(), [s])
    assert hashes(out)["a"]["hash"] == "h1"
    assert hashes(out, HASH_NO_IMAGE)["a"]["hash"] == "h2"


def test_timestamp_is_utc_seconds() -> None:
    now = datetime(2025, 6, 1, 14, 30, 15, 999, tzinfo=UTC)
    out = inj.inject(pod(), [scs("a", [c("s")])], now.astimezone()).pod
    assert hashes(out)["a"]["updateTimestamp"] == "2025-06-01T14:30:15Z"


@pytest.mark.parametrize(
    ("desc", "existing_hash", "existing_list", "expected_other"),
    [
        (
            "new shape preserved",
            '{"other":{"updateTimestamp":"2024-01-01T00:00:00Z","hash":"oh","sidecarSetName":"other","sidecarList":["o"],"controllerRevision":"other-1"}}',
            "other",
            {
                "updateTimestamp": "2024-01-01T00:00:00Z",
                "hash": "oh",
                "sidecarSetName": "other",
                "sidecarList": ["o"],
                "controllerRevision": "other-1",
            },
        ),
        (
            "legacy plain-string shape accepted",
            '{"other":"oh"}',
            "other",
            {"updateTimestamp": None, "hash": "oh", "sidecarSetName": "other", "sidecarList": None},
        ),
    ],
)
def test_existing_entries_preserved(
    desc: str, existing_hash: str, existing_list: str, expected_other: Obj
) -> None:
    p = pod(annotations={HASH: existing_hash, HASH_NO_IMAGE: existing_hash, LIST: existing_list})
    out = run(p, [scs("a", [c("s")])])
    got = hashes(out)
    assert list(got) == ["a", "other"], desc
    assert got["other"] == expected_other, desc
    assert ann(out)[LIST] == "a,other"


def test_injected_list_sorted_and_deduplicated() -> None:
    p = pod(annotations={LIST: "z,b"})
    out = run(p, [scs("b", [c("s1")]), scs("a", [c("s2")])])
    assert ann(out)[LIST] == "a,b,z"
    assert inj.injected_sidecarsets(out) == {"a", "b", "z"}


def test_invalid_existing_hash_annotation_rejects() -> None:
    with pytest.raises(InjectionError):
        inj.inject(pod(annotations={HASH: "not json"}), [scs("a", [c("s")])], NOW)


def test_nothing_to_inject_leaves_pod_untouched() -> None:
    p = pod(annotations={"x": "y"})
    res = inj.inject(p, [], NOW)
    assert res.pod == p and not res.changed and res.injected == []
    res = inj.inject(p, [scs("a", defaults=False)], NOW)
    assert res.pod == p and not res.changed


@pytest.mark.parametrize(
    ("desc", "value", "expected"),
    [
        ("absent", None, {}),
        ("invalid", "{", {}),
        ("null", "null", {}),
        (
            "new shape",
            '{"a":{"updateTimestamp":"t","hash":"h","sidecarSetName":"a","sidecarList":["x"],"extra":1}}',
            {"a": {"updateTimestamp": "t", "hash": "h", "sidecarSetName": "a", "sidecarList": ["x"]}},
        ),
        (
            "legacy shape",
            '{"a":"h"}',
            {"a": {"updateTimestamp": None, "hash": "h", "sidecarSetName": "a", "sidecarList": None}},
        ),
        ("mixed shapes are invalid", '{"a":"h","b":{"hash":"x"}}', {}),
        ("wrong field type is invalid", '{"a":{"hash":5}}', {}),
    ],
)
def test_read_hash_annotation(desc: str, value: str | None, expected: Obj) -> None:
    p = pod(annotations={} if value is None else {HASH: value})
    assert inj.read_hash_annotation(p, HASH) == expected, desc


def test_injected_sidecarsets_reader() -> None:
    assert inj.injected_sidecarsets(pod()) == set()
    assert inj.injected_sidecarsets(pod(annotations={LIST: "a,b,,a"})) == {"a", "b"}
    # Split on commas only, as OpenKruise's IsPodInjectedSidecarSet: " b" names no SidecarSet.
    assert inj.injected_sidecarsets(pod(annotations={LIST: "a, b"})) == {"a", " b"}
    # It indexes the pods cache, which must never raise: odd objects read as no SidecarSet.
    assert inj.injected_sidecarsets({}) == set()
    assert inj.injected_sidecarsets({"metadata": {"annotations": None}}) == set()
    assert inj.injected_sidecarsets({"metadata": {"annotations": ["x"]}}) == set()


# --------------------------------------------------------------------------------------------------
# Step 4: historical revisions


def revision(
    set_name: str,
    rev_name: str,
    number: int,
    containers: list[Obj],
    *,
    custom: str | None = None,
    hashes_from: Obj | None = None,
    extra_spec: Obj | None = None,
    replace: bool = True,
) -> Obj:
    labels = {NAME_LABEL: set_name}
    if custom is not None:
        labels[CUSTOM_LABEL] = custom
    data_spec: Obj = {
        "containers": containers,
        "volumes": None,
        "initContainers": None,
        "imagePullSecrets": None,
        "patchPodMetadata": None,
        **(extra_spec or {}),
    }
    if replace:
        data_spec["$patch"] = "replace"
    meta: Obj = {"name": rev_name, "namespace": "kruise-system", "labels": labels}
    if hashes_from is not None:
        meta["annotations"] = {k: hashes_from["metadata"]["annotations"][k] for k in (HASH, HASH_NO_IMAGE)}
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": meta,
        "revision": number,
        "data": {"spec": data_spec},
    }


V1 = [c("s", "sc:v1")]
V2 = [c("s", "sc:v2")]
OLD = scs("a", V1)  # the SidecarSet as it was at v1 (for its hashes)
REVS = {
    "a-v1": revision("a", "a-v1", 1, V1, custom="one", hashes_from=OLD),
    "a-v2": revision("a", "a-v2", 2, V2, custom="two"),
    "a-v1b": revision("a", "a-v1b", 3, [c("s", "sc:v1b")], custom="one"),
    "other-v9": revision("other", "other-v9", 9, [c("s", "sc:other")], custom="one"),
}


def pinned(revision_info: Obj | None, *, strategy: Obj | None = None, image: str = "sc:v3") -> Obj:
    spec: Obj = {}
    if revision_info is not None:
        spec["injectionStrategy"] = {"revision": revision_info}
    if strategy is not None:
        spec["updateStrategy"] = strategy
    return scs("a", [c("s", image)], latest="a-v3", **spec)


def injected_image(p: Obj) -> str:
    return str(container(p, "s")["image"])


@pytest.mark.parametrize(
    ("desc", "revision_info", "strategy", "image", "controller_revision"),
    [
        ("no revision: latest", None, None, "sc:v3", "a-v3"),
        ("revisionName: historical", {"revisionName": "a-v1"}, None, "sc:v1", "a-v1"),
        ("revisionName, policy Always", {"revisionName": "a-v2", "policy": "Always"}, None, "sc:v2", "a-v2"),
        ("revisionName not found: latest", {"revisionName": "nope"}, None, "sc:v3", "a-v3"),
        ("empty revision info: latest", {"policy": "Always"}, None, "sc:v3", "a-v3"),
        (
            "customVersion: highest revision with that label",
            {"customVersion": "one"},
            None,
            "sc:v1b",
            "a-v1b",
        ),
        ("customVersion of another SidecarSet ignored", {"customVersion": "two"}, None, "sc:v2", "a-v2"),
        ("customVersion not found: latest", {"customVersion": "zzz"}, None, "sc:v3", "a-v3"),
        (
            "revisionName wins over customVersion",
            {"revisionName": "a-v2", "customVersion": "one"},
            None,
            "sc:v2",
            "a-v2",
        ),
        (
            "updateStrategy.paused: historical even for Partial",
            {"revisionName": "a-v1", "policy": "Partial"},
            {"paused": True, "partition": 0},
            "sc:v1",
            "a-v1",
        ),
        (
            "Partial, pod outside updateStrategy.selector: historical",
            {"revisionName": "a-v1", "policy": "Partial"},
            {"selector": {"matchLabels": {"canary": "true"}}},
            "sc:v1",
            "a-v1",
        ),
        (
            "Partial, pod selected, int partition: latest",
            {"revisionName": "a-v1", "policy": "Partial"},
            {"selector": {"matchLabels": {"app": "web"}}, "partition": 5},
            "sc:v3",
            "a-v3",
        ),
        (
            "Partial, no selector, partition unset: latest",
            {"revisionName": "a-v1", "policy": "Partial"},
            {},
            "sc:v3",
            "a-v3",
        ),
        (
            "Partial, 0%: latest",
            {"revisionName": "a-v1", "policy": "Partial"},
            {"partition": "0%"},
            "sc:v3",
            "a-v3",
        ),
        (
            "Partial, 100%: historical",
            {"revisionName": "a-v1", "policy": "Partial"},
            {"partition": "100%"},
            "sc:v1",
            "a-v1",
        ),
    ],
)
def test_revision_choice(
    desc: str, revision_info: Obj | None, strategy: Obj | None, image: str, controller_revision: str
) -> None:
    out = run(pod(), [pinned(revision_info, strategy=strategy)], revisions=REVS)
    assert injected_image(out) == image, desc
    assert hashes(out)["a"]["controllerRevision"] == controller_revision, desc


def test_historical_hashes_come_from_the_revision() -> None:
    out = run(pod(), [pinned({"revisionName": "a-v1"})], revisions=REVS)
    assert hashes(out)["a"]["hash"] == OLD["metadata"]["annotations"][HASH]
    assert hashes(out, HASH_NO_IMAGE)["a"]["hash"] == OLD["metadata"]["annotations"][HASH_NO_IMAGE]


def test_historical_hashes_computed_when_revision_has_none() -> None:
    out = run(pod(), [pinned({"revisionName": "a-v2"})], revisions=REVS)
    restored = scs("a", V2, defaults=False)
    assert hashes(out)["a"]["hash"] == sidecarset_hash(restored)
    assert hashes(out, HASH_NO_IMAGE)["a"]["hash"] == sidecarset_hash_without_image(restored)


def test_historical_revision_restores_all_recorded_fields() -> None:
    rev = revision(
        "a",
        "a-old",
        1,
        [c("s", "sc:old", volumeMounts=[{"name": "old-vol", "mountPath": "/o"}])],
        extra_spec={
            "volumes": [{"name": "old-vol", "emptyDir": {}}],
            "imagePullSecrets": [{"name": "old-secret"}],
            "patchPodMetadata": [{"annotations": {"version": "old"}, "patchPolicy": "Overwrite"}],
        },
    )
    latest = scs(
        "a",
        [c("s", "sc:new", volumeMounts=[{"name": "new-vol", "mountPath": "/n"}])],
        volumes=[{"name": "new-vol", "emptyDir": {}}],
        initContainers=[c("new-init")],
        imagePullSecrets=[{"name": "new-secret"}],
        patchPodMetadata=[{"annotations": {"version": "new"}, "patchPolicy": "Overwrite"}],
        injectionStrategy={"revision": {"revisionName": "a-old"}},
    )
    out = run(pod(), [latest], revisions={"a-old": rev})
    assert injected_image(out) == "sc:old"
    assert [v["name"] for v in out["spec"]["volumes"]] == ["old-vol"]
    assert out["spec"]["imagePullSecrets"] == [{"name": "old-secret"}]
    assert "initContainers" not in out["spec"]  # the revision had none
    assert ann(out)["version"] == "old"


def test_revision_without_replace_directive_replaces_recorded_fields() -> None:
    rev = revision("a", "a-old", 1, [c("s", "sc:old")], replace=False)
    latest = scs(
        "a",
        [c("s", "sc:new")],
        initContainers=[c("i")],
        injectionStrategy={"revision": {"revisionName": "a-old"}},
    )
    out = run(pod(), [latest], revisions={"a-old": rev})
    assert injected_image(out) == "sc:old"
    assert "initContainers" not in out["spec"]


def test_revision_data_as_json_text() -> None:
    rev = revision("a", "a-old", 1, [c("s", "sc:old")])
    rev["data"] = json.dumps(rev["data"])
    out = run(pod(), [pinned({"revisionName": "a-old"})], revisions={"a-old": rev})
    assert injected_image(out) == "sc:old"


def test_partial_percentage_is_deterministic_and_proportional() -> None:
    s = pinned({"revisionName": "a-v1", "policy": "Partial"}, strategy={"partition": "30%"})
    picks = [injected_image(run(pod(name=f"web-{i}"), [s], revisions=REVS)) for i in range(400)]
    again = [injected_image(run(pod(name=f"web-{i}"), [s], revisions=REVS)) for i in range(400)]
    assert picks == again
    historical = picks.count("sc:v1")
    assert 80 <= historical <= 160, historical  # ~30% of 400
    assert set(picks) == {"sc:v1", "sc:v3"}


def test_partial_percentage_for_unnamed_pods_depends_on_now() -> None:
    s = pinned({"revisionName": "a-v1", "policy": "Partial"}, strategy={"partition": "50%"})
    p = pod(name="")
    p["metadata"]["generateName"] = "web-"
    seen = {
        injected_image(inj.inject(p, [s], NOW + timedelta(microseconds=i), revisions=REVS).pod)
        for i in range(40)
    }
    assert seen == {"sc:v1", "sc:v3"}
    assert inj.partial_picks_historical(p, "50%", NOW) == inj.partial_picks_historical(p, "50%", NOW)


@pytest.mark.parametrize(
    ("partition", "expected"), [(None, False), (3, False), ("0%", False), ("100%", True), ("x%", False)]
)
def test_partial_picks_historical_edges(partition: Any, expected: bool) -> None:
    assert inj.partial_picks_historical(pod(), partition, NOW) is expected


# --------------------------------------------------------------------------------------------------
# Whole-pod behaviour


def test_full_example() -> None:
    s = scs(
        "log-sc",
        [
            c(
                "log-agent",
                "log:1",
                volumeMounts=[{"name": "logs", "mountPath": "/var/log"}],
                transferEnv=[{"sourceContainerName": "main", "envName": "TZ"}],
                podInjectPolicy="AfterAppContainer",
            )
        ],
        volumes=[{"name": "logs", "emptyDir": {}}, {"name": "unused", "emptyDir": {}}],
        imagePullSecrets=[{"name": "reg"}],
        latest="log-sc-6c9d7b8f5",
    )
    p = pod([c("main", "app:1", env=[{"name": "TZ", "value": "UTC"}])])
    [matched] = inj.matching_sidecarsets(p, {}, [s])
    res = inj.inject(p, [matched], NOW)
    assert res.changed and res.injected == ["log-sc"]
    assert res.pod["spec"] == {
        "containers": [
            c("main", "app:1", env=[{"name": "TZ", "value": "UTC"}]),
            {
                "name": "log-agent",
                "image": "log:1",
                "volumeMounts": [{"name": "logs", "mountPath": "/var/log"}],
                "env": [INJECTED, {"name": "TZ", "value": "UTC"}],
            },
        ],
        "volumes": [{"name": "logs", "emptyDir": {}}],
        "imagePullSecrets": [{"name": "reg"}],
    }
    assert set(ann(res.pod)) == {HASH, HASH_NO_IMAGE, LIST}


def test_unmatched_pod_is_untouched_end_to_end() -> None:
    p = pod(labels={"app": "db"})
    assert inj.matching_sidecarsets(p, {}, [scs("a", [c("s")])]) == []
    res = inj.inject(p, [], NOW)
    assert res.pod == p and not res.changed


def test_pod_without_metadata_or_spec_fields() -> None:
    p: Obj = {"spec": {"containers": [{"name": "main"}]}}
    out = run(p, [scs("a", [c("s")])])
    assert names(out["spec"]["containers"]) == ["s", "main"]
    assert ann(out)[LIST] == "a"


def test_reinjection_does_not_duplicate() -> None:
    s = scs(
        "a",
        [c("s", volumeMounts=[{"name": "v", "mountPath": "/v"}], shareVolumePolicy={"type": "enabled"})],
        initContainers=[c("i")],
        volumes=[{"name": "v", "emptyDir": {}}],
        imagePullSecrets=[{"name": "r"}],
    )
    once = run(
        pod(
            [c("main", volumeMounts=[{"name": "d", "mountPath": "/d"}])],
            volumes=[{"name": "d", "emptyDir": {}}],
        ),
        [s],
    )
    twice = run(once, [s])
    assert twice == once


# --------------------------------------------------------------------------------------------------
# Properties

_names = st.text(alphabet="abcdef", min_size=1, max_size=3)
_env = st.lists(
    st.fixed_dictionaries({"name": st.sampled_from(["A", "B", "C"]), "value": st.sampled_from(["1", "2"])}),
    max_size=3,
)
_mounts = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["v1", "v2", "d"]), "mountPath": st.sampled_from(["/a", "/b", "/c"])},
        optional={"subPathExpr": st.sampled_from(["$(A)", "x/$(B)/$(Z)"])},
    ),
    max_size=3,
)


@st.composite
def _app_containers(draw: st.DrawFn) -> list[Obj]:
    ns = draw(st.lists(_names, min_size=1, max_size=3, unique=True))
    return [
        {"name": f"app-{n}", "image": "app", "env": draw(_env), "volumeMounts": draw(_mounts)} for n in ns
    ]


@st.composite
def _sidecar(draw: st.DrawFn, name: str) -> Obj:
    out: Obj = {"name": name, "image": draw(st.sampled_from(["s:1", "s:2"]))}
    if draw(st.booleans()):
        out["podInjectPolicy"] = draw(st.sampled_from(["BeforeAppContainer", "AfterAppContainer"]))
    if draw(st.booleans()):
        out["env"] = draw(_env)
    if draw(st.booleans()):
        out["volumeMounts"] = draw(_mounts.map(lambda ms: [m for m in ms if m["name"] != "d"]))
    if draw(st.booleans()):
        out["shareVolumePolicy"] = {"type": draw(st.sampled_from(["enabled", "disabled"]))}
    if draw(st.booleans()):
        out["transferEnv"] = [{"sourceContainerName": "app-a", "envNames": ["A", "C"]}]
    return out


@st.composite
def _sidecarsets(draw: st.DrawFn) -> list[Obj]:
    sets = []
    for i in range(draw(st.integers(0, 3))):
        cs = [draw(_sidecar(f"sc{i}-{n}")) for n in draw(st.lists(_names, max_size=2, unique=True))]
        inits = [draw(_sidecar(f"init{i}-{n}")) for n in draw(st.lists(_names, max_size=2, unique=True))]
        spec: Obj = {
            "containers": cs,
            "initContainers": inits,
            "volumes": [{"name": "v1", "emptyDir": {}}, {"name": "v2", "hostPath": {"path": "/x"}}],
            "imagePullSecrets": draw(
                st.lists(st.fixed_dictionaries({"name": st.sampled_from(["r1", "r2"])}), max_size=2)
            ),
            "patchPodMetadata": [
                {
                    # No nulls: a MergePatchJson value set on an absent key is kept verbatim (nulls
                    # included, as OpenKruise), and only pruned by the next merge.
                    "annotations": {"k": draw(st.sampled_from(['{"a":1}', '{"b":{"c":2}}']))},
                    "patchPolicy": draw(st.sampled_from(["Retain", "Overwrite", "MergePatchJson"])),
                }
            ],
        }
        sets.append(scs(f"set{i}", defaults=draw(st.booleans()), **spec))
    return sets


@st.composite
def _pods(draw: st.DrawFn) -> Obj:
    p = pod(draw(_app_containers()), name=draw(_names), volumes=[{"name": "d", "emptyDir": {}}])
    if draw(st.booleans()):
        p["spec"]["initContainers"] = [{"name": "app-init", "image": "i"}]
    if draw(st.booleans()):
        p["spec"]["imagePullSecrets"] = [{"name": "r1"}]
    if draw(st.booleans()):
        p["metadata"]["annotations"] = {"k": '{"z":0}'}
    return p


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_pods(), _sidecarsets())
def test_property_input_untouched_and_reinjection_idempotent(p: Obj, sets: list[Obj]) -> None:
    p_before, sets_before = copy.deepcopy(p), copy.deepcopy(sets)
    first = inj.inject(p, sets, NOW)
    assert p == p_before and sets == sets_before
    out = first.pod
    for key in ("containers", "initContainers", "volumes", "imagePullSecrets"):
        got = [x["name"] for x in out["spec"].get(key, [])]
        assert len(got) == len(set(got)), key
    # every injected container is in the pod, in the sidecarList of its SidecarSet
    for s in sets:
        for sc in s["spec"]["containers"]:
            assert sc["name"] in names(out["spec"]["containers"])
    # Re-injecting the same SidecarSets into the injected pod changes nothing.
    second = inj.inject(out, sets, NOW)
    assert second.pod == out
    assert out == first.pod  # the result was not aliased into the second call
    # The injected sidecars' volumes are exactly those they reference (plus the pod's own).
    referenced = {
        m["name"]
        for s in sets
        for x in s["spec"]["containers"] + s["spec"]["initContainers"]
        for m in x.get("volumeMounts", [])
    }
    assert {v["name"] for v in out["spec"]["volumes"]} == {"d"} | referenced

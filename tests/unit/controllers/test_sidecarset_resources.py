"""SidecarSet resourcesPolicy (OpenKruise v1.9 sidecarset_resources.go) and its use at injection.

The expected values are OpenKruise's: the first cases are its own unit-test scenarios
(sidecarset_resources_test.go), the others were checked against its applyResourcesPolicy."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from kruise_py.api import default_sidecarset
from kruise_py.controllers.sidecarset import inject as inj
from kruise_py.controllers.sidecarset.resources import ResourcesPolicyError, aggregate, policy_resources

Obj = dict[str, Any]
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def res(limits: dict[str, str] | None = None, requests: dict[str, str] | None = None) -> Obj:
    out: Obj = {}
    if limits:
        out["limits"] = limits
    if requests:
        out["requests"] = requests
    return out


def ctr(name: str, resources: Obj | None = None, **fields: Any) -> Obj:
    return {"name": name, "image": "app:1", "resources": resources or {}, **fields}


def pod(containers: list[Obj], inits: list[Obj] | None = None) -> Obj:
    return {
        "metadata": {"name": "p", "namespace": "default", "labels": {"app": "web"}},
        "spec": {"containers": containers, "initContainers": inits or []},
    }


def policy(
    mode: str, regex: str | None = ".*", limits: Obj | None = None, requests: Obj | None = None
) -> Obj:
    expr: Obj = {}
    if limits is not None:
        expr["limits"] = limits
    if requests is not None:
        expr["requests"] = requests
    p: Obj = {"targetContainersMode": mode, "resourcesExpr": expr}
    if regex is not None:
        p["targetContainersNameRegex"] = regex
    return p


def sidecar(p: Obj, name: str = "sidecar") -> Obj:
    return {"name": name, "image": "sidecar:1", "resourcesPolicy": p}


def sset(*containers: Obj, inits: list[Obj] | None = None) -> Obj:
    spec: Obj = {"selector": {"matchLabels": {"app": "web"}}, "containers": list(containers)}
    if inits:
        spec["initContainers"] = inits
    return default_sidecarset({"metadata": {"name": "s"}, "spec": spec})


ENGINES = [
    ctr("large-engine-v3", res({"cpu": "200m", "memory": "200Mi"}, {"cpu": "50m", "memory": "100Mi"})),
    ctr("large-engine-v4", res({"cpu": "400m", "memory": "400Mi"}, {"cpu": "100m", "memory": "200Mi"})),
]
PERCENT = ({"cpu": "cpu*50%", "memory": "200Mi"}, {"cpu": "cpu*50%", "memory": "100Mi"})
FLOORED = ({"cpu": "max(cpu*50%, 50m)", "memory": "200Mi"}, {"cpu": "max(cpu*50%, 50m)", "memory": "100Mi"})


@pytest.mark.parametrize(
    ("desc", "containers", "p", "want"),
    [
        (
            "sum with percentage",
            ENGINES,
            policy("sum", ".*", *PERCENT),
            res({"cpu": "300m", "memory": "200Mi"}, {"cpu": "75m", "memory": "100Mi"}),
        ),
        (
            "max with an expression",
            ENGINES,
            policy("max", "^large.engine.v.*$", *FLOORED),
            res({"cpu": "200m", "memory": "200Mi"}, {"cpu": "50m", "memory": "100Mi"}),
        ),
        (
            "regex picks one container",
            ENGINES,
            policy("sum", "^large.engine.v3$", *FLOORED),
            res({"cpu": "100m", "memory": "200Mi"}, {"cpu": "50m", "memory": "100Mi"}),
        ),
        (
            "one target without a cpu limit: cpu limit unlimited",
            [
                ctr("app1", res({"cpu": "200m", "memory": "200Mi"}, {"cpu": "100m", "memory": "100Mi"})),
                ctr("app2", res({"memory": "400Mi"}, {"cpu": "50m", "memory": "200Mi"})),
            ],
            policy(
                "sum",
                ".*",
                {"cpu": "cpu*50%", "memory": "memory*30%"},
                {"cpu": "cpu*30%", "memory": "memory*20%"},
            ),
            res({"memory": "180Mi"}, {"cpu": "45m", "memory": "60Mi"}),
        ),
        (
            "max, a missing request counts as 0",
            [
                ctr("app1", res({"cpu": "200m", "memory": "200Mi"}, {"cpu": "100m", "memory": "100Mi"})),
                ctr("app2", res({"cpu": "400m"}, {"cpu": "200m"})),
            ],
            policy(
                "max",
                ".*",
                {"cpu": "cpu*40%", "memory": "memory*30%"},
                {"cpu": "cpu*25%", "memory": "memory*20%"},
            ),
            res({"cpu": "160m"}, {"cpu": "50m", "memory": "20Mi"}),
        ),
        (
            "no target has requests: the expression runs over 0",
            [ctr("app", res({"cpu": "1"}))],
            policy("sum", ".*", {"cpu": "cpu"}, {"cpu": "cpu*50%", "memory": "64Mi"}),
            res({"cpu": "1"}, {"cpu": "0", "memory": "64Mi"}),
        ),
        (
            "sum keeps the first non-zero value's format",
            [ctr("a", res({"memory": "1Gi"})), ctr("b", res({"memory": "512Mi"}))],
            policy("sum", ".*", {"memory": "memory"}),
            res({"memory": "1536Mi"}),
        ),
        (
            "a plain number is millicores for cpu, units for memory",
            [ctr("a", res({"cpu": "2", "memory": "1Gi"}))],
            policy("sum", ".*", {"cpu": "0.5", "memory": "memory*0 + 1000"}),
            res({"cpu": "500m", "memory": "1k"}),
        ),
        (
            "an unknown mode aggregates nothing: limits unset, requests over 0",
            [ctr("a", res({"cpu": "2"}, {"cpu": "1"}))],
            policy("avg", ".*", {"cpu": "cpu"}, {"cpu": "max(cpu, 10m)"}),
            res(None, {"cpu": "10m"}),
        ),
        ("no expressions at all", [ctr("a", res({"cpu": "2"}))], policy("sum", ".*", {}, {}), {}),
        (
            "an absent regex matches every container",
            [ctr("a", res({"cpu": "1"})), ctr("b", res({"cpu": "1"}))],
            policy("sum", None, {"cpu": "cpu"}),
            res({"cpu": "2"}),
        ),
    ],
)
def test_policy_resources(desc: str, containers: list[Obj], p: Obj, want: Obj) -> None:
    s = sidecar(p)
    assert policy_resources(s, pod(containers), [sset(s)]) == want, desc


def test_native_sidecars_are_targets_and_plain_init_containers_are_not() -> None:
    inits = [ctr("native", res({"cpu": "200m"}), restartPolicy="Always"), ctr("plain", res({"cpu": "5"}))]
    s = sidecar(policy("sum", ".*", {"cpu": "cpu"}))
    assert policy_resources(s, pod([ctr("app", res({"cpu": "1"}))], inits), [sset(s)]) == res(
        {"cpu": "1200m"}
    )


def test_sidecarset_container_names_are_never_targets() -> None:
    """Containers named like any matched SidecarSet's container or init container are excluded."""
    s = sidecar(policy("sum", ".*", {"cpu": "cpu"}))
    other = sset({"name": "log", "image": "l"}, inits=[{"name": "init", "image": "i"}])
    p = pod(
        [ctr("app", res({"cpu": "1"})), ctr("log", res({"cpu": "3"}))],
        [ctr("init", res({"cpu": "7"}), restartPolicy="Always")],
    )
    assert policy_resources(s, p, [sset(s), other]) == res({"cpu": "1"})


@pytest.mark.parametrize(
    ("containers", "p", "message"),
    [
        (
            [ctr("app", res({"cpu": "1"}))],
            policy("sum", "^nonexistent$", {"cpu": "cpu"}),
            'no containers match the regex pattern "^nonexistent$"',
        ),
        (
            [ctr("app", res({"cpu": "500m"}))],
            policy("sum", ".*", {"cpu": "cpu - 1"}),
            'failed to evaluate CPU limits expression: failed to parse expression "cpu - 1": '
            "calculation result is negative: -500m",
        ),
        (
            [ctr("app", res(None, {"memory": "1Gi"}))],
            policy("sum", ".*", None, {"memory": "memory*memory"}),
            'failed to evaluate memory requests expression: failed to parse expression "memory*memory": '
            "multiplication of two quantities",
        ),
    ],
)
def test_policy_errors_reject_the_pod(containers: list[Obj], p: Obj, message: str) -> None:
    s = sidecar(p)
    with pytest.raises(ResourcesPolicyError) as e:
        policy_resources(s, pod(containers), [sset(s)])
    assert str(e.value) == message
    with pytest.raises(inj.InjectionError, match="^" + re.escape(message) + "$"):
        inj.inject(pod(containers), [sset(s)], NOW)


def test_aggregate_max_keeps_the_first_of_equal_values() -> None:
    limits, _ = aggregate([ctr("a", res({"memory": "1Gi"})), ctr("b", res({"memory": "1073741824"}))], "max")
    assert str(limits["memory"]) == "1Gi"


def test_injected_sidecar_gets_the_policy_resources() -> None:
    s = sidecar(policy("sum", "^app$", {"cpu": "cpu*50%"}, {"memory": "max(memory*10%, 32Mi)"}))
    p = pod([ctr("app", res({"cpu": "2", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"}))])
    out = inj.inject(p, [sset(s)], NOW).pod
    injected = next(c for c in out["spec"]["containers"] if c["name"] == "sidecar")
    # 10% of 1Gi is not a whole number of bytes: OpenKruise writes it in milli-bytes.
    assert injected["resources"] == res({"cpu": "1"}, {"memory": "107374182400m"})
    assert "resourcesPolicy" not in injected


def test_native_sidecar_init_container_gets_the_policy_resources() -> None:
    init = {
        "name": "proxy",
        "image": "envoy:1",
        "restartPolicy": "Always",
        "resourcesPolicy": policy("max", ".*", {"cpu": "max(cpu*50%, 50m)"}),
    }
    s = sset(inits=[init])
    out = inj.inject(pod([ctr("app", res({"cpu": "60m"})), ctr("web", res({"cpu": "80m"}))]), [s], NOW).pod
    assert out["spec"]["initContainers"][0]["resources"] == res({"cpu": "50m"})


def test_hot_upgrade_pair_both_get_the_policy_resources() -> None:
    hot = {
        **sidecar(policy("sum", ".*", {"cpu": "cpu"}), "mesh"),
        "upgradeStrategy": {"upgradeType": "HotUpgrade", "hotUpgradeEmptyImage": "empty:1"},
    }
    out = inj.inject(pod([ctr("app", res({"cpu": "250m"}))]), [sset(hot)], NOW).pod
    got = {c["name"]: c.get("resources") for c in out["spec"]["containers"]}
    assert got == {
        "mesh-1": res({"cpu": "250m"}),
        "mesh-2": res({"cpu": "250m"}),
        "app": res({"cpu": "250m"}),
    }


def test_no_policy_keeps_the_sidecar_resources() -> None:
    s = {"name": "sidecar", "image": "s:1", "resources": res({"cpu": "5"})}
    out = inj.inject(pod([ctr("app", res({"cpu": "1"}))]), [sset(s)], NOW).pod
    assert out["spec"]["containers"][0]["resources"] == res({"cpu": "5"})

"""core.inplace: the in-place update mechanism (spec §2), table-driven, with hypothesis invariants."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kruise_py.core import inplace
from kruise_py.core.inplace import (
    GRACE_ANNOTATION,
    INPLACE_UPDATE_READY,
    LEGACY_GRACE_ANNOTATION,
    LEGACY_STATE_ANNOTATION,
    REVISION_LABEL,
    STATE_ANNOTATION,
    PodWrites,
    UpdateSpec,
    calculate_update_spec,
    check_completed,
    refresh,
    start_update,
    update_in_progress,
)
from kruise_py.core.revisions import revision_data

NOW = datetime(2025, 1, 1, tzinfo=UTC)
OLD_ID = "docker-pullable://nginx@sha256:" + "a" * 64
NEW_ID = "docker-pullable://nginx@sha256:" + "b" * 64


# --------------------------------------------------------------------------------------------------
# Fixtures: templates, revisions, pods, and a tiny API server + kubelet to apply writes to


def container(name: str = "nginx", image: str = "nginx:1.24", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": image, **extra}


def template(
    containers: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    **spec_extra: Any,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"labels": {"app": "web"} if labels is None else labels}
    if annotations is not None:
        meta["annotations"] = annotations
    return {
        "metadata": meta,
        "spec": {
            "containers": [container()] if containers is None else containers,
            "readinessGates": [{"conditionType": INPLACE_UPDATE_READY}],
            **spec_extra,
        },
    }


def revision(name: str, tpl: dict[str, Any], **outer: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {"name": name},
        "data": {"spec": {"template": {**copy.deepcopy(tpl), "$patch": "replace"}, **outer}},
        "revision": 1,
    }


def pod_from(
    tpl: dict[str, Any],
    rev: str = "web-old",
    *,
    gate: bool = True,
    ready: bool = True,
    image_ids: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A running pod created from ``tpl`` as the API server and the kubelet would show it."""
    spec = copy.deepcopy(tpl["spec"])
    if not gate:
        spec.pop("readinessGates", None)
    statuses = [
        {
            "name": c["name"],
            "image": c["image"],
            "ready": ready,
            "restartCount": 0,
            "imageID": (image_ids or {}).get(c["name"], OLD_ID),
        }
        for c in spec["containers"]
    ]
    cond = "True" if ready else "False"
    conditions = [{"type": "ContainersReady", "status": cond}, {"type": "Ready", "status": cond}]
    if gate:
        conditions.append({"type": INPLACE_UPDATE_READY, "status": "True"})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web-0",
            "namespace": "ns",
            "resourceVersion": "1",
            "labels": {**tpl["metadata"].get("labels", {}), REVISION_LABEL: rev},
            "annotations": dict(tpl["metadata"].get("annotations", {})),
        },
        "spec": spec,
        "status": {"phase": "Running", "conditions": conditions, "containerStatuses": statuses},
    }


def _merge_map(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        else:
            target[k] = v


def apply(pod: dict[str, Any], w: PodWrites) -> dict[str, Any]:
    """Apply one step's writes the way the API server would (strategic merge)."""
    pod = copy.deepcopy(pod)
    for cond in w.status_conditions or []:
        conds = pod["status"].setdefault("conditions", [])
        for i, c in enumerate(conds):
            if c["type"] == cond["type"]:
                conds[i] = {**c, **cond}
                break
        else:
            conds.append(dict(cond))
    patch = w.pod_patch() or {}
    # labels/annotations carried by the pods/status write apply like the pod patch's
    status_meta = {k: v for k, v in (w.status_metadata or {}).items() if k in ("labels", "annotations")}
    for key, val in [*status_meta.items(), *patch.get("metadata", {}).items()]:
        if key in ("labels", "annotations"):
            _merge_map(pod["metadata"].setdefault(key, {}), val)
        else:
            pod["metadata"][key] = val
    for patch_c in [
        *patch.get("spec", {}).get("containers", []),
        *(w.resize_patch or {}).get("spec", {}).get("containers", []),
    ]:
        for c in pod["spec"]["containers"]:
            if c["name"] == patch_c["name"]:
                for k, v in patch_c.items():
                    if k == "resources":
                        for kind, vals in v.items():
                            c.setdefault("resources", {}).setdefault(kind, {}).update(vals)
                    else:
                        c[k] = v
    return pod


def kubelet(pod: dict[str, Any], image_ids: dict[str, str] | None = None) -> dict[str, Any]:
    """The node restarts changed containers: status image = spec image, a new imageID, resources
    actuated, and Ready recomputed from the readiness gates."""
    pod = copy.deepcopy(pod)
    specs = {c["name"]: c for c in pod["spec"]["containers"]}
    for cs in pod["status"]["containerStatuses"]:
        c = specs[cs["name"]]
        if cs["image"] != c["image"]:
            cs["image"] = c["image"]
            cs["imageID"] = (image_ids or {}).get(c["name"], NEW_ID)
            cs["restartCount"] += 1
        if c.get("resources"):
            cs["resources"] = copy.deepcopy(c["resources"])
    gates = [g["conditionType"] for g in pod["spec"].get("readinessGates", [])]
    conds = {c["type"]: c for c in pod["status"]["conditions"]}
    ready = all(conds.get(g, {}).get("status") == "True" for g in gates)
    conds["Ready"].update(status="True" if ready else "False")
    return pod


def state_of(pod: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(pod["metadata"]["annotations"][STATE_ANNOTATION])
    return state


def cond(pod: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next(c for c in pod["status"]["conditions"] if c["type"] == ctype)


# --------------------------------------------------------------------------------------------------
# calculate_update_spec: what is possible in place


def test_image_update_spec() -> None:
    old = template()
    new = template([container(image="nginx:1.25")])
    spec = calculate_update_spec(revision("web-1", old), revision("web-2", new))
    assert spec == UpdateSpec(revision="web-2", container_images={"nginx": "nginx:1.25"})


def test_container_named_after_old_template_index() -> None:
    old = template([container("a", "x:1"), container("b", "y:1")])
    new = template([container("a", "x:1"), container("b", "y:2")])
    spec = calculate_update_spec(revision("r1", old), revision("r2", new))
    assert spec is not None and spec.container_images == {"b": "y:2"}


def test_identical_templates_give_an_empty_spec() -> None:
    spec = calculate_update_spec(revision("r1", template()), revision("r2", template()))
    assert spec == UpdateSpec(revision="r2")


def test_grace_seconds_are_carried() -> None:
    spec = calculate_update_spec(
        revision("r1", template()), revision("r2", template([container(image="n:2")])), grace_seconds=7
    )
    assert spec is not None and spec.grace_seconds == 7


_ENV_LABEL = [{"name": "VER", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['ver']"}}}]


@pytest.mark.parametrize(
    ("case", "old", "new", "outer_old", "outer_new"),
    [
        (
            "env change",
            template([container(env=[{"name": "A", "value": "1"}])]),
            template([container(env=[{"name": "A", "value": "2"}])]),
            {},
            {},
        ),
        (
            "env-from-label definition change",
            template([container(env=_ENV_LABEL)]),
            template([container(env=[{"name": "VER", "value": "x"}])]),
            {},
            {},
        ),
        (
            "command change",
            template([container(command=["a"])]),
            template([container(command=["b"])]),
            {},
            {},
        ),
        ("command added", template(), template([container(command=["b"])]), {}, {}),
        (
            "ports change",
            template([container(ports=[{"containerPort": 80}])]),
            template([container(ports=[{"containerPort": 81}])]),
            {},
            {},
        ),
        ("add container", template(), template([container(), container("side", "s:1")]), {}, {}),
        ("remove container", template([container(), container("side", "s:1")]), template(), {}, {}),
        ("rename container", template(), template([container("other")]), {}, {}),
        (
            "initContainers change",
            template(initContainers=[container("init", "i:1")]),
            template(initContainers=[container("init", "i:2")]),
            {},
            {},
        ),
        ("volumes added", template(), template(volumes=[{"name": "v", "emptyDir": {}}]), {}, {}),
        (
            "resources without resize",
            template([container(resources={"requests": {"cpu": "1"}})]),
            template([container(resources={"requests": {"cpu": "2"}})]),
            {},
            {},
        ),
        ("image removed", template(), template([{"name": "nginx"}]), {}, {}),
        ("data outside the template", template(), template(), {"replicas": 1}, {"replicas": 2}),
        ("hostNetwork change", template(hostNetwork=True), template(), {}, {}),
    ],
)
def test_not_possible(
    case: str, old: dict[str, Any], new: dict[str, Any], outer_old: dict[str, Any], outer_new: dict[str, Any]
) -> None:
    assert (
        calculate_update_spec(revision("r1", old, **outer_old), revision("r2", new, **outer_new)) is None
    ), case


def test_old_revision_missing_is_not_possible() -> None:
    assert calculate_update_spec(None, revision("r2", template())) is None


def go_revision(name: str, tpl: dict[str, Any]) -> dict[str, Any]:
    """A revision as OpenKruise writes it: the Go-shaped template (``"resources":{}``, ...)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {"name": name},
        "data": revision_data(tpl),
        "revision": 1,
    }


def test_unknown_template_fields_are_dropped_as_go_drops_them() -> None:
    spec = calculate_update_spec(
        revision("r1", {**template(), "extra": 1}), revision("r2", {**template(), "extra": 2})
    )
    assert spec == UpdateSpec(revision="r2")


@pytest.mark.parametrize("older_is_old", [True, False])
def test_same_template_in_openkruise_and_older_kruise_py_shape_is_no_change(older_is_old: bool) -> None:
    """One side written by OpenKruise (Go-shaped), the other by an older kruise-py (as stored): the
    diff of the same template is empty, not ``resources: {}`` added (which would force a recreate)."""
    tpl = template(
        [
            container(
                resources={"requests": {"cpu": "1000m", "memory": "1024Mi"}}, ports=[{"containerPort": 80}]
            )
        ],
        annotations={"a": "<b>"},
        hostNetwork=False,
    )
    older, go = revision("older", tpl), go_revision("go", tpl)
    assert go["data"] != older["data"]  # really two shapes
    assert go["data"]["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "1"
    old, new = (older, go) if older_is_old else (go, older)
    for allow_resize in (False, True):
        spec = calculate_update_spec(old, new, allow_resize=allow_resize)
        assert spec == UpdateSpec(revision=new["metadata"]["name"]), allow_resize


def test_image_change_across_the_two_shapes_is_an_image_update() -> None:
    tpl = template([container(resources={"limits": {"cpu": "0.5"}})])
    new_tpl = template([container(image="nginx:2", resources={"limits": {"cpu": "500m"}})])
    spec = calculate_update_spec(go_revision("r1", tpl), revision("r2", new_tpl))
    assert spec is not None
    assert spec.container_images == {"nginx": "nginx:2"}
    assert spec.metadata_patch == {} and spec.container_resources == {}


def test_revision_data_as_raw_json() -> None:
    old, new = revision("r1", template()), revision("r2", template([container(image="nginx:2")]))
    old["data"] = json.dumps(old["data"])
    spec = calculate_update_spec(old, new)
    assert spec is not None and spec.container_images == {"nginx": "nginx:2"}


def test_metadata_only_changes_become_a_merge_patch() -> None:
    old = template(labels={"app": "web", "a": "1", "b": "1"}, annotations={"x": "1"})
    new = template(labels={"app": "web", "a": "2", "c": "3"}, annotations={"x": "1", "y": "2"})
    spec = calculate_update_spec(revision("r1", old), revision("r2", new))
    assert spec is not None
    assert spec.container_images == {}
    assert spec.metadata_patch == {"annotations": {"y": "2"}, "labels": {"a": "2", "b": None, "c": "3"}}
    assert not spec.update_env_from_metadata


@pytest.mark.parametrize("kind", ["labels", "annotations"])
def test_env_from_metadata_moves_key_to_container_ref_metadata(kind: str) -> None:
    key = "example.com/ver"
    env = [{"name": "VER", "valueFrom": {"fieldRef": {"fieldPath": f"metadata.{kind}['{key}']"}}}]
    containers = [container("app", "app:1", env=env), container("side", "s:1")]
    old_meta = {key: "1", "other": "1"}
    new_meta = {key: "2", "other": "2"}
    if kind == "labels":
        old = template(containers, labels={"app": "web", **old_meta})
        new = template(containers, labels={"app": "web", **new_meta})
    else:
        old = template(containers, annotations=old_meta)
        new = template(containers, annotations=new_meta)
    spec = calculate_update_spec(revision("r1", old), revision("r2", new))
    assert spec is not None
    assert spec.update_env_from_metadata
    assert spec.container_ref_metadata == {"app": {kind: {key: "2"}}}
    assert spec.metadata_patch == {kind: {"other": "2"}}

    plain = calculate_update_spec(revision("r1", old), revision("r2", new), env_from_metadata=False)
    assert plain is not None and not plain.update_env_from_metadata and plain.container_ref_metadata == {}
    assert plain.metadata_patch == {kind: {key: "2", "other": "2"}}


def test_env_from_metadata_ignores_removed_keys_and_literal_values() -> None:
    env = [
        *_ENV_LABEL,
        {"name": "LIT", "value": "v", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['lit']"}}},
    ]
    old = template([container(env=env)], labels={"app": "web", "ver": "1", "lit": "1"})
    new = template([container(env=env)], labels={"app": "web", "lit": "2"})
    spec = calculate_update_spec(revision("r1", old), revision("r2", new))
    assert spec is not None and not spec.update_env_from_metadata
    assert spec.metadata_patch == {"labels": {"lit": "2", "ver": None}}


def test_env_from_metadata_new_key_added() -> None:
    old = template([container(env=_ENV_LABEL)])
    new = template([container(env=_ENV_LABEL)], labels={"app": "web", "ver": "2"})
    spec = calculate_update_spec(revision("r1", old), revision("r2", new))
    assert spec is not None and spec.container_ref_metadata == {"nginx": {"labels": {"ver": "2"}}}
    assert spec.metadata_patch == {}


# --------------------------------------------------------------------------------------------------
# Resize (beyond OpenKruise's default)


def _res(req: dict[str, str] | None = None, lim: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if req is not None:
        out["requests"] = req
    if lim is not None:
        out["limits"] = lim
    return out


@pytest.mark.parametrize(
    ("old_res", "new_res", "image", "expected"),
    [
        # Burstable -> Burstable
        (_res({"cpu": "100m"}), _res({"cpu": "200m"}), None, {"requests": {"cpu": "200m"}}),
        (
            _res({"cpu": "100m", "memory": "1Gi"}, {"memory": "2Gi"}),
            _res({"cpu": "100m", "memory": "1Gi"}, {"memory": "3Gi"}),
            "nginx:1.25",
            {"limits": {"memory": "3Gi"}, "requests": {"cpu": "100m", "memory": "1Gi"}},
        ),
        # Guaranteed -> Guaranteed (limits only: requests default to limits)
        (
            _res(None, {"cpu": "1", "memory": "1Gi"}),
            _res(None, {"cpu": "2", "memory": "2Gi"}),
            None,
            {"limits": {"cpu": "2", "memory": "2Gi"}, "requests": {"cpu": "2", "memory": "2Gi"}},
        ),
        # Guaranteed -> Burstable: QoS changes
        (
            _res({"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"}),
            _res({"cpu": "500m", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"}),
            None,
            None,
        ),
        # a key added or removed is not a replace
        (_res({"cpu": "1"}), _res({"cpu": "1"}, {"cpu": "2"}), None, None),
        (_res({"cpu": "1", "memory": "1Gi"}), _res({"cpu": "1"}), None, None),
        (None, _res({"cpu": "1"}), None, None),
        # only cpu and memory resize
        (_res({"ephemeral-storage": "1Gi"}), _res({"ephemeral-storage": "2Gi"}), None, None),
        # unparsable
        (_res({"cpu": "1"}), _res({"cpu": "lots"}), None, None),
    ],
)
def test_resize(
    old_res: dict[str, Any] | None,
    new_res: dict[str, Any],
    image: str | None,
    expected: dict[str, Any] | None,
) -> None:
    old_c = container() if old_res is None else container(resources=old_res)
    new_c = container(image=image or "nginx:1.24", resources=new_res)
    old, new = revision("r1", template([old_c])), revision("r2", template([new_c]))
    spec = calculate_update_spec(old, new, allow_resize=True)
    if expected is None:
        assert spec is None
    else:
        assert spec is not None
        assert spec.container_resources == {"nginx": expected}
        assert spec.container_images == ({"nginx": image} if image else {})
    assert calculate_update_spec(old, new) is None  # never without allow_resize


def test_resize_same_quantity_is_not_a_change() -> None:
    old = template([container(resources=_res({"cpu": "1"}))])
    new = template([container(resources=_res({"cpu": "1000m"}))])
    spec = calculate_update_spec(revision("r1", old), revision("r2", new), allow_resize=True)
    assert spec == UpdateSpec(revision="r2")


@pytest.mark.parametrize(
    ("containers", "expected"),
    [
        ([container()], "BestEffort"),
        ([container(resources=_res({"cpu": "0"}))], "BestEffort"),
        ([container(resources=_res({"cpu": "1"}))], "Burstable"),
        ([container(resources=_res(None, {"cpu": "1", "memory": "1Gi"}))], "Guaranteed"),
        (
            [container(resources=_res({"cpu": "1000m", "memory": "1024Mi"}, {"cpu": "1", "memory": "1Gi"}))],
            "Guaranteed",
        ),
        ([container(resources=_res(None, {"cpu": "1"}))], "Burstable"),
        ([container(resources=_res(None, {"cpu": "1", "memory": "1Gi"})), container("b")], "Burstable"),
    ],
)
def test_qos_class(containers: list[dict[str, Any]], expected: str) -> None:
    assert inplace.qos_class({"containers": containers}) == expected


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1", 1),
        ("500m", Fraction(1, 2)),
        ("1Gi", 2**30),
        ("1G", 10**9),
        ("1.5", Fraction(3, 2)),
        ("1e3", 1000),
        ("2E-1", Fraction(1, 5)),
        (2, 2),
        (0.5, Fraction(1, 2)),
        ("100n", Fraction(1, 10**7)),
        ("Gi", 0),
    ],  # as Go's ParseQuantity: no digits is zero
)
def test_parse_quantity(raw: Any, value: Any) -> None:
    assert inplace.parse_quantity(raw) == value


@pytest.mark.parametrize("raw", ["", "lots", "1 Gi", None, True, "1.2.3"])
def test_parse_quantity_rejects(raw: Any) -> None:
    with pytest.raises(ValueError):
        inplace.parse_quantity(raw)


# --------------------------------------------------------------------------------------------------
# UpdateSpec JSON (grace annotation)


def test_update_spec_json_is_openkruise_shaped() -> None:
    spec = UpdateSpec(
        revision="web-2",
        container_images={"nginx": "nginx:1.25"},
        container_ref_metadata={"app": {"labels": {"ver": "2"}}},
        metadata_patch={"labels": {"a": "2", "b": None}},
        update_env_from_metadata=True,
        grace_seconds=10,
    )
    raw = spec.to_json()
    data = json.loads(raw)
    assert list(data) == [
        "revision",
        "containerImages",
        "containerRefMetadata",
        "metaDataPatch",
        "updateEnvFromMetadata",
        "graceSeconds",
    ]
    assert data["containerRefMetadata"] == {"app": {"creationTimestamp": None, "labels": {"ver": "2"}}}
    assert base64.b64decode(data["metaDataPatch"]) == b'{"metadata":{"labels":{"a":"2","b":null}}}'
    assert UpdateSpec.from_json(raw) == spec
    assert UpdateSpec(revision="r").to_json() == '{"revision":"r"}'


def test_update_spec_from_json_rejects_garbage() -> None:
    for bad in ["", "[]", "{", '{"metaDataPatch":"%%%"}']:
        with pytest.raises(ValueError):
            UpdateSpec.from_json(bad)


_label = st.text(alphabet="abcxyz/.-", min_size=1, max_size=6)
_maps = st.dictionaries(_label, st.text(alphabet="0123<&>é", max_size=4), max_size=4)


@given(
    rev=st.text(alphabet="abc-0123456789", min_size=1, max_size=12),
    images=st.dictionaries(_label, st.text(alphabet="abc:/@0123", min_size=1, max_size=10), max_size=3),
    labels=_maps,
    patch=st.dictionaries(_label, st.one_of(st.none(), st.text(max_size=3)), max_size=3),
    env=st.booleans(),
    grace=st.integers(min_value=0, max_value=3600),
)
def test_update_spec_json_roundtrip(
    rev: str, images: dict[str, str], labels: dict[str, str], patch: dict[str, Any], env: bool, grace: int
) -> None:
    spec = UpdateSpec(
        revision=rev,
        container_images=images,
        container_ref_metadata={"c": {"labels": labels}} if labels else {},
        container_resources={"c": {"requests": {"cpu": "1"}}},
        metadata_patch={"annotations": patch} if patch else {},
        update_env_from_metadata=env,
        grace_seconds=grace,
    )
    assert UpdateSpec.from_json(spec.to_json()) == spec


# --------------------------------------------------------------------------------------------------
# start_update: the exact writes


def _image_update() -> tuple[dict[str, Any], UpdateSpec]:
    old = template()
    new = template([container(image="nginx:1.25")])
    spec = calculate_update_spec(revision("web-5f6b7c8d9", old), revision("web-7d9f8c6b5", new))
    assert spec is not None
    return pod_from(old, "web-5f6b7c8d9"), spec


def test_state_annotation_example_shape() -> None:
    pod, spec = _image_update()
    writes = start_update(pod, spec, NOW)
    ann = writes[-1].pod_patch()["metadata"]["annotations"]  # type: ignore[index]
    assert ann[STATE_ANNOTATION] == (
        '{"revision":"web-7d9f8c6b5","updateTimestamp":"2025-01-01T00:00:00Z",'
        f'"lastContainerStatuses":{{"nginx":{{"imageID":"{OLD_ID}"}}}},"updateImages":true,'
        '"containerBatchesRecord":[{"timestamp":"2025-01-01T00:00:00Z","containers":["nginx"]}]}'
    )


def test_start_update_writes_for_a_gated_pod() -> None:
    pod, spec = _image_update()
    writes = start_update(
        pod,
        spec,
        NOW,
        extra_labels={"lifecycle.apps.kruise.io/state": "Updating"},
        extra_annotations={"lifecycle.apps.kruise.io/timestamp": "2025-01-01T00:00:00Z"},
    )
    assert len(writes) == 2
    status, patch = writes
    assert status.status_conditions == [
        {
            "type": INPLACE_UPDATE_READY,
            "status": "False",
            "reason": "StartInPlaceUpdate",
            "message": "",
            "lastTransitionTime": "2025-01-01T00:00:00Z",
        },
        {
            "type": "Ready",
            "status": "False",
            "reason": "ReadinessGatesNotReady",
            "message": 'the status of pod readiness gate "InPlaceUpdateReady" is not "True", but False',
            "lastTransitionTime": "2025-01-01T00:00:00Z",
        },
    ]
    assert status.pod_patch() is None and status.write_count() == 1
    assert status.status_patch() == {"status": {"conditions": status.status_conditions}}
    body = patch.pod_patch()
    assert body is not None
    assert body["spec"] == {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}
    assert body["metadata"]["labels"] == {
        REVISION_LABEL: "web-7d9f8c6b5",
        "lifecycle.apps.kruise.io/state": "Updating",
    }
    assert set(body["metadata"]["annotations"]) == {"lifecycle.apps.kruise.io/timestamp", STATE_ANNOTATION}
    assert patch.status_conditions is None and patch.resize_patch is None and patch.requeue_after is None
    assert patch.write_count() == 1


def test_start_update_without_gate_is_one_write() -> None:
    old = template()
    pod = pod_from(old, "r1", gate=False)
    spec = calculate_update_spec(revision("r1", old), revision("r2", template([container(image="nginx:2")])))
    assert spec is not None
    writes = start_update(pod, spec, NOW)
    assert [w.write_count() for w in writes] == [1]
    assert writes[0].status_conditions is None


def test_gate_false_is_not_rewritten_on_retry() -> None:
    pod, spec = _image_update()
    first = start_update(pod, spec, NOW)
    pod = apply(pod, first[0])  # the status write landed, the pod patch failed
    again = start_update(pod, spec, NOW + timedelta(seconds=1))
    assert len(again) == 1 and again[0].status_conditions is None


def test_ready_untouched_when_containers_not_ready() -> None:
    pod, spec = _image_update()
    pod["status"]["conditions"] = [
        {"type": "ContainersReady", "status": "False"},
        {"type": "Ready", "status": "False"},
        {"type": INPLACE_UPDATE_READY, "status": "True"},
    ]
    writes = start_update(pod, spec, NOW)
    assert [c["type"] for c in writes[0].status_conditions or []] == [INPLACE_UPDATE_READY]


def test_legacy_state_and_grace_keys_are_removed() -> None:
    pod, spec = _image_update()
    pod["metadata"]["annotations"][LEGACY_STATE_ANNOTATION] = "{}"
    pod["metadata"]["annotations"][LEGACY_GRACE_ANNOTATION] = "{}"
    ann = start_update(pod, spec, NOW)[-1].pod_patch()["metadata"]["annotations"]  # type: ignore[index]
    assert ann[LEGACY_STATE_ANNOTATION] is None and ann[LEGACY_GRACE_ANNOTATION] is None


def test_metadata_patch_and_other_template_metadata_travel_in_the_pod_patch() -> None:
    old = template(labels={"app": "web", "tier": "1"})
    new = template([container(image="nginx:2")], labels={"app": "web", "tier": "2", "new": "x"})
    new["metadata"]["finalizers"] = ["example.com/f"]
    spec = calculate_update_spec(revision("r1", old), revision("r2", new))
    assert spec is not None
    body = start_update(pod_from(old, "r1"), spec, NOW)[-1].pod_patch()
    assert body is not None
    assert body["metadata"]["labels"] == {REVISION_LABEL: "r2", "tier": "2", "new": "x"}
    assert body["metadata"]["finalizers"] == ["example.com/f"]


# --------------------------------------------------------------------------------------------------
# End to end: write budget, metadata-only, env-from-metadata, grace period


def test_write_budget_image_update_on_gated_pod() -> None:
    pod, spec = _image_update()
    writes = start_update(pod, spec, NOW)
    assert [bool(w.status_conditions) for w in writes] == [True, False]
    assert sum(w.write_count() for w in writes) == 2
    for w in writes:
        pod = apply(pod, w)
    assert cond(pod, INPLACE_UPDATE_READY)["status"] == "False"
    assert pod["metadata"]["labels"][REVISION_LABEL] == "web-7d9f8c6b5"  # P6: label moves at once
    assert not check_completed(pod) and update_in_progress(pod)
    assert refresh(pod, NOW + timedelta(seconds=1)) is None  # kubelet has not restarted yet

    pod = kubelet(pod)
    assert check_completed(pod) and not update_in_progress(pod)
    gate_true = refresh(pod, NOW + timedelta(seconds=5))
    assert gate_true is not None and gate_true.write_count() == 1
    assert gate_true.status_conditions == [
        {
            "type": INPLACE_UPDATE_READY,
            "status": "True",
            "reason": "",
            "message": "",
            "lastTransitionTime": "2025-01-01T00:00:05Z",
        }
    ]
    assert cond(apply(pod, gate_true), INPLACE_UPDATE_READY)["reason"] == ""  # StartInPlaceUpdate cleared
    pod = kubelet(apply(pod, gate_true))
    assert cond(pod, "Ready")["status"] == "True"
    assert refresh(pod, NOW + timedelta(seconds=6)) is None  # nothing more: 3 writes in total


def test_metadata_only_update_completes_at_once() -> None:
    old = template(labels={"app": "web", "tier": "1"})
    new = template(labels={"app": "web", "tier": "2"})
    spec = calculate_update_spec(revision("r1", old), revision("r2", new))
    assert spec is not None and spec.container_images == {}
    pod = pod_from(old, "r1")
    writes = start_update(pod, spec, NOW)
    assert len(writes) == 2 and writes[1].spec_patch is None  # still goes NotReady briefly
    for w in writes:
        pod = apply(pod, w)
    assert pod["metadata"]["labels"]["tier"] == "2"
    state = state_of(pod)
    assert state == {
        "revision": "r2",
        "updateTimestamp": "2025-01-01T00:00:00Z",
        "containerBatchesRecord": [{"timestamp": "2025-01-01T00:00:00Z", "containers": []}],
    }
    assert check_completed(pod)
    fin = refresh(pod, NOW)
    assert (
        fin is not None and fin.status_conditions is not None and fin.status_conditions[0]["status"] == "True"
    )


def test_env_from_label_update() -> None:
    containers = [container("app", "app:1", env=_ENV_LABEL), container("side", "side:1")]
    old = template(containers, labels={"app": "web", "ver": "1"})
    new = template(containers, labels={"app": "web", "ver": "2"})
    spec = calculate_update_spec(revision("r1", old), revision("r2", new))
    assert spec is not None and spec.update_env_from_metadata
    pod = pod_from(old, "r1")
    writes = start_update(pod, spec, NOW)
    body = writes[-1].pod_patch()
    assert body is not None and "spec" not in body
    assert body["metadata"]["labels"] == {REVISION_LABEL: "r2", "ver": "2"}
    state = json.loads(body["metadata"]["annotations"][STATE_ANNOTATION])
    assert state["updateEnvFromMetadata"] is True and "updateImages" not in state
    assert state["containerBatchesRecord"][0]["containers"] == ["app"]  # the container restarts
    for w in writes:
        pod = apply(pod, w)
    assert check_completed(pod)  # no kruise-daemon hashes to wait for


def test_grace_period_flow() -> None:
    old = template()
    new = template([container(image="nginx:1.25")])
    spec = calculate_update_spec(revision("r1", old), revision("r2", new), grace_seconds=10)
    assert spec is not None
    pod = pod_from(old, "r1")
    writes = start_update(pod, spec, NOW)
    # One write starts the grace period: gate False, and in the same pods/status write the
    # revision label, the state and the grace annotation (nothing in the spec changes yet).
    assert len(writes) == 1
    grace_write = writes[0]
    assert grace_write.pod_patch() is None and grace_write.requeue_after == 10.0
    assert grace_write.status_conditions is not None and grace_write.status_conditions[0]["status"] == "False"
    patch = grace_write.status_patch()
    assert patch is not None and set(patch) == {"metadata", "status"}
    assert patch["metadata"]["labels"] == {REVISION_LABEL: "r2"}
    ann = patch["metadata"]["annotations"]
    assert UpdateSpec.from_json(ann[GRACE_ANNOTATION]) == spec
    assert json.loads(ann[STATE_ANNOTATION]) == {
        "revision": "r2",
        "updateTimestamp": "2025-01-01T00:00:00Z",
        "updateImages": True,
    }
    for w in writes:
        pod = apply(pod, w)
    assert pod["spec"]["containers"][0]["image"] == "nginx:1.24"
    assert pod["metadata"]["labels"][REVISION_LABEL] == "r2"
    assert not check_completed(pod) and update_in_progress(pod)

    early = refresh(pod, NOW + timedelta(seconds=4, milliseconds=500))
    assert early == PodWrites(requeue_after=6.0)
    assert refresh(pod, NOW + timedelta(seconds=9)) == PodWrites(requeue_after=1.0)

    due = refresh(pod, NOW + timedelta(seconds=10))
    assert due is not None and due.status_conditions is None and due.requeue_after is None
    body = due.pod_patch()
    assert body is not None
    assert body["spec"] == {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}
    assert body["metadata"]["annotations"][GRACE_ANNOTATION] is None
    pod = apply(pod, due)
    assert state_of(pod) == {
        "revision": "r2",
        "updateTimestamp": "2025-01-01T00:00:00Z",
        "lastContainerStatuses": {"nginx": {"imageID": OLD_ID}},
        "updateImages": True,
        "containerBatchesRecord": [{"timestamp": "2025-01-01T00:00:10Z", "containers": ["nginx"]}],
    }
    assert GRACE_ANNOTATION not in pod["metadata"]["annotations"]
    assert not check_completed(pod) and refresh(pod, NOW + timedelta(seconds=11)) is None
    pod = kubelet(pod)
    fin = refresh(pod, NOW + timedelta(seconds=12))
    assert (
        fin is not None and fin.status_conditions is not None and fin.status_conditions[0]["status"] == "True"
    )
    # the write budget holds with a grace period too: start, deferred spec patch, gate True
    assert sum(w.write_count() for w in [*writes, due, fin]) == 3


def test_grace_period_without_gate_starts_with_a_pod_patch() -> None:
    old = template()
    spec = calculate_update_spec(
        revision("r1", old), revision("r2", template([container(image="nginx:1.25")])), grace_seconds=10
    )
    assert spec is not None
    (start,) = start_update(pod_from(old, "r1", gate=False), spec, NOW)
    assert start.status_conditions is None and start.status_metadata is None
    body = start.pod_patch()
    assert body is not None and "spec" not in body and GRACE_ANNOTATION in body["metadata"]["annotations"]


def test_carry_metadata_rides_on_the_write_a_step_already_makes() -> None:
    meta = {"labels": {"k": "v"}, "annotations": {"a": "1"}}
    status = PodWrites(status_conditions=[{"type": INPLACE_UPDATE_READY, "status": "True"}])
    assert status.carry_metadata(meta)
    assert status.status_patch() == {"metadata": meta, "status": {"conditions": status.status_conditions}}
    assert status.write_count() == 1
    pod = PodWrites(
        metadata_patch={"metadata": {"labels": {"x": "y"}}}, spec_patch={"spec": {"containers": []}}
    )
    assert pod.carry_metadata(meta)
    assert pod.pod_patch() == {
        "metadata": {"labels": {"x": "y", "k": "v"}, "annotations": {"a": "1"}},
        "spec": {"containers": []},
    }
    assert pod.write_count() == 1
    assert not PodWrites(requeue_after=3.0).carry_metadata(meta)


def test_grace_dropped_when_revision_moved_on() -> None:
    old = template()
    spec = calculate_update_spec(
        revision("r1", old), revision("r2", template([container(image="n:2")])), grace_seconds=30
    )
    assert spec is not None
    pod = pod_from(old, "r1")
    for w in start_update(pod, spec, NOW):
        pod = apply(pod, w)
    pod["metadata"]["labels"][REVISION_LABEL] = "r3"
    fin = refresh(pod, NOW + timedelta(seconds=1))
    assert fin is not None and fin.pod_patch() == {"metadata": {"annotations": {GRACE_ANNOTATION: None}}}


def test_grace_without_state_is_due_at_once() -> None:
    pod = pod_from(template(), "r2")
    pod["metadata"]["annotations"][GRACE_ANNOTATION] = UpdateSpec(
        revision="r2", container_images={"nginx": "nginx:9"}, grace_seconds=5
    ).to_json()
    due = refresh(pod, NOW)
    assert due is not None and due.spec_patch == {
        "spec": {"containers": [{"name": "nginx", "image": "nginx:9"}]}
    }
    pod = apply(pod, due)
    assert state_of(pod)["updateTimestamp"] == "2025-01-01T00:00:00Z"
    assert GRACE_ANNOTATION not in pod["metadata"]["annotations"]


def test_legacy_grace_key_is_read() -> None:
    pod = pod_from(template(), "r2")
    spec = UpdateSpec(revision="r2", container_images={"nginx": "nginx:9"}, grace_seconds=5)
    pod["metadata"]["annotations"][LEGACY_GRACE_ANNOTATION] = spec.to_json()
    pod["metadata"]["annotations"][LEGACY_STATE_ANNOTATION] = json.dumps(
        {"revision": "r2", "updateTimestamp": "2025-01-01T00:00:00Z"}
    )
    assert not check_completed(pod)
    assert refresh(pod, NOW + timedelta(seconds=2)) == PodWrites(requeue_after=3.0)
    due = refresh(pod, NOW + timedelta(seconds=5))
    assert due is not None and due.pod_patch() is not None
    ann = due.pod_patch()["metadata"]["annotations"]  # type: ignore[index]
    assert ann[LEGACY_GRACE_ANNOTATION] is None and ann[LEGACY_STATE_ANNOTATION] is None
    assert STATE_ANNOTATION in ann


# --------------------------------------------------------------------------------------------------
# check_completed


def _updated_pod(spec_image: str, status_image: str, *, status_id: str = OLD_ID) -> dict[str, Any]:
    pod = pod_from(template([container(image=spec_image)]), "r2")
    pod["status"]["containerStatuses"][0].update(image=status_image, imageID=status_id)
    pod["metadata"]["annotations"][STATE_ANNOTATION] = json.dumps(
        {
            "revision": "r2",
            "updateTimestamp": "2025-01-01T00:00:00Z",
            "lastContainerStatuses": {"nginx": {"imageID": OLD_ID}},
        }
    )
    return pod


@pytest.mark.parametrize(
    ("spec_image", "status_image", "status_id", "done"),
    [
        ("nginx:1.25", "nginx:1.24", OLD_ID, False),  # not restarted yet
        ("nginx:1.25", "nginx:1.25", NEW_ID, True),  # restarted
        ("nginx:1.25", "nginx:1.24", NEW_ID, True),  # imageID changed is enough
        ("nginx:1.25", "nginx:1.25", OLD_ID, True),  # same digest under a new tag
        ("nginx", "nginx:latest", OLD_ID, True),  # untagged means :latest
        ("nginx", "docker.io/library/nginx:latest", OLD_ID, True),
        ("nginx", "nginx:1.24", OLD_ID, False),
        ("host:5000/img", "host:5000/img:latest", OLD_ID, True),  # a port is not a tag
        ("host:5000/img:2", "host:5000/img:1", OLD_ID, False),
        ("nginx@sha256:" + "c" * 64, "nginx@sha256:" + "c" * 64, OLD_ID, True),  # digests get no :latest
        ("nginx@sha256:" + "c" * 64, "nginx:latest", OLD_ID, False),
    ],
)
def test_check_completed_images(spec_image: str, status_image: str, status_id: str, done: bool) -> None:
    pod = _updated_pod(spec_image, status_image, status_id=status_id)
    assert check_completed(pod) is done
    assert update_in_progress(pod) is not done


def test_check_completed_edge_cases() -> None:
    pod = _updated_pod("nginx:1.25", "nginx:1.25", status_id=NEW_ID)
    assert check_completed(pod)
    missing = copy.deepcopy(pod)
    missing["status"]["containerStatuses"] = []
    assert not check_completed(missing)  # every recorded container needs a status
    no_state = copy.deepcopy(pod)
    del no_state["metadata"]["annotations"][STATE_ANNOTATION]
    assert check_completed(no_state)
    legacy = copy.deepcopy(missing)
    legacy["metadata"]["annotations"][LEGACY_STATE_ANNOTATION] = legacy["metadata"]["annotations"].pop(
        STATE_ANNOTATION
    )
    assert not check_completed(legacy)
    garbage = copy.deepcopy(pod)
    garbage["metadata"]["annotations"][STATE_ANNOTATION] = "{not json"
    assert not check_completed(garbage)
    grace = copy.deepcopy(pod)
    grace["metadata"]["annotations"][GRACE_ANNOTATION] = UpdateSpec(revision="r2").to_json()
    assert not check_completed(grace)
    batches = copy.deepcopy(pod)
    batches["metadata"]["annotations"][STATE_ANNOTATION] = json.dumps(
        {"revision": "r2", "updateTimestamp": "2025-01-01T00:00:00Z", "nextContainerImages": {"side": "s:2"}}
    )
    assert not check_completed(batches)


@pytest.mark.parametrize(
    ("ref", "normal"),
    [
        ("nginx", "docker.io/library/nginx:latest"),
        ("nginx:1.25", "docker.io/library/nginx:1.25"),
        ("library/nginx", "docker.io/library/nginx:latest"),
        ("user/app:v1", "docker.io/user/app:v1"),
        ("index.docker.io/user/app", "docker.io/user/app:latest"),
        ("host:5000/img", "host:5000/img:latest"),
        ("host:5000/ns/img:2", "host:5000/ns/img:2"),
        ("localhost/img", "localhost/img:latest"),
        ("ghcr.io/o/i@sha256:" + "d" * 64, "ghcr.io/o/i@sha256:" + "d" * 64),
        ("nginx:1@sha256:" + "d" * 64, "docker.io/library/nginx:1@sha256:" + "d" * 64),
    ],
)
def test_normalize_image(ref: str, normal: str) -> None:
    assert inplace.normalize_image(ref) == normal


@given(
    st.from_regex(
        r"\A([a-z]{1,5}(\.[a-z]{1,3})?(:[0-9]{2,4})?/)?[a-z]{1,5}(/[a-z]{1,4})?(:[a-z0-9.]{1,5})?\Z"
    )
)
def test_normalize_image_is_idempotent(ref: str) -> None:
    once = inplace.normalize_image(ref)
    assert inplace.normalize_image(once) == once
    assert once.rsplit("/", 1)[-1].count(":") == 1  # always exactly one tag


# --------------------------------------------------------------------------------------------------
# Resize end to end


def test_resize_flow_waits_for_spec_and_status() -> None:
    old_c = container(resources=_res({"cpu": "100m", "memory": "64Mi"}))
    new_c = container(resources=_res({"cpu": "200m", "memory": "64Mi"}))
    spec = calculate_update_spec(
        revision("r1", template([old_c])), revision("r2", template([new_c])), allow_resize=True
    )
    assert spec is not None and spec.is_vertical_only()
    pod = pod_from(template([old_c]), "r1")
    pod["status"]["containerStatuses"][0]["resources"] = copy.deepcopy(old_c["resources"])
    writes = start_update(pod, spec, NOW)
    assert len(writes) == 1  # resources only, no RestartContainer policy: stays Ready
    w = writes[0]
    assert w.spec_patch is None
    assert w.resize_patch == {
        "spec": {
            "containers": [{"name": "nginx", "resources": {"requests": {"cpu": "200m", "memory": "64Mi"}}}]
        }
    }
    assert w.write_count() == 2  # pod patch + resize subresource
    state = json.loads(w.pod_patch()["metadata"]["annotations"][STATE_ANNOTATION])  # type: ignore[index]
    assert state["updateResources"] is True
    assert state["lastContainerStatuses"] == {
        "nginx": {"resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}
    }

    only_meta = apply(pod, PodWrites(metadata_patch=w.metadata_patch))
    assert not check_completed(only_meta)  # the resize has not reached the spec yet
    resized = apply(pod, w)
    assert not check_completed(resized)  # the kubelet has not actuated it
    resized["status"]["containerStatuses"][0]["resources"] = {"requests": {"cpu": "0.2", "memory": "64Mi"}}
    assert check_completed(resized)


def test_resize_with_restart_policy_goes_not_ready() -> None:
    policy = [{"resourceName": "memory", "restartPolicy": "RestartContainer"}]
    old_c = container(resources=_res({"cpu": "100m", "memory": "64Mi"}), resizePolicy=policy)
    for new_res, unready in [
        ({"cpu": "100m", "memory": "128Mi"}, True),
        ({"cpu": "200m", "memory": "64Mi"}, False),
    ]:
        new_c = container(resources=_res(new_res), resizePolicy=policy)
        spec = calculate_update_spec(
            revision("r1", template([old_c])), revision("r2", template([new_c])), allow_resize=True
        )
        assert spec is not None
        writes = start_update(pod_from(template([old_c]), "r1"), spec, NOW)
        assert bool(writes[0].status_conditions) is unready


# --------------------------------------------------------------------------------------------------
# refresh on pods that are not updating


def test_refresh_sets_gate_true_on_fresh_pod() -> None:
    pod = pod_from(template(), "r1")
    pod["status"]["conditions"] = [
        c for c in pod["status"]["conditions"] if c["type"] != INPLACE_UPDATE_READY
    ]
    w = refresh(pod, NOW)
    assert w == PodWrites(
        status_conditions=[
            {
                "type": INPLACE_UPDATE_READY,
                "status": "True",
                "reason": "",
                "message": "",
                "lastTransitionTime": "2025-01-01T00:00:00Z",
            }
        ]
    )


@pytest.mark.parametrize(
    ("gate", "condition", "writes"),
    [
        (True, {"type": INPLACE_UPDATE_READY, "status": "True"}, False),
        (True, {"type": INPLACE_UPDATE_READY, "status": "True", "reason": "Other"}, True),
        (True, {"type": INPLACE_UPDATE_READY, "status": "False", "reason": "StartInPlaceUpdate"}, True),
        (False, None, False),
    ],
)
def test_refresh_gate(gate: bool, condition: dict[str, Any] | None, writes: bool) -> None:
    pod = pod_from(template(), "r1", gate=gate)
    pod["status"]["conditions"] = [
        c for c in pod["status"]["conditions"] if c["type"] != INPLACE_UPDATE_READY
    ]
    if condition:
        pod["status"]["conditions"].append(condition)
    assert (refresh(pod, NOW) is not None) is writes


def test_accessors() -> None:
    pod = pod_from(template(), "r1")
    assert inplace.has_gate(pod)
    assert inplace.gate_condition(pod) == {"type": INPLACE_UPDATE_READY, "status": "True"}
    assert not inplace.has_gate(pod_from(template(), "r1", gate=False))
    assert inplace.gate_condition({}) is None
    assert inplace.read_state(pod) is None and inplace.grace_spec(pod) is None


# --------------------------------------------------------------------------------------------------
# Invariants


_keys = st.sampled_from(["a", "b", "c", "example.com/d", "e~f"])
_vals = st.sampled_from(["1", "2", "3"])


@given(
    old=st.dictionaries(_keys, _vals),
    new=st.dictionaries(_keys, _vals),
    images=st.lists(st.booleans(), min_size=1, max_size=4),
)
def test_metadata_patch_turns_old_labels_into_new(
    old: dict[str, str], new: dict[str, str], images: list[bool]
) -> None:
    old_cs = [container(f"c{i}", "img:1") for i in range(len(images))]
    new_cs = [container(f"c{i}", "img:2" if changed else "img:1") for i, changed in enumerate(images)]
    spec = calculate_update_spec(
        revision("r1", template(old_cs, labels=old)), revision("r2", template(new_cs, labels=new))
    )
    assert spec is not None
    assert spec.container_images == {f"c{i}": "img:2" for i, changed in enumerate(images) if changed}
    patched = dict(old)
    _merge_map(patched, spec.metadata_patch.get("labels", {}))
    assert patched == new


@given(
    old=st.dictionaries(_keys, _vals),
    new=st.dictionaries(_keys, _vals),
    gate=st.booleans(),
    changed=st.booleans(),
)
def test_applied_update_lands_at_the_new_revision(
    old: dict[str, str], new: dict[str, str], gate: bool, changed: bool
) -> None:
    """After start_update's writes and the kubelet, the pod matches the new template, the update is
    complete, and at most one more write (the gate) follows: ≤ 3 writes per pod."""
    new_image = "nginx:1.25" if changed else "nginx:1.24"
    old_t = template(labels=old)
    new_t = template([container(image=new_image)], labels=new)
    spec = calculate_update_spec(revision("r1", old_t), revision("r2", new_t))
    assert spec is not None
    pod = pod_from(old_t, "r1", gate=gate)
    writes = start_update(pod, spec, NOW)
    total = sum(w.write_count() for w in writes)
    for w in writes:
        pod = apply(pod, w)
    pod = kubelet(pod)
    assert check_completed(pod)
    assert pod["spec"]["containers"][0]["image"] == new_image
    assert {k: v for k, v in pod["metadata"]["labels"].items() if k != REVISION_LABEL} == new
    last = refresh(pod, NOW)
    total += last.write_count() if last else 0
    assert total <= (3 if gate else 1)
    if last:
        pod = apply(pod, last)
    assert refresh(pod, NOW) is None

"""crds/: generated from the models + the OpenAPI snapshot, up to date, shaped as OpenKruise serves them,
and structural (the apiserver's rules for CRD schemas, checked here without an apiserver)."""

from __future__ import annotations

import copy
import functools
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = ROOT / "crds"
GEN = ROOT / "hack" / "gen_crds.py"
GROUP = "apps.kruise.io"


def _load_gen() -> Any:
    spec = importlib.util.spec_from_file_location("gen_crds", GEN)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


gen = _load_gen()
# The files are large (the full pod schema, twice for StatefulSet): parse with libyaml when present.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def _load(path: Path) -> list[Any]:
    return [d for d in yaml.load_all(path.read_text(), Loader=_Loader) if d]


def _crd(plural: str) -> dict[str, Any]:
    docs = _load(CRD_DIR / f"{GROUP}_{plural}.yaml")
    assert len(docs) == 1
    return copy.deepcopy(docs[0])


def _versions(plural: str) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in _crd(plural)["spec"]["versions"]}


def _schema(plural: str, version: str) -> dict[str, Any]:
    return _versions(plural)[version]["schema"]["openAPIV3Schema"]


def _at(schema: dict[str, Any], path: str) -> dict[str, Any]:
    """Walk a dotted path through properties ([] steps into array items)."""
    node = schema
    for part in path.split("."):
        if part == "[]":
            node = node["items"]
        else:
            node = node["properties"][part]
    return node


# ------------------------------------------------------------------------------------------------
# Up to date


def test_crds_are_up_to_date_with_models_and_snapshot() -> None:
    out = gen.outputs()
    assert sorted(p.name for p in out) == sorted(p.name for p in CRD_DIR.glob("*.yaml"))
    for path, text in out.items():
        assert path.read_text() == text, f"{path.name} is stale: run python hack/gen_crds.py"


def test_check_flag_reports_up_to_date() -> None:
    r = subprocess.run([sys.executable, str(GEN), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_generation_is_deterministic() -> None:
    snap = gen.load_snapshot()
    assert gen.build(snap) == gen.build(snap)


def test_snapshot_is_trimmed_to_what_we_embed() -> None:
    snap = gen.load_snapshot()
    names = set(snap["schemas"])
    assert (
        "io.k8s.api.core.v1.PodTemplateSpec" in names and "io.k8s.api.core.v1.PersistentVolumeClaim" in names
    )
    # Nothing unrelated (Service, Node, ...) and nothing behind ObjectMeta (managedFields, ownerReferences).
    assert not any(n.endswith((".Service", ".Node", ".ManagedFieldsEntry", ".OwnerReference")) for n in names)
    assert gen.trim_openapi({"components": {"schemas": snap["schemas"]}}) == snap["schemas"]


# ------------------------------------------------------------------------------------------------
# Names, versions, subresources, columns


def test_statefulset_crd_shape() -> None:
    crd = _crd("statefulsets")
    assert crd["metadata"]["name"] == f"statefulsets.{GROUP}"
    spec = crd["spec"]
    assert spec["group"] == GROUP and spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "StatefulSet",
        "listKind": "StatefulSetList",
        "plural": "statefulsets",
        "singular": "statefulset",
        "shortNames": ["asts"],
    }
    # The operator owns spec.conversion (docs/decisions.md): re-applying the file never resets it.
    assert "conversion" not in spec
    versions = _versions("statefulsets")
    assert [(v["name"], v["served"], v["storage"]) for v in spec["versions"]] == [
        ("v1alpha1", True, False),
        ("v1beta1", True, True),
    ]
    columns = [
        (c["name"], c["type"], c["jsonPath"], c.get("priority", 0))
        for c in versions["v1beta1"]["additionalPrinterColumns"]
    ]
    assert columns == [
        ("DESIRED", "integer", ".spec.replicas", 0),
        ("CURRENT", "integer", ".status.replicas", 0),
        ("UPDATED", "integer", ".status.updatedReplicas", 0),
        ("READY", "integer", ".status.readyReplicas", 0),
        ("AGE", "date", ".metadata.creationTimestamp", 0),
        ("CONTAINERS", "string", ".spec.template.spec.containers[*].name", 1),
        ("IMAGES", "string", ".spec.template.spec.containers[*].image", 1),
    ]
    for v in versions.values():
        assert v["additionalPrinterColumns"] == versions["v1beta1"]["additionalPrinterColumns"]
        assert v["subresources"] == {
            "status": {},
            "scale": {
                "specReplicasPath": ".spec.replicas",
                "statusReplicasPath": ".status.replicas",
                "labelSelectorPath": ".status.labelSelector",
            },
        }


def test_statefulset_does_not_take_the_core_short_name() -> None:
    text = (CRD_DIR / f"{GROUP}_statefulsets.yaml").read_text()
    assert "sts" not in _crd("statefulsets")["spec"]["names"]["shortNames"]
    assert "shadows the core" in text  # the deliberate difference is explained in the file


def test_broadcastjob_crd_shape() -> None:
    spec = _crd("broadcastjobs")["spec"]
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "BroadcastJob",
        "listKind": "BroadcastJobList",
        "plural": "broadcastjobs",
        "singular": "broadcastjob",
        "shortNames": ["bcj"],
    }
    assert "conversion" not in spec
    assert [(v["name"], v["served"], v["storage"]) for v in spec["versions"]] == [
        ("v1alpha1", True, False),
        ("v1beta1", True, True),
    ]
    alpha, beta = spec["versions"]
    # Identical schemas (OpenKruise 1.9 apis/apps/v1beta1/broadcastjob_types.go is a copy of v1alpha1's).
    assert alpha["schema"] == _undescribed(beta["schema"])
    v = beta
    assert alpha["additionalPrinterColumns"] == v["additionalPrinterColumns"]
    assert v["subresources"] == {"status": {}}
    assert [(c["name"], c["type"], c["jsonPath"]) for c in v["additionalPrinterColumns"]] == [
        ("Desired", "integer", ".status.desired"),
        ("Active", "integer", ".status.active"),
        ("Succeeded", "integer", ".status.succeeded"),
        ("Failed", "integer", ".status.failed"),
        ("AGE", "date", ".metadata.creationTimestamp"),
    ]


def test_sidecarset_crd_shape() -> None:
    spec = _crd("sidecarsets")["spec"]
    assert spec["scope"] == "Cluster"
    assert spec["names"] == {
        "kind": "SidecarSet",
        "listKind": "SidecarSetList",
        "plural": "sidecarsets",
        "singular": "sidecarset",
    }
    assert "conversion" not in spec  # the operator sets its conversion webhook
    assert [(v["name"], v["served"], v["storage"]) for v in spec["versions"]] == [
        ("v1alpha1", True, False),
        ("v1beta1", True, True),
    ]
    alpha, beta = spec["versions"]
    a_spec = alpha["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    b_spec = beta["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert set(a_spec) - set(b_spec) == {"namespace"} and set(b_spec) - set(a_spec) == {"customVersion"}
    v = beta
    assert alpha["additionalPrinterColumns"] == v["additionalPrinterColumns"]
    assert v["subresources"] == {"status": {}}
    assert [(c["name"], c["type"], c["jsonPath"]) for c in v["additionalPrinterColumns"]] == [
        ("MATCHED", "integer", ".status.matchedPods"),
        ("UPDATED", "integer", ".status.updatedPods"),
        ("READY", "integer", ".status.readyPods"),
        ("AGE", "date", ".metadata.creationTimestamp"),
    ]


# ------------------------------------------------------------------------------------------------
# Schema content

V1ALPHA1_SPEC = {
    "replicas",
    "selector",
    "template",
    "volumeClaimTemplates",
    "serviceName",
    "podManagementPolicy",
    "updateStrategy",
    "revisionHistoryLimit",
}
V1BETA1_ONLY_SPEC = {
    "reserveOrdinals",
    "lifecycle",
    "scaleStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "ordinals",
    "volumeClaimUpdateStrategy",
}


def test_v1alpha1_statefulset_lists_only_its_fields() -> None:
    alpha, beta = _schema("statefulsets", "v1alpha1"), _schema("statefulsets", "v1beta1")
    assert set(_at(alpha, "spec")["properties"]) == V1ALPHA1_SPEC
    assert set(_at(beta, "spec")["properties"]) == V1ALPHA1_SPEC | V1BETA1_ONLY_SPEC
    alpha_status = set(_at(alpha, "status")["properties"])
    assert not alpha_status & {"updatedReadyReplicas", "updatedAvailableReplicas", "volumeClaims"}
    assert set(_at(beta, "status")["properties"]) == alpha_status | {
        "updatedReadyReplicas",
        "updatedAvailableReplicas",
        "volumeClaims",
    }
    for (
        f
    ) in V1ALPHA1_SPEC:  # the shared fields are identical (conversion strategy None), but for descriptions
        assert _at(alpha, f"spec.{f}") == _undescribed(_at(beta, f"spec.{f}"))


def test_required_fields_as_openkruise() -> None:
    beta = _schema("statefulsets", "v1beta1")
    assert _at(beta, "spec")["required"] == ["selector", "template"]
    assert _at(beta, "status")["required"] == [
        "availableReplicas",
        "currentReplicas",
        "readyReplicas",
        "replicas",
        "updatedReplicas",
    ]
    assert _at(_schema("broadcastjobs", "v1alpha1"), "spec")["required"] == ["template"]
    assert _at(_schema("sidecarsets", "v1alpha1"), "status")["required"] == [
        "matchedPods",
        "readyPods",
        "updatedPods",
    ]


def test_pod_template_has_the_core_schema() -> None:
    for plural, version in (
        ("statefulsets", "v1beta1"),
        ("statefulsets", "v1alpha1"),
        ("broadcastjobs", "v1beta1"),
        ("broadcastjobs", "v1alpha1"),
    ):
        s = _schema(plural, version)
        image = _at(s, "spec.template.spec.containers.[].image")
        assert image["type"] == "string"
        assert version == "v1alpha1" or "Container image name" in image["description"]
        assert _at(s, "spec.template.spec.containers.[].ports.[].containerPort")["type"] == "integer"
        assert _at(s, "spec.template.spec.containers")["x-kubernetes-list-map-keys"] == ["name"]
        assert "x-kubernetes-preserve-unknown-fields" not in _at(s, "spec.template.spec")
        meta = _at(s, "spec.template.metadata")
        assert meta["type"] == "object" and meta["x-kubernetes-preserve-unknown-fields"] is True
        assert meta["properties"]["labels"]["additionalProperties"] == {"type": "string"}
    claim = _at(_schema("statefulsets", "v1beta1"), "spec.volumeClaimTemplates.[]")
    assert "x-kubernetes-embedded-resource" not in claim  # would require apiVersion/kind in every item
    assert _at(claim, "spec.accessModes")["type"] == "array"
    assert _at(claim, "metadata")["x-kubernetes-preserve-unknown-fields"] is True


def test_sidecarset_containers_are_core_containers_plus_kruise_fields() -> None:
    s = _schema("sidecarsets", "v1beta1")
    for key in ("containers", "initContainers"):
        c = _at(s, f"spec.{key}.[]")
        assert c["required"] == ["name"]
        for core_field in ("image", "env", "volumeMounts", "resources", "restartPolicy"):
            assert core_field in c["properties"]
        for kruise_field in (
            "podInjectPolicy",
            "shareVolumePolicy",
            "shareVolumeDevicePolicy",
            "transferEnv",
            "upgradeStrategy",
            "resourcesPolicy",
        ):
            assert "description" in c["properties"][kruise_field], kruise_field
    assert "hostPath" in _at(s, "spec.volumes.[]")["properties"]
    assert set(_at(s, "spec.imagePullSecrets.[]")["properties"]) == {"name"}
    policy = _at(s, "spec.injectionStrategy.revision.policy")
    assert policy["default"] == "Always" and policy["enum"] == ["Always", "Partial"]


INT_OR_STRING_FIELDS = [
    ("statefulsets", "v1beta1", "spec.updateStrategy.rollingUpdate.maxUnavailable"),
    ("statefulsets", "v1alpha1", "spec.updateStrategy.rollingUpdate.maxUnavailable"),
    ("statefulsets", "v1beta1", "spec.scaleStrategy.maxUnavailable"),
    ("statefulsets", "v1beta1", "spec.reserveOrdinals.[]"),
    ("statefulsets", "v1beta1", "spec.template.spec.containers.[].readinessProbe.httpGet.port"),
    ("broadcastjobs", "v1alpha1", "spec.parallelism"),
    ("sidecarsets", "v1alpha1", "spec.updateStrategy.maxUnavailable"),
    ("sidecarsets", "v1alpha1", "spec.updateStrategy.partition"),
]


@pytest.mark.parametrize(("plural", "version", "path"), INT_OR_STRING_FIELDS)
def test_int_or_string_fields(plural: str, version: str, path: str) -> None:
    node = _at(_schema(plural, version), path)
    assert node.get("x-kubernetes-int-or-string") is True and "type" not in node


def test_int_formats() -> None:
    beta = _schema("statefulsets", "v1beta1")
    assert _at(beta, "spec.replicas")["format"] == "int32"
    assert _at(beta, "status.observedGeneration")["format"] == "int64"
    assert (
        _at(_schema("broadcastjobs", "v1alpha1"), "spec.completionPolicy.activeDeadlineSeconds")["format"]
        == "int64"
    )
    assert _at(_schema("broadcastjobs", "v1alpha1"), "status.startTime")["format"] == "date-time"


def test_kruise_fields_are_described() -> None:
    """kubectl explain shows descriptions: every kruise field has one (core fields bring their own)."""
    missing: list[str] = []

    def walk(node: dict[str, Any], path: str) -> None:
        if path.endswith((".template", ".volumeClaimTemplates")):
            return
        for name, prop in node.get("properties", {}).items():
            if not prop.get("description") and name not in ("metadata",):
                missing.append(f"{path}.{name}")
            walk(prop, f"{path}.{name}")
        if "items" in node:
            walk(node["items"], path + "[]")

    for plural in ("statefulsets", "broadcastjobs", "sidecarsets"):
        walk(_schema(plural, "v1beta1"), f"{plural}/v1beta1")
    assert not missing, missing


def test_only_the_storage_version_carries_descriptions() -> None:
    """The served v1alpha1 schemas are the v1beta1 ones minus descriptions (Helm's 1 MiB release
    Secret holds crds/; docs/decisions.md)."""
    for plural in ("statefulsets", "broadcastjobs", "sidecarsets"):
        assert "description" not in json.dumps(_schema(plural, "v1alpha1")).replace('"description": {', "")
        assert '"description"' in json.dumps(_schema(plural, "v1beta1"))


def _undescribed(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: _undescribed(v) for k, v in node.items() if not (k == "description" and isinstance(v, str))
        }
    if isinstance(node, list):
        return [_undescribed(v) for v in node]
    return node


def test_core_defaults_and_enums_are_not_carried_over() -> None:
    """Defaults would be applied by the apiserver (changing stored templates); core enums can be narrower
    than core validation (Toleration.effect has no ""), so neither is copied from the core schema."""
    found: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k in ("default", "enum"):
                if k in node:
                    found.append(f"{path}:{k}")
            for k, v in node.items():
                walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(_at(_schema("statefulsets", "v1beta1"), "spec.template"), "template")
    walk(_at(_schema("sidecarsets", "v1beta1"), "spec.containers"), "containers")
    # Kruise's own fields keep OpenKruise's CRD keywords (gen_crds.EXTRA): resourcesPolicy's.
    policy = "containers.items.properties.resourcesPolicy.properties"
    kruise = {f"{policy}.targetContainersMode:enum", f"{policy}.targetContainersNameRegex:default"}
    assert set(found) == kruise, found


def test_lists_core_accepts_duplicated_are_atomic() -> None:
    c = _at(_schema("statefulsets", "v1beta1"), "spec.template.spec.containers.[]")
    assert c["properties"]["env"]["x-kubernetes-list-type"] == "atomic"
    assert c["properties"]["ports"]["x-kubernetes-list-type"] == "atomic"
    assert c["properties"]["volumeMounts"]["x-kubernetes-list-map-keys"] == ["mountPath"]


# ------------------------------------------------------------------------------------------------
# Structural schema rules (k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation +
# pkg/apiserver/schema): checked independently of the generator.

ALLOWED_KEYS = {
    "description",
    "type",
    "format",
    "required",
    "properties",
    "items",
    "additionalProperties",
    "anyOf",
    "enum",
    "default",
    "nullable",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-validations",
}
INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]


def structural_errors(node: Any, path: str = "", root: bool = True) -> list[str]:
    errs: list[str] = []
    if not isinstance(node, dict):
        return [f"{path}: not a schema object"]
    unknown = set(node) - ALLOWED_KEYS
    if unknown:
        errs.append(f"{path}: keys not allowed in a structural schema: {sorted(unknown)}")
    int_or_string = node.get("x-kubernetes-int-or-string") is True
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    if "anyOf" in node and not (int_or_string and node["anyOf"] == INT_OR_STRING_ANY_OF):
        errs.append(f"{path}: anyOf only for int-or-string")
    if int_or_string and "type" in node:
        errs.append(f"{path}: int-or-string must not have a type")
    typ = node.get("type")
    if typ is None and not (int_or_string or preserve):
        errs.append(f"{path}: no type")
    if typ not in (None, "object", "array", "string", "integer", "number", "boolean"):
        errs.append(f"{path}: bad type {typ!r}")
    if "properties" in node and "additionalProperties" in node:
        errs.append(f"{path}: properties and additionalProperties together")
    if ("properties" in node or "additionalProperties" in node) and typ != "object":
        errs.append(f"{path}: properties on a non-object")
    if typ == "array" and "items" not in node:
        errs.append(f"{path}: array without items")
    if node.get("x-kubernetes-embedded-resource") and typ != "object":
        errs.append(f"{path}: embedded resource must be an object")
    if "x-kubernetes-map-type" in node and typ != "object":
        errs.append(f"{path}: map-type on a non-object")
    list_type = node.get("x-kubernetes-list-type")
    if list_type is not None:
        if typ != "array" or list_type not in ("atomic", "set", "map"):
            errs.append(f"{path}: bad list-type {list_type!r}")
        items = node.get("items", {})
        if list_type == "map":
            if items.get("type") != "object":
                errs.append(f"{path}: list-map items must be objects")
            for key in node.get("x-kubernetes-list-map-keys", []):
                prop = items.get("properties", {}).get(key)
                if prop is None or prop.get("type") not in ("string", "integer", "number", "boolean"):
                    errs.append(f"{path}: list-map key {key} must be a scalar property")
                elif key not in items.get("required", []) and "default" not in prop:
                    errs.append(f"{path}: list-map key {key} must be required or defaulted")
        elif "x-kubernetes-list-map-keys" in node:
            errs.append(f"{path}: list-map-keys without list-type map")
        if list_type == "set" and items.get("type") not in ("string", "integer", "number", "boolean"):
            errs.append(f"{path}: set items must be scalars")
    for name in node.get("required", []):
        if name not in node.get("properties", {}):
            errs.append(f"{path}: required {name} is not a property")
    if root:
        meta = node.get("properties", {}).get("metadata")
        if (
            meta is not None
            and set(meta) - {"type", "description"}
            and set(meta.get("properties", {})) - {"name", "generateName"}
        ):
            errs.append(f"{path}.metadata: the root metadata may only restrict name and generateName")
    for name, prop in node.get("properties", {}).items():
        errs += structural_errors(prop, f"{path}.{name}", root=False)
    if isinstance(node.get("items"), dict):
        errs += structural_errors(node["items"], f"{path}[]", root=False)
    elif "items" in node:
        errs.append(f"{path}: items must be one schema")
    if "additionalProperties" in node:
        ap = node["additionalProperties"]
        if not isinstance(ap, dict):
            errs.append(f"{path}: additionalProperties must be a schema")
        else:
            errs += structural_errors(ap, f"{path}{{}}", root=False)
    return errs


@pytest.mark.parametrize(
    ("plural", "version"),
    [
        ("statefulsets", "v1beta1"),
        ("statefulsets", "v1alpha1"),
        ("broadcastjobs", "v1alpha1"),
        ("sidecarsets", "v1alpha1"),
    ],
)
def test_schemas_are_structural(plural: str, version: str) -> None:
    schema = _schema(plural, version)
    assert "$ref" not in json.dumps(schema) and "$defs" not in json.dumps(schema)
    assert structural_errors(schema) == []


def test_structural_checker_catches_problems() -> None:
    assert structural_errors({"type": "object", "properties": {"a": {}}})  # no type
    assert structural_errors({"type": "object", "properties": {"a": {"$ref": "#/x"}}})
    assert structural_errors({"anyOf": [{"type": "integer"}, {"type": "null"}]})
    assert structural_errors(
        {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["k"],
            "items": {"type": "object", "properties": {"k": {"type": "string"}}},
        }
    )
    assert not structural_errors({"x-kubernetes-preserve-unknown-fields": True})


def test_crd_objects_fit_in_etcd() -> None:
    """etcd's request limit is ~1.5 MB; keep a margin for growth of the pod schema."""
    for path in CRD_DIR.glob("*.yaml"):
        size = len(json.dumps(_load(path)[0], separators=(",", ":")))
        assert size < 1_100_000, f"{path.name}: {size} bytes of JSON"


# ------------------------------------------------------------------------------------------------
# The converter refuses what it cannot express


def test_converter_rejects_list_map_keys_that_are_not_required() -> None:
    core = gen.CoreSchemas(
        {
            "x.T": {
                "type": "object",
                "properties": {
                    "l": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["k"],
                        "items": {"type": "object", "properties": {"k": {"type": "string", "default": "a"}}},
                    }
                },
            }
        }
    )
    with pytest.raises(ValueError, match="list-map keys"):
        core.get("x.T")


def test_converter_rejects_unknown_openapi_keywords() -> None:
    core = gen.CoreSchemas(
        {"x.T": {"type": "object", "properties": {"a": {"type": "string", "x-new-thing": 1}}}}
    )
    with pytest.raises(ValueError, match="unsupported OpenAPI key"):
        core.get("x.T")


def test_converter_inlines_refs_with_the_property_description() -> None:
    core = gen.CoreSchemas(
        {
            "x.T": {
                "type": "object",
                "properties": {
                    "a": {
                        "description": "outer",
                        "default": {},
                        "allOf": [{"$ref": "#/components/schemas/x.U"}],
                    }
                },
            },
            "x.U": {
                "description": "inner",
                "type": "object",
                "properties": {"b": {"type": "integer", "format": "int32"}},
            },
        }
    )
    assert core.get("x.T") == {
        "type": "object",
        "properties": {
            "a": {
                "description": "outer",
                "type": "object",
                "properties": {"b": {"type": "integer", "format": "int32"}},
            }
        },
    }

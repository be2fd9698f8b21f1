"""Generate the three CRDs in crds/ from the pydantic models and a snapshot of the core pod schema.

    python hack/gen_crds.py                                   # write crds/ from the snapshot + models
    python hack/gen_crds.py --check                           # exit 1 (and print a diff) if crds/ is stale
    python hack/gen_crds.py --refresh-openapi --kubeconfig K  # re-take hack/openapi/ from a live apiserver

Where the schemas come from:
- kruise-specific spec/status fields: the models in kruise_py/api (walked field by field; field
  descriptions, int64 formats and required lists, which the models do not carry, are tables below);
- the pod template, PVC templates, SidecarSet containers/volumes/imagePullSecrets and label selectors:
  the apiserver's own OpenAPI v3 (``/openapi/v3/api/v1``), snapshotted, trimmed to what is reachable
  from the types we embed, in hack/openapi/api-v1.json.

OpenKruise leaves ``spec.template`` schemaless. We embed the full core schema instead, so
``kubectl explain asts.spec.template.spec.containers.image`` answers and a wrong type or an unknown
field in a template is rejected by the apiserver with its field path. Everything else (names,
versions, subresources, printer columns, required fields) is as OpenKruise serves it, except the
short name ``sts``, which we do not register (it shadows the core StatefulSet in kubectl).

The OpenAPI -> structural-schema conversion (``CoreSchemas``) is deliberately never stricter than the
core API itself, because a manifest that the core StatefulSet/Deployment accepts must be accepted here:
- ``$ref``/``allOf`` are inlined (the property's own description wins over the type's);
- ``default`` is dropped: a CRD default would be applied by the apiserver and change the stored
  template; pod-spec defaults are the webhook's job, as in OpenKruise (spec §9 P20);
- ``enum`` is dropped: core enums are informational and sometimes narrower than core validation
  (Toleration.effect omits "", which core accepts). The allowed values stay in the description;
- IntOrString -> ``x-kubernetes-int-or-string``; Quantity -> ``x-kubernetes-preserve-unknown-fields``
  with no type, because core accepts numbers such as ``cpu: 0.5``, which int-or-string would reject;
- list-map / set list types are kept only where core rejects duplicates too; where core merely warns
  (env, ports, hostAliases, imagePullSecrets, exit-code values) a CRD list-map would turn that warning
  into an error, so those lists become ``atomic`` (see ``DUPLICATES_TOLERATED``);
- ``metadata`` of the pod template and of PVC templates is ``type: object`` with labels, annotations
  and name typed and other keys preserved: the apiserver only prunes/validates ObjectMeta at the root
  and in ``x-kubernetes-embedded-resource`` objects, and the latter would require ``apiVersion`` and
  ``kind`` in every volumeClaimTemplates item, which OpenKruise/core manifests omit. Preserving the
  rest keeps ``creationTimestamp: null`` (as written by ``kubectl create --dry-run -o yaml``) working;
- strategic-merge-patch and union markers (``x-kubernetes-patch-*``, ``x-kubernetes-unions``) are not
  CRD schema keywords and are dropped.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import subprocess
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pydantic import BaseModel  # noqa: E402

from kruise_py.api import broadcastjob, common, sidecarset, statefulset  # noqa: E402

SNAPSHOT = ROOT / "hack" / "openapi" / "api-v1.json"
CRD_DIR = ROOT / "crds"
GROUP = common.GROUP
Schema = dict[str, Any]

# ---------------------------------------------------------------------------------------------------
# The OpenAPI snapshot

CORE = "io.k8s.api.core.v1."
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
OBJECT_META = META + "ObjectMeta"

# The types we embed; the snapshot holds these and everything they reference (ObjectMeta is kept
# for its field descriptions but not followed: we never embed its full schema).
SNAPSHOT_ROOTS = (
    CORE + "PodTemplateSpec",
    CORE + "PersistentVolumeClaim",
    CORE + "Container",
    CORE + "Volume",
    CORE + "LocalObjectReference",
    CORE + "ObjectFieldSelector",
    META + "LabelSelector",
    INT_OR_STRING,
    OBJECT_META,
)
SNAPSHOT_LEAVES = {OBJECT_META}


def _refs(node: Any) -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                out.append(v.rsplit("/", 1)[-1])
            else:
                out.extend(_refs(v))
    elif isinstance(node, list):
        for v in node:
            out.extend(_refs(v))
    return out


def trim_openapi(doc: dict[str, Any]) -> dict[str, Schema]:
    """The schemas reachable from SNAPSHOT_ROOTS (stopping at SNAPSHOT_LEAVES), verbatim."""
    schemas = doc["components"]["schemas"]
    keep: dict[str, Schema] = {}
    stack = list(SNAPSHOT_ROOTS)
    while stack:
        name = stack.pop()
        if name in keep:
            continue
        keep[name] = schemas[name]
        if name not in SNAPSHOT_LEAVES:
            stack.extend(_refs(schemas[name]))
    return dict(sorted(keep.items()))


def _kubectl(kubectl: str, kubeconfig: str, *args: str) -> str:
    res = subprocess.run(
        [kubectl, f"--kubeconfig={kubeconfig}", *args], capture_output=True, text=True, timeout=120
    )
    if res.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed: {res.stderr.strip()}")
    return res.stdout


def refresh_openapi(kubeconfig: str, kubectl: str | None) -> None:
    if kubectl is None:
        try:
            from kruise_py.sandbox import binaries

            kubectl = str(binaries.find(build=False).kubectl)
        except Exception:
            kubectl = "kubectl"
    doc = json.loads(_kubectl(kubectl, kubeconfig, "get", "--raw", "/openapi/v3/api/v1"))
    version = json.loads(_kubectl(kubectl, kubeconfig, "get", "--raw", "/version"))
    snap = {
        "source": "kube-apiserver GET /openapi/v3/api/v1, trimmed by hack/gen_crds.py --refresh-openapi",
        "gitVersion": version.get("gitVersion"),
        "roots": list(SNAPSHOT_ROOTS),
        "schemas": trim_openapi(doc),
    }
    SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
    SNAPSHOT.write_text(json.dumps(snap, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    print(f"wrote {SNAPSHOT.relative_to(ROOT)} ({len(snap['schemas'])} schemas, {version.get('gitVersion')})")


# ---------------------------------------------------------------------------------------------------
# OpenAPI v3 (core) -> Kubernetes structural schema

# (schema, property) lists whose items core accepts duplicated (with a warning at most); a CRD
# list-map/set would reject the duplicates, so these become atomic lists. Checked against the
# 1.36 apiserver: a Pod with duplicate env names, ports, hostAliases ips, imagePullSecrets or
# exit-code values is created; duplicate container/volume names, mountPaths, devicePaths, resource
# claims, scheduling gates and spread constraints are rejected (so those keep their list-map).
DUPLICATES_TOLERATED = {
    (CORE + "Container", "env"),
    (CORE + "Container", "ports"),
    (CORE + "EphemeralContainer", "env"),
    (CORE + "EphemeralContainer", "ports"),
    (CORE + "PodSpec", "hostAliases"),
    (CORE + "PodSpec", "imagePullSecrets"),
    (CORE + "ContainerRestartRuleOnExitCodes", "values"),
}

# Keys copied as they are; anything not listed here or handled below is an error, so that a refreshed
# snapshot using a new construct fails loudly instead of producing a schema the apiserver rejects.
_PASS = {"description", "type", "format", "required", "x-kubernetes-map-type", "nullable"}
_DROP = {
    "default",
    "enum",
    "x-kubernetes-patch-merge-key",
    "x-kubernetes-patch-strategy",
    "x-kubernetes-unions",
    "x-kubernetes-group-version-kind",
}
# Formats the CRD validator knows; others (e.g. "int-or-string") are dropped.
_FORMATS = {
    "int32",
    "int64",
    "float",
    "double",
    "byte",
    "date-time",
    "date",
    "duration",
    "uri",
    "uuid",
    "email",
}

INT_OR_STRING_SCHEMA: Schema = {
    "anyOf": [{"type": "integer"}, {"type": "string"}],
    "x-kubernetes-int-or-string": True,
}
EMBEDDED_META_FIELDS = ("annotations", "labels", "name")


class CoreSchemas:
    def __init__(self, schemas: dict[str, Schema]) -> None:
        self.schemas = schemas

    def get(self, name: str, description: str | None = None) -> Schema:
        """The structural schema of a named core type, fully inlined."""
        out = self._named(name, ())
        if description is not None:
            out["description"] = description
        return out

    def _named(self, name: str, stack: tuple[str, ...]) -> Schema:
        if name in stack:
            raise ValueError(f"recursive schema {' -> '.join((*stack, name))}")
        src = self.schemas[name]
        if name == INT_OR_STRING:
            return {"description": src["description"], **copy.deepcopy(INT_OR_STRING_SCHEMA)}
        if name == QUANTITY:
            return {"description": src["description"], "x-kubernetes-preserve-unknown-fields": True}
        if name == OBJECT_META:
            props = src["properties"]
            return {
                "description": src["description"],
                "type": "object",
                "properties": {k: self._node(props[k], name, k, stack) for k in EMBEDDED_META_FIELDS},
                "x-kubernetes-preserve-unknown-fields": True,
            }
        return self._node(src, name, None, (*stack, name))

    def _node(self, node: Schema, owner: str, prop: str | None, stack: tuple[str, ...]) -> Schema:
        ref = node.get("$ref")
        all_of = node.get("allOf")
        if all_of is not None:
            if len(all_of) != 1 or set(all_of[0]) != {"$ref"}:
                raise ValueError(f"{owner}.{prop}: unsupported allOf {all_of}")
            ref = all_of[0]["$ref"]
        if ref is not None:
            out = self._named(ref.rsplit("/", 1)[-1], stack)
            if "description" in node:
                out["description"] = node["description"]
            extra = set(node) - {"$ref", "allOf", "description"} - _DROP
            if extra:
                raise ValueError(f"{owner}.{prop}: keys next to $ref: {sorted(extra)}")
            return out
        out: Schema = {}
        for key, value in node.items():
            if key in _DROP or key in ("x-kubernetes-list-type", "x-kubernetes-list-map-keys"):
                continue
            if key == "format":
                if value in _FORMATS:
                    out[key] = value
            elif key in _PASS:
                out[key] = copy.deepcopy(value)
            elif key == "properties":
                out[key] = {k: self._node(v, owner, k, stack) for k, v in value.items()}
            elif key == "items":
                out[key] = self._node(value, owner, prop, stack)
            elif key == "additionalProperties":
                if not isinstance(value, dict):
                    raise ValueError(f"{owner}.{prop}: additionalProperties must be a schema")
                out[key] = self._node(value, owner, prop, stack)
            else:
                raise ValueError(f"{owner}.{prop}: unsupported OpenAPI key {key!r}")
        list_type = node.get("x-kubernetes-list-type")
        if list_type is not None:
            self._list_type(out, node, list_type, owner, prop)
        return out

    def _list_type(self, out: Schema, node: Schema, list_type: str, owner: str, prop: str | None) -> None:
        if list_type in ("map", "set") and (owner, prop) in DUPLICATES_TOLERATED:
            list_type = "atomic"
        out["x-kubernetes-list-type"] = list_type
        if list_type != "map":
            return
        keys = node["x-kubernetes-list-map-keys"]
        items = out["items"]
        # Structural schemas need every map key required or defaulted; we drop defaults, so required.
        missing = [k for k in keys if k not in items.get("required", [])]
        if items.get("type") != "object" or missing:
            raise ValueError(
                f"{owner}.{prop}: list-map keys {missing} are not required; add it to DUPLICATES_TOLERATED "
                "(atomic list) or keep the key's default"
            )
        out["x-kubernetes-list-map-keys"] = list(keys)


# ---------------------------------------------------------------------------------------------------
# pydantic models -> structural schema
#
# The models use extra="allow" so that parse -> dump loses nothing. The CRD schemas do NOT preserve
# unknown fields of kruise objects: every field the models know is listed, so the apiserver rejects
# a typo (kubectl apply's Strict field validation) or prunes it (other clients) instead of storing a
# field the controller would silently ignore. Nothing is lost for the models either: an object read
# back from the apiserver never holds more than its schema.

# Field descriptions (kubectl explain). Keyed by (model class name, JSON name); a subclass inherits
# its bases' entries. Substituted core types (selectors, containers, pod templates) keep the core's.
DESCRIPTIONS: dict[tuple[str, str], str] = {
    # --- StatefulSet
    ("StatefulSet", "spec"): "Desired state of the StatefulSet.",
    ("StatefulSet", "status"): "Observed state of the StatefulSet, written by the controller.",
    ("StatefulSetV1alpha1", "spec"): "Desired state of the StatefulSet.",
    ("StatefulSetV1alpha1", "status"): "Observed state of the StatefulSet, written by the controller.",
    ("StatefulSetSpecV1alpha1", "replicas"): (
        "Desired number of running pods. Reserved ordinals do not count towards it. Defaults to 1."
    ),
    ("StatefulSetSpecV1alpha1", "selector"): (
        "Label query over the pods of this set. It must be non-empty and match the template's labels. Immutable."
    ),
    ("StatefulSetSpecV1alpha1", "template"): (
        "Pod template. Each pod stamped from it gets the stable identity <name>-<ordinal>; "
        "the webhook fills in pod-spec defaults on create and on template changes."
    ),
    ("StatefulSetSpecV1alpha1", "volumeClaimTemplates"): (
        "Claims created for each pod, named <claim>-<statefulset>-<ordinal>, and mounted where a container "
        "has a volumeMount of the claim's name. A claim here takes precedence over a template volume of the "
        "same name. Changes only affect claims created afterwards."
    ),
    ("StatefulSetSpecV1alpha1", "serviceName"): (
        "Name of the Service that governs this set; written to each pod's spec.subdomain. Immutable."
    ),
    ("StatefulSetSpecV1alpha1", "podManagementPolicy"): (
        "OrderedReady (default): pods are created in increasing ordinal order, each waiting for the previous one "
        "to be ready, and removed in reverse order. Parallel: pods are created and deleted without waiting; "
        "required for maxUnavailable > 1 and unorderedUpdate. Immutable."
    ),
    (
        "StatefulSetSpecV1alpha1",
        "updateStrategy",
    ): "How pods are replaced or updated when the template changes.",
    ("StatefulSetSpecV1alpha1", "revisionHistoryLimit"): (
        "Number of ControllerRevisions kept besides the current and update revisions. Defaults to 10."
    ),
    ("StatefulSetSpec", "volumeClaimUpdateStrategy"): (
        "How existing PVCs follow changes of volumeClaimTemplates: OnPodRollingUpdate grows each "
        "pod's claims to a larger storage request as the pod rolls; OnDelete (unset) leaves them."
    ),
    ("StatefulSetSpec", "reserveOrdinals"): (
        'Ordinals to leave unused: integers, or strings "a-b" for the inclusive range a..b (for example '
        '[1, "3-5"]). The controller keeps `replicas` pods on the remaining ordinals, so reserving the '
        "ordinal of a running pod migrates it to a new ordinal."
    ),
    ("StatefulSetSpec", "lifecycle"): (
        "Lifecycle hooks: hold pods in a preparing state (label lifecycle.apps.kruise.io/state) while the "
        "configured labels or finalizers are on them, before they become Normal, are updated in place or "
        "are deleted."
    ),
    ("StatefulSetSpec", "scaleStrategy"): "Limits applied while scaling.",
    ("StatefulSetSpec", "persistentVolumeClaimRetentionPolicy"): (
        "What happens to PVCs created from volumeClaimTemplates when the set is deleted or scaled down."
    ),
    ("StatefulSetSpec", "ordinals"): (
        "Numbering of the pods. Honoured only with the StatefulSetStartOrdinal feature gate."
    ),
    ("StatefulSetUpdateStrategy", "type"): "RollingUpdate (default) or OnDelete.",
    ("StatefulSetUpdateStrategy", "rollingUpdate"): (
        "Parameters of the RollingUpdate strategy; must be empty for OnDelete."
    ),
    ("RollingUpdateStatefulSetStrategy", "partition"): (
        "Number of pods kept at the old revision; with ordered updates these are the lowest ordinals. "
        "Defaults to 0."
    ),
    ("RollingUpdateStatefulSetStrategy", "maxUnavailable"): (
        "Maximum number of pods that may be unavailable during the update: an integer or a percentage of "
        "replicas (rounded down, at least 1). Anything other than 1 requires podManagementPolicy Parallel. "
        "Defaults to 1."
    ),
    ("RollingUpdateStatefulSetStrategy", "podUpdatePolicy"): (
        "ReCreate (default): pods are deleted and recreated. InPlaceIfPossible: changes that allow it "
        "(images, metadata) are applied to the running pod, others recreate it. InPlaceOnly: only in-place "
        "updates. The in-place policies need the readiness gate InPlaceUpdateReady in the template."
    ),
    ("RollingUpdateStatefulSetStrategy", "paused"): "When true no pod is updated. Scaling still happens.",
    ("RollingUpdateStatefulSetStrategy", "unorderedUpdate"): (
        "Update pods in priority order instead of by descending ordinal. Requires podManagementPolicy Parallel."
    ),
    ("RollingUpdateStatefulSetStrategy", "inPlaceUpdateStrategy"): "Parameters of in-place updates.",
    ("RollingUpdateStatefulSetStrategy", "minReadySeconds"): (
        "Seconds a pod must have been ready before it counts as available (0-300). It also paces "
        "OrderedReady scaling. Defaults to 0."
    ),
    ("UnorderedUpdateStrategy", "priorityStrategy"): "Rules that decide which pods are updated first.",
    ("UpdatePriorityStrategy", "orderPriority"): (
        "Pods with the first key are updated first, then pods with the second key, and so on; within a key, "
        'pods with a larger trailing integer in the label value (10 in "sts-10") go first. Mutually '
        "exclusive with weightPriority."
    ),
    ("UpdatePriorityStrategy", "weightPriority"): (
        "A pod's priority is the sum of the weights of the terms whose selector matches it; higher goes first. "
        "Mutually exclusive with orderPriority."
    ),
    ("UpdatePriorityOrderTerm", "orderedKey"): "Pod label key whose value orders the pods.",
    (
        "UpdatePriorityWeightTerm",
        "weight",
    ): "Weight (0-100) added to the priority of the pods matched by matchSelector.",
    ("UpdatePriorityWeightTerm", "matchSelector"): "Pods matched by this selector get the weight.",
    ("InPlaceUpdateStrategy", "gracePeriodSeconds"): (
        "Seconds between marking a pod not ready and updating its containers in place."
    ),
    ("StatefulSetScaleStrategy", "maxUnavailable"): (
        "Maximum number of unavailable pods while scaling (Parallel only): an integer or a percentage of "
        "replicas, rounded down, at least 1."
    ),
    ("PersistentVolumeClaimRetentionPolicy", "whenDeleted"): (
        "Retain (default) keeps the PVCs when the StatefulSet is deleted; Delete removes them."
    ),
    ("PersistentVolumeClaimRetentionPolicy", "whenScaled"): (
        "Retain (default) keeps the PVCs of pods removed by a scale-down; Delete removes them."
    ),
    ("StatefulSetOrdinals", "start"): "Ordinal of the first pod. Defaults to 0.",
    ("VolumeClaimUpdateStrategy", "type"): "OnDelete (default) or OnPodRollingUpdate.",
    (
        "Lifecycle",
        "preDelete",
    ): "Hook run before a pod is deleted (scale-down, recreate update, specified delete).",
    ("Lifecycle", "inPlaceUpdate"): "Hook run before and after a pod is updated in place.",
    ("Lifecycle", "preNormal"): "Hook run after a pod is created, before it becomes Normal.",
    ("LifecycleHook", "labelsHandler"): (
        "Labels (key: value) that hook a pod: while the pod carries any of them the controller waits. "
        "Users or other controllers remove them to let the pod proceed."
    ),
    ("LifecycleHook", "finalizersHandler"): (
        "Finalizers that hook a pod: while the pod carries any of them the controller waits."
    ),
    ("LifecycleHook", "markPodNotReady"): (
        "Mark the pod not ready (condition KruisePodReady) while it is held by the preDelete or "
        "inPlaceUpdate hook. Defaults to false."
    ),
    (
        "StatefulSetStatusV1alpha1",
        "observedGeneration",
    ): "The most recent metadata.generation the controller acted on.",
    (
        "StatefulSetStatusV1alpha1",
        "replicas",
    ): "Number of pods of this set that have a phase, including terminating ones.",
    ("StatefulSetStatusV1alpha1", "readyReplicas"): "Number of running pods with a Ready condition.",
    ("StatefulSetStatusV1alpha1", "availableReplicas"): (
        "Number of pods ready for at least minReadySeconds whose lifecycle state is Normal."
    ),
    ("StatefulSetStatusV1alpha1", "currentReplicas"): "Number of pods at currentRevision.",
    ("StatefulSetStatusV1alpha1", "updatedReplicas"): "Number of pods at updateRevision.",
    (
        "StatefulSetStatusV1alpha1",
        "currentRevision",
    ): "ControllerRevision the pods were at before the ongoing update.",
    ("StatefulSetStatusV1alpha1", "updateRevision"): "ControllerRevision of the current template.",
    ("StatefulSetStatusV1alpha1", "collisionCount"): (
        "Count of hash collisions of ControllerRevision names; used to make new names unique."
    ),
    ("StatefulSetStatusV1alpha1", "conditions"): "Latest observations (FailedCreatePod, FailedUpdatePod).",
    ("StatefulSetStatusV1alpha1", "labelSelector"): (
        "The selector as a string, for the scale subresource (HorizontalPodAutoscaler)."
    ),
    ("StatefulSetStatus", "updatedReadyReplicas"): "Number of ready pods at updateRevision.",
    ("StatefulSetStatus", "updatedAvailableReplicas"): "Number of available pods at updateRevision.",
    (
        "StatefulSetStatus",
        "volumeClaims",
    ): "Compatibility of existing PVCs with the claim templates (PVC resize).",
    ("VolumeClaimStatus", "volumeClaimName"): "Name of the claim template.",
    (
        "VolumeClaimStatus",
        "compatibleReplicas",
    ): "Number of pods whose PVC matches the template's storage request.",
    ("VolumeClaimStatus", "compatibleReadyReplicas"): (
        "Number of those pods whose PVC capacity already satisfies the request."
    ),
    ("Condition", "type"): "Type of the condition.",
    ("Condition", "status"): "Status of the condition: True, False or Unknown.",
    ("Condition", "lastProbeTime"): "Last time the condition was probed.",
    ("Condition", "lastTransitionTime"): "Last time the condition changed status.",
    ("Condition", "reason"): "Machine-readable reason for the last transition.",
    ("Condition", "message"): "Human-readable details about the last transition.",
    # --- BroadcastJob
    ("BroadcastJob", "spec"): "Desired state of the BroadcastJob.",
    ("SidecarSetV1alpha1", "spec"): "Desired state of the SidecarSet.",
    ("SidecarSetV1alpha1", "status"): "Observed state of the SidecarSet, written by the controller.",
    ("BroadcastJob", "status"): "Observed state of the BroadcastJob, written by the controller.",
    ("BroadcastJobSpec", "parallelism"): (
        "Maximum number of active pods: an integer or a percentage of status.desired (rounded up). "
        "Defaults to no limit."
    ),
    ("BroadcastJobSpec", "template"): (
        "Pod template; one pod is created on each node it fits. restartPolicy must be Never or OnFailure."
    ),
    ("BroadcastJobSpec", "completionPolicy"): "When the job is finished. Defaults to type Always.",
    ("BroadcastJobSpec", "paused"): "Suspend the creation of pods.",
    ("BroadcastJobSpec", "failurePolicy"): "Reaction to failed pods. Defaults to type FailFast.",
    ("CompletionPolicy", "type"): (
        "Always (default): the job finishes once a pod finished on every desired node, or at the deadline. "
        "Never: the job keeps running and places pods on new nodes."
    ),
    ("CompletionPolicy", "activeDeadlineSeconds"): (
        "Seconds after status.startTime after which the job fails. Type Always only."
    ),
    ("CompletionPolicy", "ttlSecondsAfterFinished"): (
        "Seconds after completion after which the job is deleted. Type Always only."
    ),
    ("FailurePolicy", "type"): (
        "Continue, FailFast (default: the job fails when a pod fails) or Pause (the job pauses)."
    ),
    ("FailurePolicy", "restartLimit"): (
        "For restartPolicy OnFailure: a pod whose container restarts exceed this count counts as failed."
    ),
    ("BroadcastJobStatus", "conditions"): "Complete or Failed, appended when the job finishes.",
    ("BroadcastJobStatus", "startTime"): "When the controller first acted on the job (RFC3339).",
    ("BroadcastJobStatus", "completionTime"): "When the job finished (RFC3339).",
    ("BroadcastJobStatus", "active"): "Number of active pods.",
    ("BroadcastJobStatus", "succeeded"): "Number of pods that reached phase Succeeded.",
    ("BroadcastJobStatus", "failed"): "Number of pods that reached phase Failed (or exceeded restartLimit).",
    ("BroadcastJobStatus", "desired"): "Number of nodes the job's pod fits on.",
    ("BroadcastJobStatus", "phase"): "running, paused, completed or failed.",
    # --- SidecarSet
    ("SidecarSet", "spec"): "Desired state of the SidecarSet.",
    ("SidecarSet", "status"): "Observed state of the SidecarSet, written by the controller.",
    ("SidecarSetSpecCommon", "selector"): "Label query over the pods to inject into. Must be non-empty.",
    ("SidecarSetSpecV1alpha1", "namespace"): (
        "Only inject into pods of this namespace. Empty means all namespaces. v1beta1 has no such field: "
        "it is served there as namespaceSelector {matchLabels: {kubernetes.io/metadata.name: <namespace>}}."
    ),
    ("SidecarSetSpec", "customVersion"): (
        "A version name for the SidecarSet's revisions (the ControllerRevisions carry it as the label "
        "apps.kruise.io/sidecarset-custom-version), which injectionStrategy.revision.customVersion can pick. "
        "v1alpha1 keeps it in that label on the SidecarSet instead."
    ),
    ("SidecarSetSpecCommon", "namespaceSelector"): (
        "Only inject into pods in namespaces whose labels match. Unset means all namespaces."
    ),
    ("SidecarSetSpecCommon", "initContainers"): (
        "Init containers injected when a pod is created (appended to the pod's own, sorted by name); never upgraded."
    ),
    ("SidecarSetSpecCommon", "containers"): (
        "Sidecar containers injected when a pod is created and upgraded in place when their image changes."
    ),
    ("SidecarSetSpecCommon", "volumes"): (
        "Volumes added to the pod when an injected container mounts them; a pod volume of the same name wins."
    ),
    (
        "SidecarSetSpecCommon",
        "updateStrategy",
    ): "How injected pods are upgraded when the sidecar containers change.",
    ("SidecarSetSpecCommon", "injectionStrategy"): "How the SidecarSet is injected into new pods.",
    ("SidecarSetSpecCommon", "imagePullSecrets"): "Pull secrets merged into the pod (by name) at injection.",
    (
        "SidecarSetSpecCommon",
        "revisionHistoryLimit",
    ): "Number of ControllerRevisions kept (minimum 1). Defaults to 10.",
    ("SidecarSetSpecCommon", "patchPodMetadata"): "Pod annotations written at injection and on upgrades.",
    ("SidecarContainer", "podInjectPolicy"): (
        "BeforeAppContainer (default): placed before the pod's containers. AfterAppContainer: appended. "
        "Not used for initContainers."
    ),
    (
        "SidecarContainer",
        "upgradeStrategy",
    ): "How the sidecar is upgraded: ColdUpgrade (default) or HotUpgrade.",
    ("SidecarContainer", "shareVolumePolicy"): (
        "type enabled: also mount every volumeMount of the pod's other containers into this sidecar."
    ),
    ("SidecarContainer", "shareVolumeDevicePolicy"): (
        "type enabled: also add every volumeDevice of the pod's other containers to this sidecar."
    ),
    ("SidecarContainer", "transferEnv"): "Environment variables copied from a container of the pod.",
    (
        "SidecarContainer",
        "resourcesPolicy",
    ): "Compute the sidecar's resources from the pod's containers at injection.",
    ("SidecarContainerUpgradeStrategy", "upgradeType"): "ColdUpgrade (default) or HotUpgrade. Immutable.",
    ("SidecarContainerUpgradeStrategy", "hotUpgradeEmptyImage"): (
        "HotUpgrade only: an image that behaves like the sidecar (command, probes) but does no work."
    ),
    ("ShareVolumePolicy", "type"): "enabled or disabled (default).",
    ("TransferEnvVar", "sourceContainerName"): "Name of the pod container to copy from.",
    (
        "TransferEnvVar",
        "sourceContainerNameFrom",
    ): "Read the source container's name from a pod label or annotation.",
    ("TransferEnvVar", "envName"): "Name of the variable to copy.",
    ("TransferEnvVar", "envNames"): "Names of the variables to copy.",
    ("SourceContainerNameSource", "fieldRef"): (
        "metadata.labels['<key>'] or metadata.annotations['<key>'] of the pod."
    ),
    ("ResourcesPolicy", "targetContainersMode"): "sum or max of the matched containers' resources.",
    (
        "ResourcesPolicy",
        "targetContainersNameRegex",
    ): "Regular expression selecting the pod containers to use.",
    ("ResourcesPolicy", "resourcesExpr"): "Expressions computing the sidecar's limits and requests.",
    ("ResourceExpr", "limits"): "Expressions for the limits.",
    ("ResourceExpr", "requests"): "Expressions for the requests.",
    ("ResourceExprValues", "cpu"): "Expression for cpu.",
    ("ResourceExprValues", "memory"): "Expression for memory.",
    ("SidecarSetUpdateStrategy", "type"): (
        "RollingUpdate (default): upgrade injected pods. NotUpdate: only inject into new pods."
    ),
    ("SidecarSetUpdateStrategy", "paused"): "Stop upgrading pods. Injection continues.",
    ("SidecarSetUpdateStrategy", "selector"): (
        "Only upgrade the pods this selector matches. Cannot be combined with a non-zero partition."
    ),
    ("SidecarSetUpdateStrategy", "partition"): (
        "Number or percentage of matched pods kept at the old version. Defaults to 0."
    ),
    ("SidecarSetUpdateStrategy", "maxUnavailable"): (
        "Maximum number of matched pods unavailable during the upgrade: an integer or a percentage "
        "(rounded up). Defaults to 1."
    ),
    ("SidecarSetUpdateStrategy", "priorityStrategy"): "Rules that decide which pods are upgraded first.",
    ("SidecarSetUpdateStrategy", "scatterStrategy"): (
        'Spread pods sharing a label key/value over the upgrade batches; value "*" means every value.'
    ),
    ("UpdateScatterTerm", "key"): "Pod label key.",
    ("UpdateScatterTerm", "value"): 'Pod label value, or "*".',
    (
        "SidecarSetInjectionStrategy",
        "paused",
    ): "Do not inject into new pods. Existing pods are still upgraded.",
    ("SidecarSetInjectionStrategy", "revision"): "Inject a historical revision instead of the latest one.",
    ("SidecarSetInjectRevision", "customVersion"): (
        "Selects the revision by label apps.kruise.io/sidecarset-custom-version."
    ),
    ("SidecarSetInjectRevision", "revisionName"): "Name of the ControllerRevision to inject.",
    ("SidecarSetInjectRevision", "policy"): (
        "Always: always inject this revision. Partial: inject it into pods not selected for upgrade."
    ),
    ("SidecarSetPatchPodMetadata", "annotations"): "Annotations to write on the pod.",
    ("SidecarSetPatchPodMetadata", "patchPolicy"): (
        "Retain (default): keep existing values. Overwrite: replace them. MergePatchJson: merge JSON values."
    ),
    (
        "SidecarSetStatus",
        "observedGeneration",
    ): "The most recent metadata.generation the controller acted on.",
    ("SidecarSetStatus", "matchedPods"): "Number of pods matched by the selector that were injected.",
    ("SidecarSetStatus", "updatedPods"): "Number of matched pods running the latest sidecar containers.",
    ("SidecarSetStatus", "readyPods"): "Number of matched pods that are ready.",
    ("SidecarSetStatus", "updatedReadyPods"): "Number of matched pods that are updated and ready.",
    ("SidecarSetStatus", "latestRevision"): "Name of the latest ControllerRevision.",
    ("SidecarSetStatus", "collisionCount"): (
        "Count of hash collisions of ControllerRevision names; used to make new names unique."
    ),
}

# Integers are int32 (the Go types) except these.
INT64_FIELDS = {
    ("StatefulSetStatusV1alpha1", "observedGeneration"),
    ("SidecarSetStatus", "observedGeneration"),
    ("CompletionPolicy", "activeDeadlineSeconds"),
}
DATE_TIME_FIELDS = {
    ("Condition", "lastProbeTime"),
    ("Condition", "lastTransitionTime"),
    ("BroadcastJobStatus", "startTime"),
    ("BroadcastJobStatus", "completionTime"),
}
# Required fields, as OpenKruise's CRDs mark them (non-omitempty Go fields).
REQUIRED: dict[str, list[str]] = {
    "StatefulSetSpecV1alpha1": ["selector", "template"],
    "StatefulSetStatusV1alpha1": [
        "availableReplicas",
        "currentReplicas",
        "readyReplicas",
        "replicas",
        "updatedReplicas",
    ],
    "Condition": ["status", "type"],
    "UpdatePriorityOrderTerm": ["orderedKey"],
    "UpdatePriorityWeightTerm": ["matchSelector", "weight"],
    "VolumeClaimStatus": ["compatibleReadyReplicas", "compatibleReplicas", "volumeClaimName"],
    "BroadcastJobSpec": ["template"],
    "SidecarSetStatus": ["matchedPods", "readyPods", "updatedPods"],
    "UpdateScatterTerm": ["key", "value"],
    "ResourcesPolicy": ["resourcesExpr", "targetContainersMode"],
}
# Extra schema keywords, as OpenKruise has them.
EXTRA: dict[tuple[str, str], Schema] = {
    ("SidecarSetInjectRevision", "policy"): {"default": "Always", "enum": ["Always", "Partial"]},
    ("ResourcesPolicy", "targetContainersMode"): {"enum": ["sum", "max"]},
    ("ResourcesPolicy", "targetContainersNameRegex"): {"default": ".*"},
}
OBJECT_DESCRIPTIONS = {
    "StatefulSet": (
        "Advanced StatefulSet: a StatefulSet with in-place update, reserved ordinals, lifecycle hooks, "
        "maxUnavailable-bounded rolling updates and scale strategies."
    ),
    "StatefulSetV1alpha1": (
        "Advanced StatefulSet (v1alpha1, a subset of v1beta1 with the same field names)."
    ),
    "BroadcastJob": "BroadcastJob runs one pod of its template on each node the pod fits on.",
    "BroadcastJobV1alpha1": "BroadcastJob runs one pod of its template on each node the pod fits on.",
    "SidecarSet": "SidecarSet injects sidecar containers into matching pods and upgrades them in place.",
    "SidecarSetV1alpha1": (
        "SidecarSet injects sidecar containers into matching pods and upgrades them in place (v1alpha1)."
    ),
}


def _lookup(table: dict[tuple[str, str], Any], cls: type, alias: str) -> Any:
    for klass in cls.__mro__:
        if (klass.__name__, alias) in table:
            return table[(klass.__name__, alias)]
    return None


def _member(table: set[tuple[str, str]], cls: type, alias: str) -> bool:
    return any((klass.__name__, alias) in table for klass in cls.__mro__)


def _required(cls: type) -> list[str] | None:
    for klass in cls.__mro__:
        if klass.__name__ in REQUIRED:
            return sorted(REQUIRED[klass.__name__])
    return None


class ModelSchemas:
    def __init__(self, core: CoreSchemas) -> None:
        self.core = core
        meta_props = core.schemas[CORE + "PersistentVolumeClaim"]["properties"]
        # Types with a core counterpart use the core schema (and its descriptions).
        self.class_subst: dict[type, Callable[[], Schema]] = {
            common.ObjectMeta: lambda: {"type": "object"},  # root metadata: the apiserver's own
            common.LabelSelector: lambda: core.get(META + "LabelSelector"),
            sidecarset.ObjectFieldSelector: lambda: core.get(CORE + "ObjectFieldSelector"),
            sidecarset.SidecarContainer: self._sidecar_container,
        }
        pod_template = lambda: core.get(CORE + "PodTemplateSpec")  # noqa: E731
        claim = lambda: core.get(CORE + "PersistentVolumeClaim")  # noqa: E731
        self.field_subst: dict[tuple[str, str], Callable[[], Schema]] = {
            ("StatefulSetSpecV1alpha1", "template"): pod_template,
            ("StatefulSetSpecV1alpha1", "volumeClaimTemplates"): lambda: {"type": "array", "items": claim()},
            ("BroadcastJobSpec", "template"): pod_template,
            ("SidecarSetSpecCommon", "volumes"): lambda: {
                "type": "array",
                "items": core.get(CORE + "Volume"),
            },
            ("SidecarSetSpecCommon", "imagePullSecrets"): lambda: {
                "type": "array",
                "items": core.get(CORE + "LocalObjectReference"),
            },
        }
        # apiVersion and kind of the top-level objects: the standard descriptions.
        for top in ("StatefulSet", "StatefulSetV1alpha1", "BroadcastJob", "SidecarSet", "SidecarSetV1alpha1"):
            for key in ("apiVersion", "kind"):
                self.field_subst[(top, key)] = lambda key=key: copy.deepcopy(meta_props[key])

    def _sidecar_container(self) -> Schema:
        """core Container + the kruise fields of SidecarContainer (Go: an inlined corev1.Container)."""
        out = self.core.get(CORE + "Container")
        out["description"] = "A core container plus the SidecarSet's injection and upgrade settings."
        own = self.model(sidecarset.SidecarContainer)["properties"]
        for name, schema in own.items():
            out["properties"].setdefault(name, schema)
        return out

    def model(self, cls: type[BaseModel]) -> Schema:
        subst = self.class_subst.get(cls)
        if subst is not None and cls is not sidecarset.SidecarContainer:
            return subst()
        props: Schema = {}
        for fname, field in cls.model_fields.items():
            alias = field.alias or fname
            sub = _lookup(self.field_subst, cls, alias)
            schema = (
                sub() if sub is not None else self.annotation(field.annotation, f"{cls.__name__}.{alias}")
            )
            if schema.get("type") == "integer" and "format" not in schema:
                schema["format"] = "int64" if _member(INT64_FIELDS, cls, alias) else "int32"
            if _member(DATE_TIME_FIELDS, cls, alias):
                schema["format"] = "date-time"
            schema.update(copy.deepcopy(_lookup(EXTRA, cls, alias) or {}))
            desc = _lookup(DESCRIPTIONS, cls, alias)
            if desc is not None:
                schema["description"] = desc
            props[alias] = schema
        out: Schema = {"type": "object", "properties": props}
        required = _required(cls)
        if required:
            missing = [r for r in required if r not in props]
            if missing:
                raise ValueError(f"{cls.__name__}: required fields {missing} are not model fields")
            out["required"] = required
        return out

    def annotation(self, tp: Any, where: str) -> Schema:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            return self.annotation(typing.get_args(tp)[0], where)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            bases = {typing.get_args(a)[0] if typing.get_origin(a) is typing.Annotated else a for a in args}
            if len(args) == 1:
                return self.annotation(args[0], where)
            if bases == {int, str}:
                return copy.deepcopy(INT_OR_STRING_SCHEMA)
            raise ValueError(f"{where}: unsupported union {tp}")
        if origin is list:
            (item,) = typing.get_args(tp)
            return {"type": "array", "items": self.annotation(item, where + "[]")}
        if origin is dict:
            key, value = typing.get_args(tp)
            if key is not str:
                raise ValueError(f"{where}: map keys must be strings")
            if value is Any:
                print(f"warning: {where} is an untyped map; preserving unknown fields", file=sys.stderr)
                return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            return {"type": "object", "additionalProperties": self.annotation(value, where + "{}")}
        if tp is bool:
            return {"type": "boolean"}
        if tp is int:
            return {"type": "integer"}
        if tp is float:
            return {"type": "number"}
        if tp is str:
            return {"type": "string"}
        if tp is Any:
            print(f"warning: {where} is untyped; preserving unknown fields", file=sys.stderr)
            return {"x-kubernetes-preserve-unknown-fields": True}
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            sub = self.class_subst.get(tp)
            return sub() if sub is not None else self.model(tp)
        raise ValueError(f"{where}: unsupported type {tp!r}")

    def root(self, cls: type[BaseModel], drop: tuple[str, ...] = ()) -> Schema:
        out = self.model(cls)
        for name in drop:
            out["properties"].pop(name, None)
        out["description"] = OBJECT_DESCRIPTIONS[cls.__name__]
        return out


# ---------------------------------------------------------------------------------------------------
# The CRDs

AGE_COLUMN = {
    "name": "AGE",
    "type": "date",
    "jsonPath": ".metadata.creationTimestamp",
    "description": "Time since the object was created.",
}


def _int_column(name: str, path: str, description: str) -> Schema:
    return {"name": name, "type": "integer", "jsonPath": path, "description": description}


ASTS_COLUMNS = [
    _int_column("DESIRED", ".spec.replicas", "The desired number of pods."),
    _int_column("CURRENT", ".status.replicas", "The number of pods."),
    _int_column("UPDATED", ".status.updatedReplicas", "The number of pods at the update revision."),
    _int_column("READY", ".status.readyReplicas", "The number of ready pods."),
    AGE_COLUMN,
    {
        "name": "CONTAINERS",
        "type": "string",
        "jsonPath": ".spec.template.spec.containers[*].name",
        "priority": 1,
        "description": "The containers of the pod template.",
    },
    {
        "name": "IMAGES",
        "type": "string",
        "jsonPath": ".spec.template.spec.containers[*].image",
        "priority": 1,
        "description": "The images of the pod template.",
    },
]
BCJ_COLUMNS = [
    _int_column("Desired", ".status.desired", "The number of nodes the job's pod fits on."),
    _int_column("Active", ".status.active", "The number of active pods."),
    _int_column("Succeeded", ".status.succeeded", "The number of pods that succeeded."),
    _int_column("Failed", ".status.failed", "The number of pods that failed."),
    AGE_COLUMN,
]
SIDECARSET_COLUMNS = [
    _int_column("MATCHED", ".status.matchedPods", "The number of matched pods."),
    _int_column("UPDATED", ".status.updatedPods", "The number of matched pods with the latest sidecars."),
    _int_column("READY", ".status.readyPods", "The number of matched pods that are ready."),
    AGE_COLUMN,
]


def _crd(plural: str, kind: str, scope: str, short_names: list[str], versions: list[Schema]) -> Schema:
    # No `spec.conversion`: the operator owns it (webhooks/config.py CRD_CONVERSION). StatefulSet
    # and BroadcastJob use None (v1alpha1 is a field subset of, resp. identical to, v1beta1: the
    # apiserver's relabel-and-prune is all OpenKruise's conversion does); SidecarSet moves two
    # fields and uses our conversion webhook. Leaving it out of the file means that re-applying it
    # never takes the operator's setting back, and that applying it over a CRD whose conversion
    # is a webhook (OpenKruise's kustomize install) does not fail (docs/decisions.md).
    spec: Schema = {"group": GROUP, "names": {}, "scope": scope, "versions": versions}
    names: Schema = {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower()}
    if short_names:
        names["shortNames"] = short_names
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        # The label tells kruise-py's CRDs from OpenKruise's (`kruise-py migrate check`).
        "metadata": {"name": f"{plural}.{GROUP}", "labels": {"app.kubernetes.io/name": "kruise-py"}},
        "spec": {**spec, "names": names},
    }


def _without_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        # a property *named* "description" (none in our kinds' schemas) would be under "properties"
        return {
            k: _without_descriptions(v)
            for k, v in node.items()
            if k != "description" or not isinstance(v, str)
        }
    if isinstance(node, list):
        return [_without_descriptions(v) for v in node]
    return node


def _version(name: str, storage: bool, schema: Schema, columns: list[Schema], scale: bool) -> Schema:
    # Field descriptions only in the storage version (which `kubectl explain` shows by default):
    # they are ~80% of a schema, and Helm keeps the chart, crds/ included, in a release Secret of at
    # most 1 MiB (docs/decisions.md). The served schemas are otherwise the same.
    if not storage:
        schema = _without_descriptions(schema)
    subresources: Schema = {"status": {}}
    if scale:
        subresources["scale"] = {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.labelSelector",
        }
    return {
        "name": name,
        "served": True,
        "storage": storage,
        "additionalPrinterColumns": copy.deepcopy(columns),
        "schema": {"openAPIV3Schema": schema},
        "subresources": subresources,
    }


def build(snapshot: dict[str, Any]) -> dict[str, Schema]:
    core = CoreSchemas(snapshot["schemas"])
    models = ModelSchemas(core)
    return {
        f"{GROUP}_statefulsets.yaml": _crd(
            "statefulsets",
            "StatefulSet",
            "Namespaced",
            ["asts"],
            [
                _version(
                    "v1alpha1", False, models.root(statefulset.StatefulSetV1alpha1), ASTS_COLUMNS, scale=True
                ),
                _version("v1beta1", True, models.root(statefulset.StatefulSet), ASTS_COLUMNS, scale=True),
            ],
        ),
        f"{GROUP}_broadcastjobs.yaml": _crd(
            "broadcastjobs",
            "BroadcastJob",
            "Namespaced",
            ["bcj"],
            [
                _version(
                    "v1alpha1",
                    False,
                    models.root(broadcastjob.BroadcastJobV1alpha1),
                    BCJ_COLUMNS,
                    scale=False,
                ),
                _version("v1beta1", True, models.root(broadcastjob.BroadcastJob), BCJ_COLUMNS, scale=False),
            ],
        ),
        f"{GROUP}_sidecarsets.yaml": _crd(
            "sidecarsets",
            "SidecarSet",
            "Cluster",
            [],
            [
                _version(
                    "v1alpha1",
                    False,
                    models.root(sidecarset.SidecarSetV1alpha1),
                    SIDECARSET_COLUMNS,
                    scale=False,
                ),
                _version(
                    "v1beta1", True, models.root(sidecarset.SidecarSet), SIDECARSET_COLUMNS, scale=False
                ),
            ],
        ),
    }


# ---------------------------------------------------------------------------------------------------
# Output


class _Dumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Multi-line descriptions as block scalars, as controller-gen writes them (readable diffs).
    if "\n" in value and not any(line != line.rstrip() for line in value.split("\n")):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str_representer)

HEADER = (
    "# Generated by hack/gen_crds.py from kruise_py/api and hack/openapi/api-v1.json (kube-apiserver {version}).\n"
    "# Do not edit: change the models or the generator and run `python hack/gen_crds.py`.\n"
    "# Install with `kubectl apply --server-side` (or `kubectl create`): with the full pod schema the CRD is\n"
    "# too large for client-side apply's last-applied-configuration annotation (256 KiB).\n"
    "# spec.conversion is left out on purpose: the operator sets it at start (docs/decisions.md).\n"
)
SHORT_NAME_NOTE = (
    '    # OpenKruise also registers the short name "sts"; we do not, because it shadows the core\n'
    "    # StatefulSet in kubectl (`kubectl get sts` would list Advanced StatefulSets).\n"
)


def render(crd: Schema, version: str) -> str:
    text = yaml.dump(
        crd, Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=120, allow_unicode=True
    )
    if crd["spec"]["names"]["kind"] == "StatefulSet":
        marker = "    shortNames:\n"
        if marker not in text:
            raise AssertionError("shortNames not found")
        text = text.replace(marker, SHORT_NAME_NOTE + marker, 1)
    return HEADER.format(version=version) + "---\n" + text


def load_snapshot() -> dict[str, Any]:
    return json.loads(SNAPSHOT.read_text())


def outputs() -> dict[Path, str]:
    snap = load_snapshot()
    return {
        CRD_DIR / name: render(crd, snap.get("gitVersion") or "unknown") for name, crd in build(snap).items()
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="exit 1 and print a diff if crds/ is out of date")
    ap.add_argument(
        "--refresh-openapi", action="store_true", help="re-take hack/openapi/ from a live apiserver"
    )
    ap.add_argument("--kubeconfig", help="kubeconfig of the apiserver for --refresh-openapi")
    ap.add_argument("--kubectl", help="kubectl binary (default: the sandbox's, else kubectl on PATH)")
    args = ap.parse_args(argv)
    if args.refresh_openapi:
        if not args.kubeconfig:
            ap.error("--refresh-openapi needs --kubeconfig")
        refresh_openapi(args.kubeconfig, args.kubectl)
    out = outputs()
    if args.check:
        stale = False
        for path, text in out.items():
            old = path.read_text() if path.exists() else ""
            if old != text:
                stale = True
                diff = list(
                    difflib.unified_diff(
                        old.splitlines(True),
                        text.splitlines(True),
                        str(path.relative_to(ROOT)),
                        "generated",
                        n=2,
                    )
                )
                sys.stdout.writelines(diff[:200])
                if len(diff) > 200:
                    print(f"... ({len(diff) - 200} more diff lines)")
        extra = sorted(set(CRD_DIR.glob("*.yaml")) - set(out))
        for path in extra:
            stale = True
            print(f"not generated: {path.relative_to(ROOT)}")
        if stale:
            print("crds/ is out of date: run python hack/gen_crds.py")
        return 1 if stale else 0
    CRD_DIR.mkdir(exist_ok=True)
    for path, text in out.items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)} ({len(text.encode())} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

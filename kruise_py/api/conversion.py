"""Conversion between the API versions of the three kinds, as OpenKruise 1.9 converts them.

- StatefulSet: v1beta1 is a superset of v1alpha1 with the same field names; v1alpha1 simply lacks
  the newer fields (statefulset.to_v1alpha1 / to_v1beta1). The CRD uses ``conversion: None``.
- BroadcastJob: the two schemas are identical; only ``apiVersion`` changes (``conversion: None``).
- SidecarSet: served through the CRD conversion webhook (``/convert``, answered by
  :func:`convert_review`), because two fields move (OpenKruise apis/apps/v1alpha1/sidecarset_conversion.go):
  * v1alpha1 ``spec.namespace: X`` -> v1beta1 ``spec.namespaceSelector:
    {matchLabels: {kubernetes.io/metadata.name: X}}`` (it wins over a namespaceSelector given with
    it); back to v1alpha1 the namespaceSelector is copied as it is, as OpenKruise does.
  * v1alpha1 label ``apps.kruise.io/sidecarset-custom-version`` -> v1beta1 ``spec.customVersion``
    (and the label is removed); back, a non-empty ``spec.customVersion`` becomes the label.

Pure: plain dicts in, plain dicts out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import broadcastjob as bcj
from . import sidecarset as scs
from . import statefulset as sts
from .common import copy_object

Obj = dict[str, Any]
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


class ConversionError(ValueError):
    """An object that cannot be converted (unknown kind or version)."""


def _dict(parent: Obj, key: str) -> Obj:
    value = parent.get(key)
    if not isinstance(value, dict):
        value = parent[key] = {}
    return value


def sidecarset_to_v1beta1(obj: Mapping[str, Any]) -> Obj:
    out = copy_object(obj)
    out["apiVersion"] = scs.API_VERSION_V1BETA1
    spec = out.get("spec")
    if isinstance(spec, dict):
        namespace = spec.pop("namespace", None)
        if isinstance(namespace, str) and namespace:
            spec["namespaceSelector"] = {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}}
    meta = out.get("metadata")
    labels = meta.get("labels") if isinstance(meta, dict) else None
    if isinstance(labels, dict) and scs.SIDECARSET_CUSTOM_VERSION_LABEL in labels:
        assert isinstance(meta, dict)
        value = labels.pop(scs.SIDECARSET_CUSTOM_VERSION_LABEL)
        # Go copies the label even when it is empty; an empty customVersion is omitted on the wire.
        if value:
            _dict(out, "spec")["customVersion"] = value
        if not labels:
            meta.pop("labels")
    return out


def sidecarset_to_v1alpha1(obj: Mapping[str, Any]) -> Obj:
    out = copy_object(obj)
    out["apiVersion"] = scs.API_VERSION_V1ALPHA1
    spec = out.get("spec")
    if isinstance(spec, dict):
        custom = spec.pop("customVersion", None)
        if isinstance(custom, str) and custom:
            _dict(_dict(out, "metadata"), "labels")[scs.SIDECARSET_CUSTOM_VERSION_LABEL] = custom
    return out


def _relabel(obj: Mapping[str, Any], api_version: str) -> Obj:
    out = copy_object(obj)
    out["apiVersion"] = api_version
    return out


# (kind, target apiVersion) -> converter from the other version.
_CONVERTERS: dict[tuple[str, str], Any] = {
    (sts.KIND, sts.API_VERSION_V1BETA1): sts.to_v1beta1,
    (sts.KIND, sts.API_VERSION_V1ALPHA1): sts.to_v1alpha1,
    (bcj.KIND, bcj.API_VERSION_V1BETA1): lambda o: _relabel(o, bcj.API_VERSION_V1BETA1),
    (bcj.KIND, bcj.API_VERSION_V1ALPHA1): lambda o: _relabel(o, bcj.API_VERSION_V1ALPHA1),
    (scs.KIND, scs.API_VERSION_V1BETA1): sidecarset_to_v1beta1,
    (scs.KIND, scs.API_VERSION_V1ALPHA1): sidecarset_to_v1alpha1,
}


def convert(obj: Mapping[str, Any], api_version: str) -> Obj:
    """``obj`` (any served version of one of the three kinds) as ``api_version``.

    An object already at ``api_version`` is returned as a copy, unchanged. Raises
    :class:`ConversionError` for another kind or an unknown version.
    """
    kind = obj.get("kind")
    current = obj.get("apiVersion")
    fn = _CONVERTERS.get((str(kind), api_version))
    known = {v for (k, v) in _CONVERTERS if k == kind}
    if fn is None or current not in known:
        raise ConversionError(f"cannot convert {kind} {current} to {api_version}")
    if current == api_version:
        return copy_object(obj)
    out: Obj = fn(obj)
    return out


def to_storage_version(obj: Mapping[str, Any]) -> Obj:
    """``obj`` at the version kruise-py's controllers and webhooks work on (v1beta1 for all three)."""
    return convert(obj, f"{obj.get('apiVersion', '').split('/')[0]}/v1beta1")


def convert_review(review: Mapping[str, Any]) -> Obj:
    """The answer to an apiextensions.k8s.io/v1 ConversionReview (the CRD conversion webhook).

    Every object is converted to ``request.desiredAPIVersion``; any failure fails the whole
    request with its message, as the apiserver expects (it then answers the client with it).
    """
    req = review.get("request") or {}
    uid = req.get("uid", "")
    desired = req.get("desiredAPIVersion")
    converted: list[Obj] = []
    try:
        if not isinstance(desired, str) or not desired:
            raise ConversionError("request.desiredAPIVersion is missing")
        for obj in req.get("objects") or []:
            if not isinstance(obj, Mapping):
                raise ConversionError("request.objects holds a non-object")
            converted.append(convert(obj, desired))
    except ConversionError as e:
        response: Obj = {"uid": uid, "result": {"status": "Failure", "message": str(e)}}
    else:
        response = {"uid": uid, "convertedObjects": converted, "result": {"status": "Success"}}
    return {
        "apiVersion": review.get("apiVersion", "apiextensions.k8s.io/v1"),
        "kind": "ConversionReview",
        "response": response,
    }

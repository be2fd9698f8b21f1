"""Pure Python models, defaults and validation for OpenKruise's apps.kruise.io API.

Kinds: StatefulSet, BroadcastJob and SidecarSet, each served as v1beta1 (the storage version) and
v1alpha1, as OpenKruise 1.9 serves them; ``convert`` moves an object between the two.
No I/O and no Kubernetes client: everything takes and returns plain data. See docs/sdk.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import broadcastjob, common, conversion, sidecarset, statefulset
from .broadcastjob import BroadcastJob, BroadcastJobV1alpha1
from .common import (
    IntOrString,
    KubeModel,
    LabelSelector,
    LabelSelectorRequirement,
    Lifecycle,
    LifecycleHook,
    ObjectMeta,
    UpdatePriorityStrategy,
    int_or_percent,
    is_selector_overlapping,
    label_selector_matches,
    parse_int_or_percent,
    selector_to_string,
)
from .conversion import ConversionError, convert, convert_review, to_storage_version
from .defaults import default_broadcastjob, default_sidecarset, default_statefulset
from .errors import FieldError
from .sidecarset import (
    SidecarSet,
    SidecarSetV1alpha1,
    safe_encode_string,
    set_sidecarset_hash_annotations,
    sidecarset_hash,
    sidecarset_hash_without_image,
)
from .statefulset import StatefulSet, StatefulSetV1alpha1, parse_reserve_ordinals
from .validation import (
    validate_broadcastjob,
    validate_sidecarset,
    validate_statefulset,
    validate_statefulset_deletion,
)

KruiseObject = (
    StatefulSet | StatefulSetV1alpha1 | BroadcastJob | BroadcastJobV1alpha1 | SidecarSet | SidecarSetV1alpha1
)

_CLASSES: dict[tuple[str, str], type[KruiseObject]] = {
    (statefulset.API_VERSION_V1BETA1, statefulset.KIND): StatefulSet,
    (statefulset.API_VERSION_V1ALPHA1, statefulset.KIND): StatefulSetV1alpha1,
    (broadcastjob.API_VERSION_V1BETA1, broadcastjob.KIND): BroadcastJob,
    (broadcastjob.API_VERSION_V1ALPHA1, broadcastjob.KIND): BroadcastJobV1alpha1,
    (sidecarset.API_VERSION_V1BETA1, sidecarset.KIND): SidecarSet,
    (sidecarset.API_VERSION_V1ALPHA1, sidecarset.KIND): SidecarSetV1alpha1,
}


def model_class(api_version: str, kind: str) -> type[KruiseObject]:
    """The model class for an apiVersion/kind pair. Raises ValueError for anything else."""
    try:
        return _CLASSES[(api_version, kind)]
    except KeyError:
        raise ValueError(f"unsupported apiVersion/kind: {api_version}/{kind}") from None


def from_dict(obj: Mapping[str, Any]) -> KruiseObject:
    """Parse a dict from the API into its model, chosen by apiVersion and kind.

    Raises ValueError for an unknown apiVersion/kind and pydantic.ValidationError for bad types.
    """
    return model_class(str(obj.get("apiVersion")), str(obj.get("kind"))).model_validate(obj)


def to_dict(model: KubeModel) -> dict[str, Any]:
    """The model as an API dict: camelCase keys, unset fields omitted, unknown fields kept."""
    return model.to_dict()


__all__ = [
    "BroadcastJob",
    "BroadcastJobV1alpha1",
    "ConversionError",
    "FieldError",
    "IntOrString",
    "KruiseObject",
    "KubeModel",
    "LabelSelector",
    "LabelSelectorRequirement",
    "Lifecycle",
    "LifecycleHook",
    "ObjectMeta",
    "SidecarSet",
    "SidecarSetV1alpha1",
    "StatefulSet",
    "StatefulSetV1alpha1",
    "UpdatePriorityStrategy",
    "broadcastjob",
    "common",
    "conversion",
    "convert",
    "convert_review",
    "default_broadcastjob",
    "default_sidecarset",
    "default_statefulset",
    "from_dict",
    "int_or_percent",
    "is_selector_overlapping",
    "label_selector_matches",
    "model_class",
    "parse_int_or_percent",
    "parse_reserve_ordinals",
    "safe_encode_string",
    "selector_to_string",
    "set_sidecarset_hash_annotations",
    "sidecarset",
    "sidecarset_hash",
    "sidecarset_hash_without_image",
    "statefulset",
    "to_dict",
    "to_storage_version",
    "validate_broadcastjob",
    "validate_sidecarset",
    "validate_statefulset",
    "validate_statefulset_deletion",
]

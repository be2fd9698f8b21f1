"""A pragmatic subset of Kubernetes' core PodTemplate / PodSpec validation.

Not a replica of k8s.io/kubernetes/pkg/apis/core/validation: it catches the mistakes that would
otherwise only show up when the controller creates pods (no containers, duplicate or malformed
container names, missing images, mounts of undeclared volumes, bad restart policies). The
apiserver still validates every pod we create.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from .errors import DUPLICATE, INVALID, NOT_FOUND, NOT_SUPPORTED, REQUIRED, FieldError
from .naming import is_dns1123_label, validate_annotations, validate_labels

RESTART_POLICIES = ("Always", "OnFailure", "Never")


def supported_values(values: Collection[str]) -> str:
    return "supported values: " + ", ".join(f'"{v}"' for v in values)


def volume_names(volumes: Any) -> set[str]:
    if not isinstance(volumes, list):
        return set()
    return {str(v["name"]) for v in volumes if isinstance(v, Mapping) and v.get("name")}


# What a walker checks on each object of a list: (the object, its path) -> errors.
ItemCheck = Callable[[Mapping[str, Any], str], list[FieldError]]


def _walk(items: Any, path: str, check: ItemCheck, *, lenient: bool = False) -> list[FieldError]:
    """``check`` each object of the list ``items`` at ``path`` (items are ``path[i]``). Absent
    (None) is fine; anything but a list, and an item that is not an object, is an error, unless
    ``lenient``: then they are skipped."""
    if not isinstance(items, list):
        return [] if items is None or lenient else [FieldError(path, "must be a list")]
    errs: list[FieldError] = []
    for i, item in enumerate(items):
        p = f"{path}[{i}]"
        if isinstance(item, Mapping):
            errs.extend(check(item, p))
        elif not lenient:
            errs.append(FieldError(p, "must be an object"))
    return errs


def _check_name(item: Mapping[str, Any], path: str, seen: set[str]) -> list[FieldError]:
    """``name``: required, a DNS-1123 label, not in ``seen`` (which it joins)."""
    name = item.get("name")
    if not name:
        return [FieldError(f"{path}.name", "Required value", REQUIRED)]
    name = str(name)
    errs = [FieldError(f"{path}.name", m) for m in is_dns1123_label(name)]
    if name in seen:
        errs.append(FieldError(f"{path}.name", f'"{name}"', DUPLICATE))
    seen.add(name)
    return errs


def validate_volumes(volumes: Any, path: str) -> list[FieldError]:
    seen: set[str] = set()
    return _walk(volumes, path, lambda vol, p: _check_name(vol, p, seen))


def validate_containers(
    containers: Any,
    path: str,
    volumes: Collection[str],
    *,
    init: bool = False,
    seen_names: set[str] | None = None,
) -> list[FieldError]:
    """Names (DNS-1123 label, unique across ``seen_names``), image, volumeMounts, ports.

    For init containers the container-level ``restartPolicy`` may only be ``Always``
    (a native sidecar).
    """
    seen = seen_names if seen_names is not None else set()

    def check(ctr: Mapping[str, Any], p: str) -> list[FieldError]:
        errs = _check_name(ctr, p, seen)
        image = ctr.get("image")
        if not image:
            errs.append(FieldError(f"{p}.image", "Required value", REQUIRED))
        elif not isinstance(image, str):
            errs.append(FieldError(f"{p}.image", "must be a string"))
        elif image != image.strip():
            errs.append(FieldError(f"{p}.image", "must not have leading or trailing whitespace"))
        if init and ctr.get("restartPolicy") not in (None, "Always"):
            errs.append(FieldError(f"{p}.restartPolicy", supported_values(["Always"]), NOT_SUPPORTED))
        errs.extend(_validate_mounts(ctr.get("volumeMounts"), f"{p}.volumeMounts", volumes))
        errs.extend(_validate_ports(ctr.get("ports"), f"{p}.ports"))
        return errs

    return _walk(containers, path, check)


def _validate_mounts(mounts: Any, path: str, volumes: Collection[str]) -> list[FieldError]:
    paths: set[str] = set()

    def check(mnt: Mapping[str, Any], p: str) -> list[FieldError]:
        errs: list[FieldError] = []
        name = mnt.get("name")
        if not name:
            errs.append(FieldError(f"{p}.name", "Required value", REQUIRED))
        elif str(name) not in volumes:
            errs.append(FieldError(f"{p}.name", f'"{name}"', NOT_FOUND))
        mount_path = mnt.get("mountPath")
        if not mount_path:
            errs.append(FieldError(f"{p}.mountPath", "Required value", REQUIRED))
        elif str(mount_path) in paths:
            errs.append(FieldError(f"{p}.mountPath", "must be unique", INVALID))
        else:
            paths.add(str(mount_path))
        return errs

    return _walk(mounts, path, check)


def _validate_ports(ports: Any, path: str) -> list[FieldError]:
    def check(port: Mapping[str, Any], p: str) -> list[FieldError]:
        number = port.get("containerPort")
        if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= 65535:
            return [FieldError(f"{p}.containerPort", "must be between 1 and 65535, inclusive")]
        return []

    # Ports are not checked beyond the number: a malformed list is left to the apiserver.
    return _walk(ports, path, check, lenient=True)


def validate_pod_spec(
    spec: Any,
    path: str,
    *,
    extra_volumes: Collection[str] = (),
    check_restart_policy: bool = True,
) -> list[FieldError]:
    """``extra_volumes``: names that count as volumes (an ASTS's volumeClaimTemplates)."""
    if not isinstance(spec, Mapping):
        return [FieldError(path, "Required value", REQUIRED)]
    errs = validate_volumes(spec.get("volumes"), f"{path}.volumes")
    volumes = volume_names(spec.get("volumes")) | set(extra_volumes)
    names: set[str] = set()
    errs.extend(
        validate_containers(
            spec.get("initContainers"), f"{path}.initContainers", volumes, init=True, seen_names=names
        )
    )
    containers = spec.get("containers")
    if not containers:
        errs.append(FieldError(f"{path}.containers", "Required value", REQUIRED))
    else:
        errs.extend(validate_containers(containers, f"{path}.containers", volumes, seen_names=names))
    restart = spec.get("restartPolicy")
    if check_restart_policy and restart not in (None, "", *RESTART_POLICIES):
        errs.append(FieldError(f"{path}.restartPolicy", supported_values(RESTART_POLICIES), NOT_SUPPORTED))
    return errs


def validate_pod_template(
    template: Any,
    path: str,
    *,
    extra_volumes: Collection[str] = (),
    check_restart_policy: bool = True,
) -> list[FieldError]:
    if not isinstance(template, Mapping):
        return [FieldError(path, "Required value", REQUIRED)]
    meta = template.get("metadata") or {}
    errs: list[FieldError] = []
    if isinstance(meta, Mapping):
        errs.extend(validate_labels(meta.get("labels"), f"{path}.metadata.labels"))
        errs.extend(validate_annotations(meta.get("annotations"), f"{path}.metadata.annotations"))
    errs.extend(
        validate_pod_spec(
            template.get("spec"),
            f"{path}.spec",
            extra_volumes=extra_volumes,
            check_restart_policy=check_restart_policy,
        )
    )
    return errs

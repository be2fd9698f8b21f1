"""The admission webhooks kruise-py serves, as data: one list used to register them in `local` mode
and to render the Helm chart's configurations, so the two never drift apart.

Paths are the kopf handler ids (kopf serves each handler at ``/<id>``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

GROUP = "apps.kruise.io"
MUTATING_NAME = "kruise-py-mutating"
VALIDATING_NAME = "kruise-py-validating"
# Namespaces whose pods must never depend on us: the control plane's and our own.
PROTECTED_NAMESPACES = ("kube-system",)


@dataclass(frozen=True)
class Webhook:
    id: str  # kopf handler id == URL path
    mutating: bool
    group: str
    version: str
    plural: str
    operations: tuple[str, ...]
    failure_policy: str = "Fail"
    # Pod webhooks exclude protected namespaces; our own CRs need no selector.
    exclude_protected_namespaces: bool = False
    scope: str = "*"
    # Whether --webhook-failure-policy / the chart's webhook.failurePolicy applies to this hook.
    policy_overridable: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


# Validation and defaulting for our kinds fail closed, like OpenKruise: an object that was never
# checked must not reach the controllers.
WEBHOOKS: tuple[Webhook, ...] = (
    Webhook(
        "mutate-statefulset", True, GROUP, "v1beta1", "statefulsets", ("CREATE", "UPDATE"), scope="Namespaced"
    ),
    Webhook(
        "mutate-broadcastjob",
        True,
        GROUP,
        "v1beta1",
        "broadcastjobs",
        ("CREATE", "UPDATE"),
        scope="Namespaced",
    ),
    Webhook(
        "mutate-sidecarset", True, GROUP, "v1beta1", "sidecarsets", ("CREATE", "UPDATE"), scope="Cluster"
    ),
    # Sidecar injection, CREATE only (spec §5.2). Ignore, unlike OpenKruise's Fail: this entry
    # sees every pod of every namespace but kube-system and ours, and with Fail an operator outage
    # would stop pod creation cluster-wide, also where no SidecarSet selects anything
    # (docs/decisions.md). Explicit denials (e.g. 503 while caches load) still reject the pod.
    Webhook(
        "inject-sidecarset",
        True,
        "",
        "v1",
        "pods",
        ("CREATE",),
        failure_policy="Ignore",
        scope="Namespaced",
        exclude_protected_namespaces=True,
        policy_overridable=False,
    ),
    Webhook(
        "validate-statefulset",
        False,
        GROUP,
        "v1beta1",
        "statefulsets",
        ("CREATE", "UPDATE"),
        scope="Namespaced",
    ),
    Webhook(
        "validate-broadcastjob",
        False,
        GROUP,
        "v1beta1",
        "broadcastjobs",
        ("CREATE", "UPDATE"),
        scope="Namespaced",
    ),
    Webhook(
        "validate-sidecarset", False, GROUP, "v1beta1", "sidecarsets", ("CREATE", "UPDATE"), scope="Cluster"
    ),
)


# CRD conversion (docs/decisions.md). The CRD files leave `spec.conversion` out; the operator sets it
# at start and whenever it drifts: SidecarSet through our webhook (v1alpha1 <-> v1beta1 move two
# fields, kruise_py/api/conversion.py), the other two None (the apiserver's relabel-and-prune is
# exactly OpenKruise's conversion for them).
CONVERSION_PATH = "/convert"
CONVERSION_CRDS = (f"sidecarsets.{GROUP}",)
NONE_CONVERSION_CRDS = (f"statefulsets.{GROUP}", f"broadcastjobs.{GROUP}")


def conversion_client_config_url(base_url: str, ca_bundle: str) -> dict[str, Any]:
    return {"url": f"{base_url.rstrip('/')}{CONVERSION_PATH}", "caBundle": ca_bundle}


def conversion_client_config_service(
    namespace: str, service: str, ca_bundle: str, port: int = 443
) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "service": {"namespace": namespace, "name": service, "path": CONVERSION_PATH, "port": port}
    }
    if ca_bundle:
        cfg["caBundle"] = ca_bundle
    return cfg


def crd_conversion(client_config: dict[str, Any]) -> dict[str, Any]:
    """A CRD's ``spec.conversion`` through our webhook (ConversionReview v1 only, as we answer it)."""
    return {
        "strategy": "Webhook",
        "webhook": {"conversionReviewVersions": ["v1"], "clientConfig": client_config},
    }


def desired_conversion(crd_name: str, client_config: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ``spec.conversion`` the CRD ``crd_name`` should have: our webhook for the CRDs that need it
    (None when we serve no webhook: leave it alone), None conversion for the others."""
    if crd_name in CONVERSION_CRDS:
        return crd_conversion(client_config) if client_config is not None else None
    if crd_name in NONE_CONVERSION_CRDS:
        return {"strategy": "None"}
    return None


def conversion_patch(crd: dict[str, Any], desired: dict[str, Any] | None) -> dict[str, Any] | None:
    """A JSON merge patch that gives ``crd`` the ``desired`` conversion, or None when it has it.

    Explicit nulls drop what the other setting left behind (a webhook under strategy None is
    invalid; a URL next to a Service reference too)."""
    if desired is None:
        return None
    current = (crd.get("spec") or {}).get("conversion") or {"strategy": "None"}
    if desired["strategy"] == "None":
        if current.get("strategy", "None") == "None" and not current.get("webhook"):
            return None
        return {"spec": {"conversion": {"strategy": "None", "webhook": None}}}
    want = desired["webhook"]
    have = current.get("webhook") or {}
    cc_want, cc_have = want["clientConfig"], have.get("clientConfig") or {}
    if (
        current.get("strategy") == "Webhook"
        and have.get("conversionReviewVersions") == want["conversionReviewVersions"]
        and all(cc_have.get(k) == cc_want.get(k) for k in ("url", "service", "caBundle"))
    ):
        return None
    client_config = {"url": None, "service": None, "caBundle": None, **cc_want}
    return {
        "spec": {"conversion": {"strategy": "Webhook", "webhook": {**want, "clientConfig": client_config}}}
    }


def namespace_selector(operator_namespace: str) -> dict[str, Any]:
    return {
        "matchExpressions": [
            {
                "key": "kubernetes.io/metadata.name",
                "operator": "NotIn",
                "values": sorted({*PROTECTED_NAMESPACES, operator_namespace}),
            }
        ]
    }


def client_config_url(base_url: str, hook: Webhook, ca_bundle: str) -> dict[str, Any]:
    return {"url": f"{base_url.rstrip('/')}/{hook.id}", "caBundle": ca_bundle}


def client_config_service(
    namespace: str, service: str, hook: Webhook, ca_bundle: str, port: int = 443
) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "service": {"namespace": namespace, "name": service, "path": f"/{hook.id}", "port": port}
    }
    if ca_bundle:
        cfg["caBundle"] = ca_bundle
    return cfg


def webhook_entry(
    hook: Webhook, client_config: dict[str, Any], operator_namespace: str, failure_policy: str | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": f"{hook.id}.{GROUP}",
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "timeoutSeconds": 10,
        "matchPolicy": "Equivalent",
        "failurePolicy": (failure_policy if hook.policy_overridable else None) or hook.failure_policy,
        "clientConfig": client_config,
        "rules": [
            {
                "apiGroups": [hook.group],
                "apiVersions": [hook.version],
                "resources": [hook.plural],
                "operations": list(hook.operations),
                "scope": hook.scope,
            }
        ],
        **hook.extra,
    }
    if hook.exclude_protected_namespaces:
        entry["namespaceSelector"] = namespace_selector(operator_namespace)
    if hook.mutating:
        entry["reinvocationPolicy"] = "Never"
    return entry


def configurations(
    client_config_for: Any,
    operator_namespace: str,
    failure_policy: str | None = None,
    hooks: tuple[Webhook, ...] = WEBHOOKS,
) -> list[dict[str, Any]]:
    """The Mutating- and ValidatingWebhookConfiguration objects for ``hooks``."""
    out = []
    for mutating, kind, name in (
        (True, "MutatingWebhookConfiguration", MUTATING_NAME),
        (False, "ValidatingWebhookConfiguration", VALIDATING_NAME),
    ):
        entries = [
            webhook_entry(h, client_config_for(h), operator_namespace, failure_policy)
            for h in hooks
            if h.mutating == mutating
        ]
        out.append(
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": kind,
                "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "kruise-py"}},
                "webhooks": entries,
            }
        )
    return out

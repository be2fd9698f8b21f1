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
    Webhook("mutate-statefulset", True, GROUP, "v1beta1", "statefulsets", ("CREATE", "UPDATE"), scope="Namespaced"),
    Webhook("mutate-broadcastjob", True, GROUP, "v1alpha1", "broadcastjobs", ("CREATE", "UPDATE"), scope="Namespaced"),
    Webhook("mutate-sidecarset", True, GROUP, "v1alpha1", "sidecarsets", ("CREATE", "UPDATE"), scope="Cluster"),
    # Sidecar injection, CREATE only (spec §5.2). Ignore, unlike OpenKruise's Fail: this entry
    # sees every pod of every namespace but kube-system and ours, and with Fail an operator outage
    # would stop pod creation cluster-wide, also where no SidecarSet selects anything
    # (docs/decisions.md). Explicit denials (e.g. 503 while caches load) still reject the pod.
    Webhook("inject-sidecarset", True, "", "v1", "pods", ("CREATE",), failure_policy="Ignore",
            scope="Namespaced", exclude_protected_namespaces=True, policy_overridable=False),
    Webhook("validate-statefulset", False, GROUP, "v1beta1", "statefulsets", ("CREATE", "UPDATE"), scope="Namespaced"),
    Webhook("validate-broadcastjob", False, GROUP, "v1alpha1", "broadcastjobs", ("CREATE", "UPDATE"), scope="Namespaced"),
    Webhook("validate-sidecarset", False, GROUP, "v1alpha1", "sidecarsets", ("CREATE", "UPDATE"), scope="Cluster"),
)


def namespace_selector(operator_namespace: str) -> dict[str, Any]:
    return {
        "matchExpressions": [{
            "key": "kubernetes.io/metadata.name",
            "operator": "NotIn",
            "values": sorted({*PROTECTED_NAMESPACES, operator_namespace}),
        }]
    }


def client_config_url(base_url: str, hook: Webhook, ca_bundle: str) -> dict[str, Any]:
    return {"url": f"{base_url.rstrip('/')}/{hook.id}", "caBundle": ca_bundle}


def client_config_service(namespace: str, service: str, hook: Webhook, ca_bundle: str, port: int = 443) -> dict[str, Any]:
    cfg: dict[str, Any] = {"service": {"namespace": namespace, "name": service, "path": f"/{hook.id}", "port": port}}
    if ca_bundle:
        cfg["caBundle"] = ca_bundle
    return cfg


def webhook_entry(hook: Webhook, client_config: dict[str, Any], operator_namespace: str,
                  failure_policy: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": f"{hook.id}.{GROUP}",
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "timeoutSeconds": 10,
        "matchPolicy": "Equivalent",
        "failurePolicy": (failure_policy if hook.policy_overridable else None) or hook.failure_policy,
        "clientConfig": client_config,
        "rules": [{
            "apiGroups": [hook.group],
            "apiVersions": [hook.version],
            "resources": [hook.plural],
            "operations": list(hook.operations),
            "scope": hook.scope,
        }],
        **hook.extra,
    }
    if hook.exclude_protected_namespaces:
        entry["namespaceSelector"] = namespace_selector(operator_namespace)
    if hook.mutating:
        entry["reinvocationPolicy"] = "Never"
    return entry


def configurations(
    client_config_for: Any, operator_namespace: str, failure_policy: str | None = None,
    hooks: tuple[Webhook, ...] = WEBHOOKS,
) -> list[dict[str, Any]]:
    """The Mutating- and ValidatingWebhookConfiguration objects for ``hooks``."""
    out = []
    for mutating, kind, name in ((True, "MutatingWebhookConfiguration", MUTATING_NAME),
                                 (False, "ValidatingWebhookConfiguration", VALIDATING_NAME)):
        entries = [
            webhook_entry(h, client_config_for(h), operator_namespace, failure_policy)
            for h in hooks if h.mutating == mutating
        ]
        out.append({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": kind,
            "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "kruise-py"}},
            "webhooks": entries,
        })
    return out

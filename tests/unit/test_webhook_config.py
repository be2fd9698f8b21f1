from __future__ import annotations

from kruise_py.webhooks import config


def test_configurations_cover_every_kind_with_both_hooks() -> None:
    objs = config.configurations(lambda h: config.client_config_url("https://127.0.0.1:9443", h, "Q0E="), "kruise-system")
    mutating, validating = objs
    assert mutating["kind"] == "MutatingWebhookConfiguration"
    assert validating["kind"] == "ValidatingWebhookConfiguration"
    for obj in objs:
        plurals = {w["rules"][0]["resources"][0] for w in obj["webhooks"]}
        extra = {"pods"} if obj["kind"].startswith("Mutating") else set()
        assert plurals == {"statefulsets", "broadcastjobs", "sidecarsets"} | extra
        for w in obj["webhooks"]:
            assert w["clientConfig"]["url"].endswith("/" + w["name"].split(".")[0])
            assert w["sideEffects"] == "None" and w["admissionReviewVersions"] == ["v1"]
            # Our kinds fail closed; pod injection fails open (docs/decisions.md).
            assert w["failurePolicy"] == ("Ignore" if w["rules"][0]["resources"] == ["pods"] else "Fail")


def test_the_injection_webhook_is_pod_create_only_and_excludes_protected_namespaces() -> None:
    hook = next(h for h in config.WEBHOOKS if h.plural == "pods")
    entry = config.webhook_entry(hook, {"url": "x"}, "kruise-system")
    assert entry["rules"][0]["operations"] == ["CREATE"] and entry["failurePolicy"] == "Ignore"
    assert entry["namespaceSelector"]["matchExpressions"][0]["values"] == ["kruise-system", "kube-system"]


def test_pod_webhooks_exclude_kube_system_and_the_operator_namespace() -> None:
    hook = config.Webhook("inject", True, "", "v1", "pods", ("CREATE",), failure_policy="Ignore",
                          exclude_protected_namespaces=True)
    entry = config.webhook_entry(hook, {"url": "x"}, "kruise-py-system")
    expr = entry["namespaceSelector"]["matchExpressions"][0]
    assert expr["operator"] == "NotIn" and set(expr["values"]) == {"kube-system", "kruise-py-system"}
    assert entry["failurePolicy"] == "Ignore"


def test_service_client_config() -> None:
    hook = config.WEBHOOKS[0]
    cc = config.client_config_service("ns", "svc", hook, "")
    assert cc == {"service": {"namespace": "ns", "name": "svc", "path": f"/{hook.id}", "port": 443}}

from __future__ import annotations

from kruise_py.webhooks import config


def test_configurations_cover_every_kind_with_both_hooks() -> None:
    objs = config.configurations(
        lambda h: config.client_config_url("https://127.0.0.1:9443", h, "Q0E="), "kruise-system"
    )
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
    hook = config.Webhook(
        "inject",
        True,
        "",
        "v1",
        "pods",
        ("CREATE",),
        failure_policy="Ignore",
        exclude_protected_namespaces=True,
    )
    entry = config.webhook_entry(hook, {"url": "x"}, "kruise-py-system")
    expr = entry["namespaceSelector"]["matchExpressions"][0]
    assert expr["operator"] == "NotIn" and set(expr["values"]) == {"kube-system", "kruise-py-system"}
    assert entry["failurePolicy"] == "Ignore"


def test_service_client_config() -> None:
    hook = config.WEBHOOKS[0]
    cc = config.client_config_service("ns", "svc", hook, "")
    assert cc == {"service": {"namespace": "ns", "name": "svc", "path": f"/{hook.id}", "port": 443}}


# ------------------------------------------------------------------------------------------------
# CRD conversion

SS, STS, BCJ = "sidecarsets.apps.kruise.io", "statefulsets.apps.kruise.io", "broadcastjobs.apps.kruise.io"


def crd(conversion: dict[str, object] | None) -> dict[str, object]:
    return {"spec": {} if conversion is None else {"conversion": conversion}}


def test_our_kinds_are_served_as_v1beta1() -> None:
    # matchPolicy Equivalent: the apiserver converts v1alpha1 requests to v1beta1 for us.
    assert {h.version for h in config.WEBHOOKS if h.group == config.GROUP} == {"v1beta1"}


def test_desired_conversion() -> None:
    url = config.conversion_client_config_url("https://127.0.0.1:9443", "Q0E=")
    assert url == {"url": "https://127.0.0.1:9443/convert", "caBundle": "Q0E="}
    svc = config.conversion_client_config_service("ns", "svc", "")
    assert svc == {"service": {"namespace": "ns", "name": "svc", "path": "/convert", "port": 443}}
    assert config.desired_conversion(SS, url) == {
        "strategy": "Webhook",
        "webhook": {"conversionReviewVersions": ["v1"], "clientConfig": url},
    }
    assert config.desired_conversion(SS, None) is None  # no webhook served: leave it alone
    assert config.desired_conversion(STS, url) == {"strategy": "None"}
    assert config.desired_conversion(BCJ, None) == {"strategy": "None"}
    assert config.desired_conversion("clonesets.apps.kruise.io", url) is None


def test_conversion_patch_switches_url_and_service_cleanly() -> None:
    url = config.conversion_client_config_url("https://127.0.0.1:9443", "Q0E=")
    want = config.desired_conversion(SS, url)
    patch = config.conversion_patch(crd(None), want)
    assert patch == {
        "spec": {
            "conversion": {
                "strategy": "Webhook",
                "webhook": {
                    "conversionReviewVersions": ["v1"],
                    "clientConfig": {
                        "url": "https://127.0.0.1:9443/convert",
                        "service": None,
                        "caBundle": "Q0E=",
                    },
                },
            }
        }
    }
    # already there (as the apiserver returns it): nothing to do
    assert config.conversion_patch(crd(want), want) is None
    # an OpenKruise Service reference is replaced, a changed CA too
    ok = {
        "strategy": "Webhook",
        "webhook": {
            "conversionReviewVersions": ["v1", "v1beta1"],
            "clientConfig": {
                "service": {
                    "namespace": "kruise-system",
                    "name": "kruise-webhook-service",
                    "path": "/convert",
                    "port": 443,
                },
                "caBundle": "T0s=",
            },
        },
    }
    assert config.conversion_patch(crd(ok), want) == patch
    svc = config.desired_conversion(SS, config.conversion_client_config_service("ns", "svc", "Q0E="))
    p = config.conversion_patch(crd(want), svc)
    assert p is not None and p["spec"]["conversion"]["webhook"]["clientConfig"]["url"] is None


def test_conversion_patch_to_none_drops_a_webhook() -> None:
    none = config.desired_conversion(STS, None)
    assert config.conversion_patch(crd(None), none) is None
    assert config.conversion_patch(crd({"strategy": "None"}), none) is None
    webhook = {"strategy": "Webhook", "webhook": {"clientConfig": {"url": "https://x/convert"}}}
    assert config.conversion_patch(crd(webhook), none) == {
        "spec": {"conversion": {"strategy": "None", "webhook": None}}
    }
    assert config.conversion_patch(crd(webhook), None) is None

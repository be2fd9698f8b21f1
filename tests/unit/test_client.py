"""Pure parts of the API client: paths, metric labels, kubeconfig loading, the token bucket."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from kruise_py.runtime.client import (
    ApiError,
    TokenBucket,
    _resource_of,
    load_kubeconfig,
    path_for,
    retry_on_conflict,
)
from kruise_py.sandbox.controlplane import kubeconfig_yaml


@pytest.mark.parametrize(
    ("args", "path"),
    [
        (("v1", "pods", "ns", "p", "status"), "/api/v1/namespaces/ns/pods/p/status"),
        (("v1", "nodes"), "/api/v1/nodes"),
        (
            ("apps.kruise.io/v1beta1", "statefulsets", "ns"),
            "/apis/apps.kruise.io/v1beta1/namespaces/ns/statefulsets",
        ),
        (
            ("apps.kruise.io/v1alpha1", "sidecarsets", None, "s"),
            "/apis/apps.kruise.io/v1alpha1/sidecarsets/s",
        ),
    ],
)
def test_path_for(args: tuple[str, ...], path: str) -> None:
    assert path_for(*args) == path


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/api/v1/namespaces/ns/pods/web-0/status", "pods/status"),
        ("/api/v1/namespaces/ns/pods", "pods"),
        ("/api/v1/namespaces/ns", "namespaces"),
        ("/apis/apps.kruise.io/v1beta1/namespaces/x/statefulsets/web", "statefulsets"),
        ("/api/v1/nodes/n1?watch=true", "nodes"),
    ],
)
def test_metric_label_never_contains_object_names(path: str, label: str) -> None:
    assert _resource_of(path) == label


def test_load_kubeconfig_with_embedded_certs(tmp_path: Path) -> None:
    text = kubeconfig_yaml("https://127.0.0.1:6443", b"CA", cert=b"CERT", key=b"KEY", user="u", namespace="n")
    p = tmp_path / "kc"
    p.write_text(text)
    c = load_kubeconfig(p)
    assert (c.server, c.ca_data, c.cert_data, c.key_data) == (
        "https://127.0.0.1:6443",
        b"CA",
        b"CERT",
        b"KEY",
    )
    assert c.auth_header() is None


def test_load_kubeconfig_with_token_and_files(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_bytes(b"FILECA")
    p = tmp_path / "kc"
    p.write_text("""
apiVersion: v1
kind: Config
current-context: b
contexts:
- {name: a, context: {cluster: c, user: nobody}}
- {name: b, context: {cluster: c, user: t}}
clusters:
- {name: c, cluster: {server: "https://k:443/", certificate-authority: ca.crt}}
users:
- {name: t, user: {token: s3cret}}
""")
    c = load_kubeconfig(p)
    assert c.server == "https://k:443" and c.ca_data == b"FILECA"
    assert c.auth_header() == "Bearer s3cret"


def test_token_bucket_limits_rate() -> None:
    async def go() -> float:
        tb = TokenBucket(qps=100, burst=5)
        t0 = time.monotonic()
        for _ in range(25):  # 5 from the burst, 20 at 100/s ≈ 0.2 s
            await tb.acquire()
        return time.monotonic() - t0

    took = asyncio.run(go())
    assert took >= 0.15, f"25 tokens at 100 qps with burst 5 must take ≈0.2 s, took {took:.3f}"


def test_token_bucket_disabled() -> None:
    async def go() -> None:
        tb = TokenBucket(qps=0, burst=1)
        for _ in range(1000):
            await tb.acquire()

    asyncio.run(go())


def test_retry_on_conflict_retries_only_conflicts() -> None:
    calls = {"n": 0}

    async def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise ApiError(409, {"reason": "Conflict", "message": "changed"})
        return "ok"

    assert asyncio.run(retry_on_conflict(flaky)) == "ok" and calls["n"] == 3

    async def exists() -> str:
        raise ApiError(409, {"reason": "AlreadyExists", "message": "x"})

    with pytest.raises(ApiError) as e:
        asyncio.run(retry_on_conflict(exists))
    assert e.value.already_exists

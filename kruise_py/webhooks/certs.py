"""Webhook serving certificates.

Two homes, one shape (``tls.crt``, ``tls.key``, ``ca.crt``, as cert-manager writes them):

* a Secret the operator keeps itself (service mode, as OpenKruise does): every replica reads it,
  the first one to find it missing creates it (a replica that loses the create race reads the
  winner's, so all serve one certificate), and whoever finds the serving certificate near expiry
  re-issues it from the same CA (the caBundle does not change);
* a folder: ``local`` mode's self-signed pair, or a Secret mounted by cert-manager.

kopf's WebhookServer re-reads its certificate file when it changes, so a renewed certificate is
served without a restart; the pair is written as one file, replaced atomically, so kopf never
loads a new key with an old certificate.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from ..runtime import pki
from ..runtime.client import ApiError, KubeClient, path_for

CA_DAYS = 3650
SERVING_DAYS = 365
# Renew the serving certificate this long before it expires; the CA when it has less than this left
# (a new CA changes the caBundle, which the operator patches in again).
RENEW_BEFORE = dt.timedelta(days=30)
SECRET_KEYS = ("ca.crt", "ca.key", "tls.crt", "tls.key")


@dataclass(frozen=True)
class Bundle:
    ca_crt: bytes
    tls_crt: bytes
    tls_key: bytes
    ca_key: bytes = b""

    def secret_data(self) -> dict[str, str]:
        raw = {"ca.crt": self.ca_crt, "ca.key": self.ca_key, "tls.crt": self.tls_crt, "tls.key": self.tls_key}
        return {k: base64.b64encode(v).decode() for k, v in raw.items()}

    @classmethod
    def from_secret(cls, secret: dict[str, Any]) -> Bundle:
        data = secret.get("data") or {}
        try:
            raw = {k: base64.b64decode(data.get(k) or "") for k in SECRET_KEYS}
        except ValueError:
            raw = dict.fromkeys(SECRET_KEYS, b"")
        return cls(ca_crt=raw["ca.crt"], tls_crt=raw["tls.crt"], tls_key=raw["tls.key"], ca_key=raw["ca.key"])


def service_names(service: str, namespace: str) -> tuple[str, ...]:
    """The names the apiserver may use to reach a webhook Service (it dials <svc>.<ns>.svc)."""
    return (
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
        f"{service}.{namespace}",
    )


def _load(pem: bytes) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        return None


def _names(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(v) for v in san.get_values_for_type(x509.DNSName)} | {
        str(v) for v in san.get_values_for_type(x509.IPAddress)
    }


def renewal_reason(b: Bundle, names: set[str], now: dt.datetime) -> str | None:
    """Why ``b`` cannot serve ``names`` until at least ``now + RENEW_BEFORE``; None when it can."""
    ca, leaf = _load(b.ca_crt), _load(b.tls_crt)
    if ca is None or leaf is None or not b.tls_key:
        return "missing or unreadable certificate"
    if ca.not_valid_after_utc < now + RENEW_BEFORE:
        return "CA expires soon"
    if leaf.not_valid_after_utc < now + RENEW_BEFORE:
        return "serving certificate expires soon"
    try:
        leaf.verify_directly_issued_by(ca)  # the signature, not just the (shared) CA name
    except (ValueError, TypeError, InvalidSignature):
        return "serving certificate not issued by the CA"
    if not names <= _names(leaf):
        return f"serving certificate lacks names {sorted(names - _names(leaf))}"
    return None


def issue(names: tuple[str, ...], ips: tuple[str, ...] = (), ca: pki.KeyPair | None = None) -> Bundle:
    """A serving certificate for ``names``/``ips``, from ``ca`` or from a new self-signed CA."""
    ca = ca or pki.make_ca("kruise-py-webhook-ca", days=CA_DAYS)
    cn = names[0] if names else (ips[0] if ips else "kruise-py-webhook")
    leaf = pki.issue(ca, cn, dns=names, ips=ips, server=True, days=SERVING_DAYS)
    return Bundle(ca_crt=ca.cert_pem, tls_crt=leaf.cert_pem, tls_key=leaf.key_pem, ca_key=ca.key_pem)


def renewed(b: Bundle, names: tuple[str, ...], now: dt.datetime) -> Bundle:
    """A fresh serving certificate; keeps the CA (and so the caBundle) while it is good."""
    ca = _load(b.ca_crt)
    keep_ca = ca is not None and bool(b.ca_key) and ca.not_valid_after_utc >= now + RENEW_BEFORE
    return issue(names, ca=pki.KeyPair(b.ca_crt, b.ca_key) if keep_ca else None)


async def ensure_secret(
    client: KubeClient, namespace: str, name: str, names: tuple[str, ...], now: dt.datetime | None = None
) -> Bundle:
    """The webhook certificate kept in Secret ``namespace/name``: created when absent, renewed when
    near expiry. Replicas racing converge on one: a lost create (409) or update (409) means another
    replica wrote first, and its Secret is read and used."""
    path = path_for("v1", "secrets", namespace, name)
    now = now or dt.datetime.now(dt.UTC)
    for _ in range(5):
        secret = await client.get_or_none(path)
        if secret is None:
            body = {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": {
                        "app.kubernetes.io/name": "kruise-py",
                        "app.kubernetes.io/component": "webhook-certificate",
                    },
                },
                "data": issue(names).secret_data(),
            }
            try:
                return Bundle.from_secret(await client.create(path_for("v1", "secrets", namespace), body))
            except ApiError as e:
                if e.status != 409:
                    raise
                continue  # another replica created it first: read theirs
        current = Bundle.from_secret(secret)
        if renewal_reason(current, set(names), now) is None:
            return current
        # resourceVersion makes this a compare-and-swap: two replicas renewing at once write once.
        secret["data"] = renewed(current, names, now).secret_data()
        try:
            return Bundle.from_secret(await client.replace(path, secret))
        except ApiError as e:
            if e.status != 409:
                raise
    raise RuntimeError(f"could not settle the webhook certificate Secret {namespace}/{name}")


def write_pair(cert_dir: Path, b: Bundle) -> Path:
    """Write certificate + key as one PEM file (atomically replaced; kopf reloads it on change)."""
    cert_dir.mkdir(parents=True, exist_ok=True)
    target = cert_dir / "tls.pem"
    content = b.tls_crt + (b"" if b.tls_crt.endswith(b"\n") else b"\n") + b.tls_key
    if target.exists() and target.read_bytes() == content:
        return target
    tmp = cert_dir / f".tls.pem.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(content)
    os.replace(tmp, target)
    return target


def read_dir(cert_dir: Path) -> Bundle:
    """A mounted certificate Secret (cert-manager's tls.crt, tls.key, ca.crt)."""

    def read(n: str) -> bytes:
        p = cert_dir / n
        return p.read_bytes() if p.exists() else b""

    return Bundle(ca_crt=read("ca.crt"), tls_crt=read("tls.crt"), tls_key=read("tls.key"))


def ensure(cert_dir: Path, dns: tuple[str, ...] = (), ips: tuple[str, ...] = ()) -> tuple[Path, Path, bytes]:
    """local mode: (tls.crt, tls.key, CA PEM) in ``cert_dir``, created when missing or stale.
    Reused while valid for the requested names, so restarts keep the same caBundle."""
    cert_dir.mkdir(parents=True, exist_ok=True)
    crt, key, ca_crt = cert_dir / "tls.crt", cert_dir / "tls.key", cert_dir / "ca.crt"
    current = read_dir(cert_dir)
    if renewal_reason(current, {*dns, *ips}, dt.datetime.now(dt.UTC)) is None:
        return crt, key, current.ca_crt
    b = issue(dns, ips)
    ca_crt.write_bytes(b.ca_crt)
    crt.write_bytes(b.tls_crt)
    key.touch(0o600)
    key.write_bytes(b.tls_key)
    return crt, key, b.ca_crt

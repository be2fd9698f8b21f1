"""Webhook serving certificates: a self-signed CA and a server certificate, kept in a folder.

Reused while valid for the requested names, so restarts keep the same caBundle.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509

from ..runtime import pki


def _valid_for(crt: Path, names: set[str]) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(crt.read_bytes())
    except (OSError, ValueError):
        return False
    if cert.not_valid_after_utc < dt.datetime.now(dt.UTC) + dt.timedelta(days=30):
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have = {str(v) for v in san.get_values_for_type(x509.DNSName)}
    have |= {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    return names <= have


def ensure(cert_dir: Path, dns: tuple[str, ...] = (), ips: tuple[str, ...] = ()) -> tuple[Path, Path, bytes]:
    """Return (tls.crt, tls.key, CA PEM) in ``cert_dir``, creating them when missing or stale."""
    cert_dir.mkdir(parents=True, exist_ok=True)
    crt, key, ca_crt = cert_dir / "tls.crt", cert_dir / "tls.key", cert_dir / "ca.crt"
    if crt.exists() and key.exists() and ca_crt.exists() and _valid_for(crt, {*dns, *ips}):
        return crt, key, ca_crt.read_bytes()
    ca = pki.make_ca("kruise-py-webhook-ca")
    leaf = pki.issue(ca, dns[0] if dns else (ips[0] if ips else "kruise-py-webhook"),
                     dns=dns, ips=ips, server=True)
    ca_crt.write_bytes(ca.cert_pem)
    crt.write_bytes(leaf.cert_pem)
    key.touch(0o600)
    key.write_bytes(leaf.key_pem)
    return crt, key, ca.cert_pem

"""Webhook certificates (kruise_py/webhooks/certs.py): when they are renewed and what renewal keeps.
The Secret create/renew race is exercised against a real apiserver in
tests/integration/test_helm_install.py."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

from kruise_py.webhooks import certs

NAMES = certs.service_names("kruise-py-webhook", "kruise-py-system")
NOW = dt.datetime.now(dt.UTC)


def test_fresh_bundle_needs_no_renewal_and_round_trips_through_secret_data() -> None:
    b = certs.issue(NAMES)
    assert certs.renewal_reason(b, set(NAMES), NOW) is None
    again = certs.Bundle.from_secret({"data": b.secret_data()})
    assert again == b


def test_renewal_reasons() -> None:
    b = certs.issue(NAMES)
    assert (
        certs.renewal_reason(certs.Bundle(b"", b"", b""), set(NAMES), NOW)
        == "missing or unreadable certificate"
    )
    assert certs.renewal_reason(certs.Bundle.from_secret({"data": {"tls.crt": "!!"}}), set(NAMES), NOW)
    other = certs.issue(("kruise-py-webhook.other.svc",))
    assert "lacks names" in (certs.renewal_reason(other, set(NAMES), NOW) or "")
    late = NOW + dt.timedelta(days=certs.SERVING_DAYS) - certs.RENEW_BEFORE + dt.timedelta(days=1)
    assert certs.renewal_reason(b, set(NAMES), late) == "serving certificate expires soon"
    foreign = certs.Bundle(ca_crt=other.ca_crt, tls_crt=b.tls_crt, tls_key=b.tls_key, ca_key=other.ca_key)
    assert certs.renewal_reason(foreign, set(NAMES), NOW) == "serving certificate not issued by the CA"


def test_renewal_keeps_the_ca_so_the_ca_bundle_does_not_change() -> None:
    b = certs.issue(NAMES)
    late = NOW + dt.timedelta(days=certs.SERVING_DAYS)
    r = certs.renewed(b, NAMES, late)
    assert r.ca_crt == b.ca_crt and r.ca_key == b.ca_key
    assert r.tls_crt != b.tls_crt and r.tls_key != b.tls_key
    assert certs.renewal_reason(r, set(NAMES), NOW) is None


def test_a_ca_near_its_end_is_replaced() -> None:
    b = certs.issue(NAMES)
    near_ca_end = NOW + dt.timedelta(days=certs.CA_DAYS) - dt.timedelta(days=1)
    assert certs.renewal_reason(b, set(NAMES), near_ca_end) == "CA expires soon"
    assert certs.renewed(b, NAMES, near_ca_end).ca_crt != b.ca_crt


def test_write_pair_is_one_file_that_loads_as_certificate_and_key(tmp_path: Path) -> None:
    b = certs.issue(NAMES)
    p = certs.write_pair(tmp_path / "c", b)
    assert p.stat().st_mode & 0o077 == 0, "the key must not be readable by others"
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(p, p)  # what kopf's WebhookServer does with certfile == pkeyfile
    assert [f.name for f in p.parent.iterdir()] == ["tls.pem"], "no temporary file left behind"
    r = certs.renewed(b, NAMES, NOW)
    assert certs.write_pair(tmp_path / "c", r).read_bytes().startswith(r.tls_crt)


def test_local_mode_folder_is_reused_while_valid(tmp_path: Path) -> None:
    crt, _key, ca = certs.ensure(tmp_path, dns=("localhost",), ips=("127.0.0.1",))
    crt2, _, ca2 = certs.ensure(tmp_path, dns=("localhost",), ips=("127.0.0.1",))
    assert ca == ca2 and crt.read_bytes() == crt2.read_bytes()
    _, _, ca3 = certs.ensure(tmp_path, dns=("other",))
    assert ca3 != ca

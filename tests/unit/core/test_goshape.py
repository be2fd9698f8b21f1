"""core.goshape against Go: every expected byte string in goshape/expected.json comes from the typed
round trip in OpenKruise 1.9's k8s.io/api v0.32.10 (hack/gotypes; regenerate with `make gotypes`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kruise_py.api.sidecarset import go_json_marshal, sidecarset_hash, sidecarset_hash_without_image
from kruise_py.controllers.sidecarset import revisions as ssrev
from kruise_py.core import goshape
from kruise_py.core import revisions as rev
from kruise_py.core.goshape import canonical_quantity, go_float_text, go_shape, via_map

HERE = Path(__file__).parent / "goshape"
CASES = json.loads((HERE / "cases.json").read_text(encoding="utf-8"))
EXPECTED = json.loads((HERE / "expected.json").read_text(encoding="utf-8"))


def _pairs(kind: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    cases, expected = CASES[kind], EXPECTED[kind]
    assert [c["name"] for c in cases] == [e["name"] for e in expected], (
        "regenerate expected.json: make gotypes"
    )
    return list(zip(cases, expected, strict=True))


def _ids(kind: str) -> list[str]:
    return [c["name"] for c in CASES[kind]]


def test_vectors_come_from_openkruises_k8s_api() -> None:
    assert EXPECTED["versions"]["k8s.io/api"] == "v0.32.10"
    assert goshape.table_versions() == {"openkruise": "v0.32.10", "apiserver": "v0.36.2"}


# --------------------------------------------------------------------------------------------------
# Pod templates: typed bytes, revision data, hash and revision name


@pytest.mark.parametrize(("case", "want"), _pairs("templates"), ids=_ids("templates"))
def test_template_typed_bytes(case: dict[str, Any], want: dict[str, Any]) -> None:
    assert go_json_marshal(go_shape(case["template"], "PodTemplateSpec")) == want["typed"]


@pytest.mark.parametrize(("case", "want"), _pairs("templates"), ids=_ids("templates"))
def test_template_revision_bytes_hash_and_name(case: dict[str, Any], want: dict[str, Any]) -> None:
    data = rev.revision_data(case["template"])
    assert rev.revision_bytes(data).decode("utf-8") == want["revisionData"]
    assert rev.hash_revision(data, case["collisionCount"]) == want["hash"]
    sts = {
        "metadata": {"name": case["set"], "namespace": "ns", "uid": "u"},
        "spec": {"template": case["template"]},
        "status": {"collisionCount": case["collisionCount"]},
    }
    decision = rev.decide_update_revision(sts, [])
    assert decision.revision["metadata"]["name"] == want["revisionName"]
    # the reconciler sends the whole revision through go_json: the stored data bytes are the hashed ones
    sent = rev.go_json(decision.revision)
    assert f'"data":{want["revisionData"]},' in sent


@pytest.mark.parametrize(("case", "want"), _pairs("templates"), ids=_ids("templates"))
def test_openkruise_revision_equals_candidate_and_older_kruise_py_revision(
    case: dict[str, Any], want: dict[str, Any]
) -> None:
    """Adoption by content: OpenKruise's revision (its exact bytes), the one an older kruise-py
    wrote (the template as stored) and a new candidate are all equal."""
    openkruise = {
        "metadata": {"name": want["revisionName"]},
        "data": json.loads(want["revisionData"]),
        "revision": 1,
    }
    older = {
        "metadata": {"name": "older"},
        "revision": 1,
        "data": {"spec": {"template": {**case["template"], "$patch": "replace"}}},
    }
    candidate = rev.new_revision(
        {"metadata": {"name": case["set"]}}, case["template"], 2, case["collisionCount"]
    )
    assert rev.equal_revision(openkruise, candidate)
    assert rev.equal_revision(older, candidate)
    assert rev.revision_content(openkruise) == want["revisionData"].encode("utf-8")


def test_go_shape_is_idempotent_on_every_template() -> None:
    for case in CASES["templates"]:
        once = rev.go_template(case["template"])
        assert rev.go_template(once) == once, case["name"]


@pytest.mark.parametrize(("case", "want"), _pairs("typed"), ids=_ids("typed"))
def test_typed_values(case: dict[str, Any], want: dict[str, Any]) -> None:
    assert go_json_marshal(go_shape(case["value"], case["type"])) == want["typed"]


# --------------------------------------------------------------------------------------------------
# SidecarSets: hash input, both hashes, revision data and its hash


def _sidecarset(case: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "s", "uid": "u"},
        "spec": case["spec"],
        "status": {"collisionCount": case["collisionCount"]},
    }


@pytest.mark.parametrize(("case", "want"), _pairs("sidecarsets"), ids=_ids("sidecarsets"))
def test_sidecarset_hashes(case: dict[str, Any], want: dict[str, Any]) -> None:
    ss = _sidecarset(case)
    assert sidecarset_hash(ss) == want["hash"]
    assert sidecarset_hash_without_image(ss) == want["hashWithoutImage"]


@pytest.mark.parametrize(("case", "want"), _pairs("sidecarsets"), ids=_ids("sidecarsets"))
def test_sidecarset_revision_bytes_and_hash(case: dict[str, Any], want: dict[str, Any]) -> None:
    ss = _sidecarset(case)
    data = ssrev.revision_data(ss)
    assert rev.revision_bytes(data).decode("utf-8") == want["revisionData"]
    assert rev.hash_revision(data, case["collisionCount"]) == want["revisionHash"]
    action, revision, _ = ssrev.decide_revision_full(ss, [], "kruise-system")
    assert action == "create" and revision["metadata"]["name"] == f"s-{want['revisionHash']}"
    openkruise = {"metadata": {"name": "ok"}, "data": json.loads(want["revisionData"])}
    assert ssrev.equal_revision(openkruise, revision)


def test_openkruise_hash_test_values() -> None:
    """The Go emulation reproduces OpenKruise's own pinned values (pkg/control/sidecarcontrol/hash_test.go)."""
    by_name = {e["name"]: e for e in EXPECTED["sidecarsets"]}
    assert (
        by_name["openkruise-hash-test"]["hash"]
        == "w26c4x8fz245642fdv499b464248f974xddx4x55z5dw55bc6x66464fxz77dc78"
    )
    assert by_name["openkruise-hash-test-native"]["hash"] == (
        "4xwx4d4844vd4v9x79wb4xbxf4xb29475cc4446v8cz2c2f2f5c5bw448vd42z8w"
    )


# --------------------------------------------------------------------------------------------------
# Quantities


def test_quantity_vectors() -> None:
    wrong = []
    for v in EXPECTED["quantities"]:
        want = None if v.get("error") else v["out"]
        if canonical_quantity(v["in"]) != want:
            wrong.append((v["in"], canonical_quantity(v["in"]), want))
    assert not wrong
    assert len(EXPECTED["quantities"]) > 1300


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.5, "500m"),
        (1e3, "1k"),
        (2, "2"),
        (1.5e9, "1500M"),
        (0.1, "100m"),
        (1e21, "1e+21"),
        (2**63, "9223372036854776k"),
        ("0.5", "500m"),
        ("1024Mi", "1Gi"),
        ("1000m", "1"),
        (None, None),
        (True, None),
    ],
)
def test_quantity_from_json_numbers(value: Any, expected: str | None) -> None:
    """A JSON number reaches Go as the apiserver stored it (float64 text): 1e3 is served as 1000."""
    assert canonical_quantity(value) == expected


_QUANTITY = st.builds(
    lambda sign, whole, frac, suffix: f"{sign}{whole}{frac}{suffix}",
    st.sampled_from(["", "-", "+"]),
    st.from_regex(r"[0-9]{0,22}", fullmatch=True),
    st.sampled_from(["", "."]).flatmap(
        lambda dot: st.from_regex(r"[0-9]{0,12}", fullmatch=True).map(lambda d: dot + d if dot else "")
    ),
    st.sampled_from(
        [
            "",
            "n",
            "u",
            "m",
            "k",
            "M",
            "G",
            "T",
            "P",
            "E",
            "Ki",
            "Mi",
            "Gi",
            "Ti",
            "Pi",
            "Ei",
            "e3",
            "e-7",
            "E12",
            "e0",
        ]
    ),
)


@given(_QUANTITY)
def test_quantity_canonical_form_is_a_fixed_point(text: str) -> None:
    out = canonical_quantity(text)
    if out is not None:
        assert canonical_quantity(out) == out


# --------------------------------------------------------------------------------------------------
# Numbers through map[string]interface{}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (0.5, "0.5"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (1.5e-10, "1.5e-10"),
        (123456789012345678.0, "123456789012345680"),
        (1e100, "1e+100"),
        (-2.5e-7, "-2.5e-7"),
    ],
)
def test_go_float_text(value: float, expected: str) -> None:
    assert go_float_text(value) == expected


def test_via_map_rounds_integers_through_float64() -> None:
    assert via_map({"a": [2**53, 2**53 + 1, 9223372036854775807, 5, True]}) == {
        "a": [2**53, 2**53, 9223372036854776000, 5, True]
    }


# --------------------------------------------------------------------------------------------------
# Fields only k8s.io/api v0.36.2 has: dropped while unused, kept when set


def test_the_table_records_what_v036_adds() -> None:
    diff = goshape._raw_table()["diff"]
    assert "core/v1.Container.restartPolicyRules ([]core/v1.ContainerRestartRule)" in diff["addedFields"]
    assert diff["changedFields"] == [
        'meta/v1.ObjectMeta.creationTimestamp: @Time "omitempty" -> @Time "omitempty,omitzero"'
    ]


@pytest.mark.parametrize(
    ("container_extra", "kept"),
    [
        (
            {"restartPolicyRules": [{"action": "Restart", "exitCodes": {"operator": "In", "values": [42]}}]},
            {"restartPolicyRules": [{"action": "Restart", "exitCodes": {"operator": "In", "values": [42]}}]},
        ),
        ({"restartPolicyRules": []}, {}),
        ({"restartPolicyRules": None}, {}),
        ({"lifecycle": {"stopSignal": "SIGUSR1"}}, {"lifecycle": {"stopSignal": "SIGUSR1"}}),
        ({"lifecycle": {"stopSignal": None}}, {"lifecycle": {}}),
        (
            {
                "env": [
                    {"name": "F", "valueFrom": {"fileKeyRef": {"volumeName": "v", "path": "p", "key": "k"}}}
                ]
            },
            {
                "env": [
                    {"name": "F", "valueFrom": {"fileKeyRef": {"volumeName": "v", "path": "p", "key": "k"}}}
                ]
            },
        ),
    ],
)
def test_newer_fields(container_extra: dict[str, Any], kept: dict[str, Any]) -> None:
    shaped = go_shape({"name": "c", "image": "i", **container_extra}, "Container")
    assert {k: v for k, v in shaped.items() if k not in ("name", "image", "resources")} == kept


def test_newer_pod_fields() -> None:
    spec = go_shape({"containers": [], "hostnameOverride": "h", "schedulingGroup": None}, "PodSpec")
    assert spec == {"containers": [], "hostnameOverride": "h"}
    assert go_shape({"hostnameOverride": ""}, "PodSpec") == {"containers": None, "hostnameOverride": ""}


def test_creation_timestamp_is_written_as_openkruises_k8s_api_writes_it() -> None:
    # v0.36.2 marks it omitzero (and would drop it); OpenKruise's v0.32.10 writes null.
    assert go_shape({}, "PodTemplateSpec") == {
        "metadata": {"creationTimestamp": None},
        "spec": {"containers": None},
    }


def test_values_of_the_wrong_type_are_kept() -> None:
    """Go's decoder would fail on the whole object; admission rejects those, so we keep them."""
    shaped = go_shape({"name": 5, "ports": "x", "resources": {"limits": {"cpu": "1.5.5"}}}, "Container")
    assert shaped == {"name": 5, "ports": "x", "resources": {"limits": {"cpu": "1.5.5"}}}


def test_type_names() -> None:
    assert goshape.go_type("[]Volume") == goshape.go_type("[]core/v1.Volume")
    with pytest.raises(KeyError):
        goshape.go_type("NoSuchType")

"""core.availability: readiness, availability with minReadySeconds, health (spec §1.3, §3.1, P21)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kruise_py.core.availability import (
    available,
    is_created,
    is_failed_or_succeeded,
    is_healthy,
    is_running_ready,
    is_terminating,
    lifecycle_state,
    parse_time,
    ready_since,
)

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def pod(
    phase: str | None = "Running",
    ready: str | None = "True",
    since: datetime | str | None = NOW - timedelta(seconds=30),
    *,
    state: str | None = None,
    deleting: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "web-0", "labels": {}}
    if state is not None:
        meta["labels"]["lifecycle.apps.kruise.io/state"] = state
    if deleting:
        meta["deletionTimestamp"] = "2024-05-01T11:59:00Z"
    status: dict[str, Any] = {}
    if phase is not None:
        status["phase"] = phase
    if ready is not None:
        cond: dict[str, Any] = {"type": "Ready", "status": ready}
        if since is not None:
            cond["lastTransitionTime"] = (
                since if isinstance(since, str) else since.strftime("%Y-%m-%dT%H:%M:%SZ")
            )
        status["conditions"] = [{"type": "PodScheduled", "status": "True"}, cond]
    return {"metadata": meta, "status": status}


@pytest.mark.parametrize(
    ("s", "expected"),
    [
        ("2024-05-01T12:00:00Z", NOW),
        ("2024-05-01T14:00:00+02:00", NOW),
        ("2024-05-01T12:00:00.5Z", NOW + timedelta(milliseconds=500)),
        ("2024-05-01T12:00:00", NOW),  # no offset: UTC
    ],
)
def test_parse_time(s: str, expected: datetime) -> None:
    got = parse_time(s)
    assert got == expected
    assert got.tzinfo is not None and got.utcoffset() == timedelta(0)


def test_parse_time_invalid() -> None:
    with pytest.raises(ValueError):
        parse_time("yesterday")


@pytest.mark.parametrize(
    ("p", "created", "running_ready", "failed_or_succeeded", "terminating"),
    [
        (pod(), True, True, False, False),
        (pod(phase=None, ready=None), False, False, False, False),
        (pod(phase="Pending", ready="False"), True, False, False, False),
        (pod(phase="Pending", ready="True"), True, False, False, False),  # Ready but not Running
        (pod(ready="False"), True, False, False, False),
        (pod(ready=None), True, False, False, False),
        (pod(phase="Failed", ready="False"), True, False, True, False),
        (pod(phase="Succeeded", ready="False"), True, False, True, False),
        (pod(deleting=True), True, True, False, True),
    ],
)
def test_pod_predicates(
    p: dict[str, Any], created: bool, running_ready: bool, failed_or_succeeded: bool, terminating: bool
) -> None:
    assert is_created(p) is created
    assert is_running_ready(p) is running_ready
    assert is_failed_or_succeeded(p) is failed_or_succeeded
    assert is_terminating(p) is terminating


def test_ready_since() -> None:
    assert ready_since(pod()) == NOW - timedelta(seconds=30)
    assert ready_since(pod(ready="False")) is None
    assert ready_since(pod(since=None)) is None
    assert ready_since(pod(since="garbage")) is None
    assert ready_since({}) is None


@pytest.mark.parametrize(
    ("p", "mrs", "expected"),
    [
        (pod(), 0, (True, 0.0)),
        (pod(), 10, (True, 0.0)),  # Ready for 30s
        (pod(), 30, (True, 0.0)),  # exactly minReadySeconds: available (Kruise: waitTime > 0 waits)
        (pod(), 60, (False, 30.0)),  # 30s to go
        (pod(since=None), 60, (False, 60.0)),  # no lastTransitionTime: recheck after mrs (Kruise)
        (pod(since=None), 0, (True, 0.0)),
        (pod(ready="False"), 0, (False, 0.0)),
        (pod(phase="Pending"), 0, (False, 0.0)),
        (pod(state="Normal"), 0, (True, 0.0)),
        (pod(state=""), 0, (True, 0.0)),
        (pod(state="PreparingNormal"), 0, (False, 0.0)),  # §1.3: lifecycle state must be ""/Normal
        (pod(state="Updated"), 0, (False, 0.0)),
        (pod(state="PreparingDelete"), 60, (False, 0.0)),
    ],
)
def test_available(p: dict[str, Any], mrs: int, expected: tuple[bool, float]) -> None:
    assert available(p, mrs, NOW) == expected


def test_available_naive_now_is_utc() -> None:
    assert available(pod(), 60, NOW.replace(tzinfo=None)) == (False, 30.0)


@given(ready_for=st.integers(0, 400), mrs=st.integers(0, 300))
def test_available_wait_property(ready_for: int, mrs: int) -> None:
    p = pod(since=NOW - timedelta(seconds=ready_for))
    ok, wait = available(p, mrs, NOW)
    assert ok is (ready_for >= mrs)
    if ok:
        assert wait == 0
    else:
        assert wait == mrs - ready_for
        # once the wait has passed the pod is available
        assert available(p, mrs, NOW + timedelta(seconds=wait)) == (True, 0.0)


@pytest.mark.parametrize(
    ("p", "healthy"),
    [
        (pod(), True),
        (pod(state="Normal"), True),
        (pod(deleting=True), False),
        (pod(ready="False"), False),
        (pod(phase="Pending"), False),
        (pod(state="PreparingUpdate"), False),
        (pod(state="Updating"), False),
        (pod(state="Updated"), False),
        (pod(state="PreparingNormal"), False),
        (pod(state="PreparingDelete"), False),
        (pod(since=NOW), True),  # health ignores minReadySeconds
    ],
)
def test_is_healthy(p: dict[str, Any], healthy: bool) -> None:
    assert is_healthy(p) is healthy


def test_lifecycle_state() -> None:
    assert lifecycle_state(pod()) == ""
    assert lifecycle_state(pod(state="Updated")) == "Updated"
    assert lifecycle_state({}) == ""

"""Sharded mode's SidecarSet pods (controllers/sidecarset/selected.py): each SidecarSet's pods
are one server-side-selected watch, as its selector reads."""

from __future__ import annotations

from typing import Any

import pytest

from kruise_py.controllers.sidecarset.selected import watch_key


def _ss(selector: Any, namespace: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": selector}
    if namespace:
        spec["namespace"] = namespace
    return {"metadata": {"name": "s"}, "spec": spec}


@pytest.mark.parametrize(
    ("selector", "text"),
    [
        ({"matchLabels": {"app": "web", "a": "1"}}, "a=1,app=web"),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]}, "tier in (a,b)"),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}, "tier notin (a)"),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, "tier"),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, "!tier"),
    ],
)
def test_the_watch_selector_is_the_apiservers_form_of_the_sidecarsets(
    selector: dict[str, Any], text: str
) -> None:
    assert watch_key(_ss(selector)) == (None, text)


def test_namespace_and_nothing_selected() -> None:
    assert watch_key(_ss({"matchLabels": {"app": "web"}}, "prod")) == ("prod", "app=web")
    assert watch_key(_ss(None)) is None  # a nil selector selects nothing: no watch
    assert watch_key(_ss({"matchExpressions": [{"key": "k", "operator": "Bogus"}]})) is None
    assert watch_key(_ss({})) == (None, "")  # empty: every pod

from __future__ import annotations

import pytest

from kruise_py.sandbox import binaries

KUBE_GO_MOD = """module k8s.io/kubernetes

go 1.26.0

require k8s.io/api v0.0.0

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/client-go => ./staging/src/k8s.io/client-go
	github.com/x/y => github.com/x/y v1.2.3
)
"""


def test_go_mod_replaces_every_staging_module_with_its_release() -> None:
    text = binaries.go_mod_text(KUBE_GO_MOD)
    assert "require k8s.io/kubernetes v1.36.2" in text
    assert "\tk8s.io/api => k8s.io/api v0.36.2" in text
    assert "\tk8s.io/client-go => k8s.io/client-go v0.36.2" in text
    assert "github.com/x/y" not in text


def test_go_mod_without_staging_is_an_error() -> None:
    with pytest.raises(binaries.BinariesMissing):
        binaries.go_mod_text("module x\n")


def test_version_ldflags_stamp_the_release() -> None:
    flags = binaries.version_ldflags()
    assert "-X k8s.io/component-base/version.gitVersion=v1.36.2" in flags
    assert "-X k8s.io/client-go/pkg/version.gitMinor=36" in flags


def test_missing_binaries_message_says_how_to_supply_them(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KRUISE_PY_CACHE", str(tmp_path))
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    with pytest.raises(binaries.BinariesMissing) as e:
        binaries.find(build=False)
    assert "KUBEBUILDER_ASSETS" in str(e.value) and "Go" in str(e.value)


def test_kubebuilder_assets_win(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KRUISE_PY_CACHE", str(tmp_path / "cache"))
    assets = tmp_path / "assets"
    assets.mkdir()
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kubectl"):
        (assets / name).write_text("#!/bin/sh\n")
        (assets / name).chmod(0o755)
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(assets))
    b = binaries.find(build=False)
    assert b.kube_apiserver == assets / "kube-apiserver" and b.kubectl == assets / "kubectl"

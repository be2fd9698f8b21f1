"""The real node's configuration and images (pure parts of realnode.py and images.py)."""

from __future__ import annotations

import io
import json
import tarfile
import tomllib
from pathlib import Path

import pytest

from kruise_py.sandbox import images
from kruise_py.sandbox.realnode import (
    REAL_TAINT,
    RealNodeUnavailable,
    cgroup_version,
    cni_config,
    containerd_config,
    kubelet_config,
    pick_subnet,
    short_id,
)

FAKE_BUSYBOX = b"\x7fELF" + b"\0" * 64


def test_subnet_is_stable_per_node_and_skips_used_ones() -> None:
    first = pick_subnet("0b0a1d", set())
    assert first == pick_subnet("0b0a1d", set()) and first.prefixlen == 24
    assert str(first).startswith("10.88.") and str(first) != "10.88.0.0/24"
    assert pick_subnet("0b0a1d", {str(first)}) != first
    every = {f"10.88.{i}.0/24" for i in range(256)}
    with pytest.raises(RealNodeUnavailable):
        pick_subnet("0b0a1d", every)


def test_short_id_depends_on_the_folder(tmp_path: Path) -> None:
    assert short_id(tmp_path / "a") != short_id(tmp_path / "b")
    assert len(short_id(tmp_path)) == 6


def test_kubelet_config_runs_on_cgroup_v1_with_cgroupfs() -> None:
    cfg = kubelet_config(
        socket=Path("/run/x/containerd.sock"),
        cgroup_root="/kruise-py-abc",
        address="10.88.5.1",
        port=1,
        healthz_port=2,
        ca=Path("/ca.crt"),
        pod_logs=Path("/logs"),
    )
    assert cfg["failCgroupV1"] is False and cfg["cgroupDriver"] == "cgroupfs"
    assert cfg["containerRuntimeEndpoint"] == "unix:///run/x/containerd.sock"
    assert cfg["registerWithTaints"] == [REAL_TAINT] and cfg["address"] == "10.88.5.1"
    assert cfg["authentication"]["anonymous"]["enabled"] is False


def test_containerd_config_is_valid_toml_with_our_pause_image_and_oom_clamp(tmp_path: Path) -> None:
    text = containerd_config(
        root=tmp_path / "root",
        state=tmp_path / "state",
        socket=tmp_path / "s.sock",
        runc_root=tmp_path / "runc",
        runtime=Path("/usr/sbin/runc"),
        cni_bin=Path("/usr/lib/cni"),
        cni_conf=tmp_path / "net.d",
        opt=tmp_path / "opt",
    )
    cfg = tomllib.loads(text)
    cri = cfg["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == images.PAUSE and cri["restrict_oom_score_adj"] is True
    opts = cri["containerd"]["runtimes"]["runc"]["options"]
    assert opts["SystemdCgroup"] is False and opts["Root"] == str(tmp_path / "runc")
    assert cfg["grpc"]["address"] == str(tmp_path / "s.sock")


def test_cni_config_bridge_gateway_is_the_node_ip(tmp_path: Path) -> None:
    import ipaddress

    net = ipaddress.IPv4Network("10.88.7.0/24")
    cfg = cni_config("n", "kpy-abc", net, tmp_path)
    bridge = cfg["plugins"][0]
    assert bridge["bridge"] == "kpy-abc" and bridge["ipMasq"] is False
    assert bridge["ipam"]["ranges"][0][0] == {"subnet": "10.88.7.0/24", "gateway": "10.88.7.1"}


def test_cgroup_version(tmp_path: Path) -> None:
    assert cgroup_version(tmp_path) == 1
    (tmp_path / "cgroup.controllers").write_text("cpu memory")
    assert cgroup_version(tmp_path) == 2


def _members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tf:
        return {m.name: (tf.extractfile(m).read() if m.isfile() else b"") for m in tf.getmembers()}  # type: ignore[union-attr]


def test_images_are_reproducible_oci_layouts_and_the_tags_differ() -> None:
    specs = {s.ref: s for s in images.image_specs(FAKE_BUSYBOX)}
    assert set(specs) == {images.PAUSE, images.APP_V1, images.APP_V2}
    a1, a2 = images.oci_archive(specs[images.APP_V1]), images.oci_archive(specs[images.APP_V2])
    assert a1 == images.oci_archive(specs[images.APP_V1]), "same bytes every time"
    assert images.manifest_digest(a1) != images.manifest_digest(a2)
    files = _members(a1)
    index = json.loads(files["index.json"])
    ann = index["manifests"][0]["annotations"]
    assert ann["io.containerd.image.name"] == images.APP_V1
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    manifest = json.loads(files["blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1]])
    config = json.loads(files["blobs/sha256/" + manifest["config"]["digest"].split(":")[1]])
    assert len(manifest["layers"]) == len(config["rootfs"]["diff_ids"]) == 2
    assert config["config"]["Cmd"][:2] == ["/bin/sh", "-c"] and "httpd" in config["config"]["Cmd"][2]
    # The busybox layer is shared by both tags; the version layer differs.
    m2 = json.loads(
        _members(a2)[
            "blobs/sha256/" + json.loads(_members(a2)["index.json"])["manifests"][0]["digest"].split(":")[1]
        ]
    )
    assert manifest["layers"][0] == m2["layers"][0] and manifest["layers"][1] != m2["layers"][1]


def test_busybox_layer_links_the_applets() -> None:
    raw = images.layer_tar(images.busybox_layer(FAKE_BUSYBOX))
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        sh = tf.getmember("bin/sh")
        assert sh.issym() and sh.linkname == "busybox"
        assert tf.getmember("tmp").mode == 0o1777 and tf.getmember("bin/busybox").mode == 0o755


def test_write_archives_needs_busybox(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="busybox-static"):
        images.write_archives(tmp_path, busybox_path=tmp_path / "nope")

"""Small OCI images built on this machine, for the real node (no registry, no Docker).

Every image is one busybox layer (Debian's ``busybox-static`` binary plus applet symlinks) and one
small layer that makes the tags differ (``/etc/kruise-py-image``, ``/www/index.html``). The archives
are OCI image layouts in a tar, written byte-for-byte reproducibly (fixed mtimes, owners and gzip
header), so importing them again yields the same digests and ``ctr images import`` is idempotent.

The pause image is the same busybox with a shell that waits for TERM: the sandbox container only
has to hold the pod's namespaces and exit when told.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = "localhost/kruise-py"
BUSYBOX = f"{REPO}/busybox"
# Two tags of one app: an in-place update switches between them.
APP_V1 = f"{BUSYBOX}:v1"
APP_V2 = f"{BUSYBOX}:v2"
PAUSE = f"{REPO}/pause:3.10"
BUSYBOX_BIN = Path("/bin/busybox")
# Applets the test pods and the pause image use (symlinks to /bin/busybox).
APPLETS = (
    "sh",
    "sleep",
    "cat",
    "echo",
    "ls",
    "touch",
    "rm",
    "test",
    "true",
    "false",
    "httpd",
    "wget",
    "ps",
    "kill",
    "hostname",
    "ip",
    "date",
    "env",
    "grep",
    "nc",
    "mkdir",
)
# PID 1 ignores signals it has no handler for: each script traps TERM, so a container stops at
# once instead of after its grace period.
PAUSE_SCRIPT = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"
APP_SCRIPT = "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait $!"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"


@dataclass(frozen=True)
class Entry:
    """One file, directory or symlink of a layer."""

    path: str
    data: bytes = b""
    mode: int = 0o644
    kind: str = "file"  # file | dir | symlink
    target: str = ""


@dataclass(frozen=True)
class ImageSpec:
    ref: str
    layers: tuple[tuple[Entry, ...], ...]
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ("PATH=/bin",)
    labels: Mapping[str, str] = field(default_factory=dict)


def _digest(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def layer_tar(entries: Iterable[Entry]) -> bytes:
    """An uncompressed layer tar, entries sorted, every header fixed (owner root, mtime 0)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in sorted(entries, key=lambda e: e.path):
            ti = tarfile.TarInfo(e.path.lstrip("/"))
            ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = 0, 0, 0, "", ""
            ti.mode = e.mode
            if e.kind == "dir":
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            elif e.kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, e.target
                tf.addfile(ti)
            else:
                ti.size = len(e.data)
                tf.addfile(ti, io.BytesIO(e.data))
    return buf.getvalue()


def _gzip(b: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(b)
    return out.getvalue()


def oci_archive(spec: ImageSpec) -> bytes:
    """An OCI image layout (oci-layout, index.json, blobs/sha256/…) as one tar, named ``spec.ref``
    through the ``io.containerd.image.name`` annotation that ``ctr images import`` reads."""
    blobs: dict[str, bytes] = {}
    layers, diff_ids = [], []
    for entries in spec.layers:
        raw = layer_tar(entries)
        gz = _gzip(raw)
        diff_ids.append(_digest(raw))
        blobs[_digest(gz)] = gz
        layers.append({"mediaType": MT_LAYER, "digest": _digest(gz), "size": len(gz)})
    config: dict[str, Any] = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Env": list(spec.env), "WorkingDir": "/", "Labels": dict(spec.labels)},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created": "1970-01-01T00:00:00Z", "created_by": "kruise-py images.py"} for _ in spec.layers
        ],
    }
    if spec.entrypoint:
        config["config"]["Entrypoint"] = list(spec.entrypoint)
    if spec.cmd:
        config["config"]["Cmd"] = list(spec.cmd)
    cfg = _canon(config)
    blobs[_digest(cfg)] = cfg
    manifest = _canon(
        {
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "config": {"mediaType": MT_CONFIG, "digest": _digest(cfg), "size": len(cfg)},
            "layers": layers,
        }
    )
    blobs[_digest(manifest)] = manifest
    tag = spec.ref.rsplit(":", 1)[1]
    index = _canon(
        {
            "schemaVersion": 2,
            "mediaType": MT_INDEX,
            "manifests": [
                {
                    "mediaType": MT_MANIFEST,
                    "digest": _digest(manifest),
                    "size": len(manifest),
                    "platform": {"architecture": "amd64", "os": "linux"},
                    "annotations": {
                        "io.containerd.image.name": spec.ref,
                        "org.opencontainers.image.ref.name": tag,
                    },
                }
            ],
        }
    )
    files = [
        Entry("oci-layout", _canon({"imageLayoutVersion": "1.0.0"})),
        Entry("index.json", index),
        Entry("blobs", kind="dir", mode=0o755),
        Entry("blobs/sha256", kind="dir", mode=0o755),
    ]
    files += [Entry(f"blobs/sha256/{d.split(':', 1)[1]}", b) for d, b in blobs.items()]
    return layer_tar(files)


def manifest_digest(archive: bytes) -> str:
    """The manifest digest ``index.json`` of an archive names (what the runtime reports as the
    image's repo digest)."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as tf:
        member = tf.extractfile("index.json")
        assert member is not None
        return str(json.loads(member.read())["manifests"][0]["digest"])


def _canon(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def busybox_layer(busybox: bytes) -> tuple[Entry, ...]:
    entries = [Entry(d, kind="dir", mode=0o755) for d in ("bin", "etc", "www", "dev", "proc", "sys", "var")]
    entries += [Entry("tmp", kind="dir", mode=0o1777), Entry("bin/busybox", busybox, mode=0o755)]
    entries += [Entry(f"bin/{a}", kind="symlink", target="busybox", mode=0o777) for a in APPLETS]
    entries += [
        Entry("etc/passwd", b"root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"),
        Entry("etc/group", b"root:x:0:\nnobody:x:65534:\n"),
    ]
    return tuple(entries)


def version_layer(version: str) -> tuple[Entry, ...]:
    return (
        Entry("etc/kruise-py-image", f"{version}\n".encode()),
        Entry("www/index.html", f"kruise-py test image {version}\n".encode()),
    )


def image_specs(busybox: bytes) -> list[ImageSpec]:
    """The pause image and the two app tags (a web server on :8080 that says its version)."""
    base = busybox_layer(busybox)
    app_cmd = ("/bin/sh", "-c", APP_SCRIPT)
    return [
        ImageSpec(PAUSE, (base, version_layer("pause")), entrypoint=("/bin/sh", "-c", PAUSE_SCRIPT)),
        ImageSpec(APP_V1, (base, version_layer("v1")), cmd=app_cmd, labels={"kruise-py.io/version": "v1"}),
        ImageSpec(APP_V2, (base, version_layer("v2")), cmd=app_cmd, labels={"kruise-py.io/version": "v2"}),
    ]


def write_archives(dest: Path, busybox_path: Path = BUSYBOX_BIN) -> dict[str, Path]:
    """Write one ``<name>-<tag>.tar`` per image into ``dest``; returns ref -> archive path."""
    if not busybox_path.is_file():
        raise FileNotFoundError(f"{busybox_path} not found: install Debian's busybox-static")
    busybox = busybox_path.read_bytes()
    dest.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for spec in image_specs(busybox):
        name = spec.ref.rsplit("/", 1)[1].replace(":", "-")
        p = dest / f"{name}.tar"
        data = oci_archive(spec)
        if not p.exists() or p.read_bytes() != data:
            p.write_bytes(data)
        out[spec.ref] = p
    return out

"""runtime/malloc.py: glibc's free memory goes back to the kernel."""

from __future__ import annotations

import platform

import pytest

from kruise_py.runtime import malloc

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt/malloc_trim are glibc calls")


def _rss() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


@glibc
def test_trim_returns_free_heap_pages_held_below_a_live_allocation() -> None:
    # 64 MiB in 4 KiB blocks (below the mmap threshold: they come from the heap); the last one
    # stays alive, so the freed space is not at the heap's top and free() does not release it.
    blocks = [bytearray(4096) for _ in range(16384)]
    for b in blocks:
        b[::512] = b"x" * 8  # touch every page
    keep = blocks[-1]
    del blocks
    before = _rss()
    assert malloc.trim()
    assert before - _rss() > 32 * 2**20
    assert keep[0] == ord("x")


@glibc
def test_limit_arenas_is_accepted() -> None:
    assert malloc.limit_arenas(2)


def test_small_tls_buffers_shrink_the_receive_buffer_of_new_tls_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio
    import ssl
    from asyncio import sslproto

    monkeypatch.setattr(sslproto.SSLProtocol, "max_size", 256 * 1024)
    assert malloc.small_tls_buffers(64 * 1024)

    async def new_protocol() -> int:
        loop = asyncio.get_running_loop()
        proto = sslproto.SSLProtocol(
            loop, asyncio.Protocol(), ssl.create_default_context(), loop.create_future()
        )
        return len(vars(proto)["_ssl_buffer"])

    assert asyncio.run(new_protocol()) == 64 * 1024

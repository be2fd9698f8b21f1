"""Memory settings for the operator process: glibc malloc and TLS buffers (docs/benchmarks.md, P4).

The operator's informers replace cached objects with every watch event, and the admission server
decodes pods on its own thread. glibc gives that thread its own malloc arena (up to 8 per core)
and keeps freed memory in every arena instead of returning it: after the 5000 pods of P4 were
created, ~35% of the operator's RSS was free memory held by glibc (smaps: the main heap and one
thread arena), which an operator restart with the same pods did not have.

- :func:`limit_arenas` is ``MALLOC_ARENA_MAX`` set from inside (the image and chart also set the
  variable; this covers ``kruise-py run`` started by hand). It must run before threads start.
- :func:`trim_forever` calls ``malloc_trim(0)`` now and then, which hands free pages of every
  arena back to the kernel (a few ms with a 100 MiB heap).

- :func:`small_tls_buffers`: asyncio gives every TLS connection a 256 KiB receive buffer,
  zero-filled, for its whole life (``asyncio.sslproto.SSLProtocol.max_size``). The client keeps
  up to 64 connections to the apiserver and the apiserver opens dozens to the admission server:
  with 500 pods 22 MiB of the operator's 66 MiB traced heap were these buffers (tracemalloc).
  A TLS record carries at most 16 KiB, so 64 KiB only means more, cheaper reads of large lists.
  ``M_MMAP_THRESHOLD`` is pinned below that size so the buffers are mmapped and go back to the
  kernel when their connection closes; glibc's default raises the threshold after the first
  such free, after which they were carved from the heap and fragmented it.

The malloc calls are no-ops where the C library has none (musl, macOS).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
from typing import Any

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
M_ARENA_MAX = -8
TLS_BUFFER = 64 * 1024


def _libc() -> Any:
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def limit_arenas(n: int = 2) -> bool:
    """At most ``n`` malloc arenas; False where unsupported."""
    libc = _libc()
    fn = getattr(libc, "mallopt", None)
    return bool(fn is not None and fn(M_ARENA_MAX, n) == 1)


def small_tls_buffers(size: int = TLS_BUFFER) -> bool:
    """``size``-byte TLS receive buffers, mmapped; call before connections open. False if the
    asyncio in use has no such class attribute (then nothing is changed)."""
    from asyncio import sslproto

    if not isinstance(getattr(sslproto.SSLProtocol, "max_size", None), int):
        return False
    sslproto.SSLProtocol.max_size = size
    fn = getattr(_libc(), "mallopt", None)
    if fn is not None:
        fn(M_MMAP_THRESHOLD, size - 4096)
    return True


def trim() -> bool:
    """Return free heap memory to the kernel; False where unsupported."""
    fn = getattr(_libc(), "malloc_trim", None)
    if fn is None:
        return False
    fn(0)
    return True


async def trim_forever(interval: float = 30.0) -> None:
    """:func:`trim` every ``interval`` seconds (a task for the life of the process)."""
    if not trim():
        log.debug("malloc_trim not available; not trimming")
        return
    while True:
        await asyncio.sleep(interval)
        trim()

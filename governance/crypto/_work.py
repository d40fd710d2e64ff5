"""Bulk group operations over packed byte strings, run inline or in worker processes.

Boundary rule: standard library and ``governance.crypto.group`` only. Every function takes and
returns plain bytes so that chunks travel cheaply to a process pool (``spawn`` start method, so a
worker never inherits a parent's threads or locks). Scalars are concatenated 32-byte little-endian.
"""

from __future__ import annotations

import ctypes
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

from .group import IDENTITY, _lib

__all__ = ["reencrypt", "tuple_msm", "smul_each", "point_msm", "combine_chunk", "pool", "run", "split"]

_smul = _lib.crypto_scalarmult_ristretto255
_smul_base = _lib.crypto_scalarmult_ristretto255_base
_add = _lib.crypto_core_ristretto255_add
_sub = _lib.crypto_core_ristretto255_sub

#: Below this many ciphertexts a pool costs more (process start-up) than it saves.
POOL_MIN = 3000


def reencrypt(packed: bytes, rand: bytes, y: bytes) -> bytes:
    """``(α + s·g, β + s·y)`` for each packed ciphertext and its 32-byte ``s``."""
    out = bytearray(len(packed))
    t, u = ctypes.create_string_buffer(32), ctypes.create_string_buffer(32)
    for m in range(len(packed) // 64):
        s = rand[32 * m: 32 * m + 32]
        o = 64 * m
        _smul_base(t, s)
        _add(u, packed[o:o + 32], t.raw)
        out[o:o + 32] = u.raw
        _smul(t, s, y)
        _add(u, packed[o + 32:o + 64], t.raw)
        out[o + 32:o + 64] = u.raw
    return bytes(out)


def tuple_msm(packed: bytes, width: int, scalars: bytes) -> bytes:
    """``Σ_i e_i·w_i`` componentwise over packed tuples of ``width``: one packed tuple."""
    acc = [IDENTITY] * (2 * width)
    t, u = ctypes.create_string_buffer(32), ctypes.create_string_buffer(32)
    row = 64 * width
    for i in range(len(packed) // row):
        e = scalars[32 * i: 32 * i + 32]
        base = row * i
        for c in range(2 * width):
            o = base + 32 * c
            if _smul(t, e, packed[o:o + 32]) == 0:
                _add(u, acc[c], t.raw)
                acc[c] = u.raw
    return b"".join(acc)


def smul_each(points: bytes, scalar: bytes) -> bytes:
    """``x·P`` for each packed point (the identity where libsodium reports it)."""
    out = bytearray(len(points))
    t = ctypes.create_string_buffer(32)
    for o in range(0, len(points), 32):
        if _smul(t, scalar, points[o:o + 32]) == 0:
            out[o:o + 32] = t.raw
    return bytes(out)


def point_msm(points: bytes, scalars: bytes) -> bytes:
    """``Σ z_m·P_m`` over packed points."""
    acc = IDENTITY
    t, u = ctypes.create_string_buffer(32), ctypes.create_string_buffer(32)
    for m in range(len(points) // 32):
        if _smul(t, scalars[32 * m: 32 * m + 32], points[32 * m: 32 * m + 32]) == 0:
            _add(u, acc, t.raw)
            acc = u.raw
    return acc


def combine_chunk(packed: bytes, factors: Sequence[bytes], lambdas: Sequence[bytes]) -> bytes:
    """``β − Σ_j λ_j·d_j`` for each packed ciphertext: packed plaintext points (32 bytes each)."""
    count = len(packed) // 64
    out = bytearray(32 * count)
    one = (1).to_bytes(32, "little")
    t, u = ctypes.create_string_buffer(32), ctypes.create_string_buffer(32)
    for m in range(count):
        acc = packed[64 * m + 32: 64 * m + 64]
        for d, lam in zip(factors, lambdas, strict=True):
            p = d[32 * m: 32 * m + 32]
            if lam != one:
                if _smul(t, lam, p) != 0:
                    continue
                p = t.raw
            _sub(u, acc, p)
            acc = u.raw
        out[32 * m: 32 * m + 32] = acc
    return bytes(out)


def split(count: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous ``[lo, hi)`` ranges covering ``0..count`` (empty ones dropped)."""
    parts = max(1, min(parts, count))
    step, extra = divmod(count, parts)
    out, lo = [], 0
    for p in range(parts):
        hi = lo + step + (1 if p < extra else 0)
        if hi > lo:
            out.append((lo, hi))
        lo = hi
    return out


@contextmanager
def pool(workers: int, size: int):
    """A process pool of ``workers`` when ``size`` (ciphertexts) makes it pay, else None."""
    if not isinstance(workers, int) or workers < 1:
        raise ValueError("workers must be a positive integer")
    if workers == 1 or size < POOL_MIN:
        yield None
        return
    ex = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield ex
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def run(ex: Executor | None, func: Callable[..., Any], calls: list[tuple[Any, ...]]) -> list[Any]:
    """Run ``func(*args)`` for each args tuple, in the pool if there is one; results in order."""
    if ex is None or len(calls) <= 1:
        return [func(*a) for a in calls]
    futures = [ex.submit(func, *a) for a in calls]
    return [f.result() for f in futures]

"""Shared by the benchmark scripts."""

from __future__ import annotations

import time


def timed(fn, repeat: int = 1):
    """(best wall time over ``repeat`` runs, the last result)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out

"""Work that a thread cannot interrupt (UMAP's numba fit), run in a worker process that can be killed.

``run_stoppable(fn, *args, poll=...)`` sends the call to one long-lived worker process (spawned
once, so numba's compiled code stays warm between calls) and waits for the result, calling
``poll()`` every ``interval`` seconds. When ``poll`` raises (the app's progress update raises
when the user clicks Cancel), the worker is killed at once and the exception goes on: the call
stops within ``interval`` seconds, and the next call starts a new worker. ``fn`` must be importable
(a module-level function) and its arguments and result picklable (numpy arrays).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import threading
import types
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool

_LOCK = threading.Lock()
_POOL: ProcessPoolExecutor | None = None


def _pool() -> ProcessPoolExecutor:
    global _POOL
    with _LOCK:
        if _POOL is None:
            from explorer.cache import default_cache_dir

            # numba's cache of compiled functions survives restarts when it has a folder of its own
            os.environ.setdefault("NUMBA_CACHE_DIR", str(default_cache_dir() / "numba"))
            pool = ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"))
            # A spawned child re-runs the parent's __main__ module, which under Streamlit is the app
            # script itself: start the worker while __main__ is a plain, empty module.
            main = sys.modules["__main__"]
            sys.modules["__main__"] = types.ModuleType("__main__")
            try:
                pool.submit(int)  # starts the worker process now, without waiting for it to be ready
            finally:
                sys.modules["__main__"] = main
            _POOL = pool
        return _POOL


def kill_worker() -> None:
    """Stop the worker process now (whatever it is doing); the next call starts a new one."""
    global _POOL
    with _LOCK:
        pool, _POOL = _POOL, None
    if pool is None:
        return
    for proc in list(getattr(pool, "_processes", {}).values()):
        proc.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def run_stoppable(fn, *args, poll=None, interval: float = 0.1):
    """``fn(*args)`` in the worker process; ``poll()`` is called while waiting and may raise to stop it."""
    try:
        future = _pool().submit(fn, *args)
    except BrokenProcessPool:
        kill_worker()
        future = _pool().submit(fn, *args)
    try:
        while True:
            try:
                return future.result(timeout=interval)
            except FutureTimeout:
                if poll is not None:
                    poll()
    except BrokenProcessPool:
        kill_worker()
        raise RuntimeError("the worker process died (out of memory?); try again with fewer samples") from None
    except BaseException:
        kill_worker()
        raise

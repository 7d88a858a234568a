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
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool

_LOCK = threading.Lock()
_POOL: ProcessPoolExecutor | None = None


def _no_main(get_preparation_data):
    """multiprocessing's preparation data without the parent's __main__: a spawned child would otherwise
    re-run it, and under Streamlit that is the app script itself."""
    def prepare(name):
        data = get_preparation_data(name)
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
        return data

    prepare.__wrapped__ = get_preparation_data
    return prepare


def _watch_parent(parent: int) -> None:
    """In the worker: exit as soon as the server that started it is gone (killed, or stopped while a fit
    ran), instead of computing on as an orphan. Measured before this: orphaned workers of stopped servers
    kept 5-11% of a core each for over ten minutes."""
    import time

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="parent watch").start()


def _pool() -> ProcessPoolExecutor:
    global _POOL
    with _LOCK:
        if _POOL is None:
            import multiprocessing.spawn as spawn

            from explorer.cache import default_cache_dir

            if not hasattr(spawn.get_preparation_data, "__wrapped__"):
                spawn.get_preparation_data = _no_main(spawn.get_preparation_data)
            # numba's cache of compiled functions survives restarts when it has a folder of its own
            os.environ.setdefault("NUMBA_CACHE_DIR", str(default_cache_dir() / "numba"))
            _POOL = ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"),
                                        initializer=_watch_parent, initargs=(os.getpid(),))
            _POOL.submit(int)  # starts the worker process now, without waiting for it to be ready
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


# One call at a time: a Cancel kills the worker, which must then be running the cancelled call only.
_RUN = threading.Lock()


def run_stoppable(fn, *args, poll=None, interval: float = 0.1):
    """``fn(*args)`` in the worker process; ``poll()`` is called while waiting (also while another
    session's call runs first) and may raise to stop it: then the worker is killed. An error raised by
    ``fn`` itself comes back as it is, and the worker stays."""
    while not _RUN.acquire(timeout=interval):
        if poll is not None:
            poll()
    try:
        try:
            future = _pool().submit(fn, *args)
        except BrokenProcessPool:
            kill_worker()
            future = _pool().submit(fn, *args)
        while True:
            try:
                return future.result(timeout=interval)
            except FutureTimeout:
                if poll is not None:
                    try:
                        poll()
                    except BaseException:
                        kill_worker()
                        raise
            except BrokenProcessPool:
                kill_worker()
                raise RuntimeError("the worker process died (out of memory?); try again with fewer samples") from None
    finally:
        _RUN.release()

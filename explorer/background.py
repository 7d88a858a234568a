"""Work that goes on while the page stays live: one job per key, in a thread of the server process.

``submit(key, label, work)`` starts ``work(update)`` unless a job of that key is already running (two
sessions asking for the same UMAP share one job). ``update(fraction, text)`` records the progress and
raises ``Cancelled`` once ``cancel(key)`` was called, so work that updates often stops at its next
update; work in a worker process (``explorer.workers.run_stoppable``) stops at once, its process killed.
The work stores its results where the page reads them (the content-keyed cache); a job keeps only its
progress, its error, and whether it finished.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


class Cancelled(Exception):
    """Raised inside a job's work by its ``update`` after ``cancel``."""


@dataclass
class Job:
    key: str
    label: str
    fraction: float = 0.0
    text: str = ""
    error: str | None = None
    done: bool = False
    cancelled: bool = False
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None

    @property
    def running(self) -> bool:
        return not self.done

    def seconds(self) -> float:
        return (self.finished or time.perf_counter()) - self.started


_JOBS: dict[str, Job] = {}
_LOCK = threading.Lock()


def submit(key: str, label: str, work) -> Job:
    """The running job of ``key``, or a new one running ``work(update)`` in a daemon thread."""
    with _LOCK:
        job = _JOBS.get(key)
        if job is not None and job.running and not job.cancelled:
            return job
        job = Job(key, label)
        _JOBS[key] = job

    def update(fraction: float, text: str = "") -> None:
        if job.cancelled:
            raise Cancelled(key)
        job.fraction, job.text = float(fraction), text

    def run() -> None:
        try:
            work(update)
            job.fraction = 1.0
        except Cancelled:
            pass
        except Exception as exc:  # noqa: BLE001  reported to the page that asked, never lost in a thread
            job.error = f"{type(exc).__name__}: {exc}"
        finally:
            job.finished = time.perf_counter()
            job.done = True

    threading.Thread(target=run, daemon=True, name=f"background: {label}").start()
    return job


def get(key: str) -> Job | None:
    with _LOCK:
        return _JOBS.get(key)


def cancel(key: str, stop=None) -> bool:
    """Ask the job of ``key`` to stop (``stop()``, when given, stops its worker at once); False if none runs."""
    with _LOCK:
        job = _JOBS.get(key)
    if job is None or job.done:
        return False
    job.cancelled = True
    if stop is not None:
        stop()
    return True


def wait(key: str, timeout: float | None = None) -> Job | None:
    """Block until the job of ``key`` ends (for tests); the job, or None if there is none."""
    t0 = time.perf_counter()
    while True:
        job = get(key)
        if job is None or job.done:
            return job
        if timeout is not None and time.perf_counter() - t0 > timeout:
            return job
        time.sleep(0.05)


def wait_all(timeout: float | None = None) -> list[Job]:
    """Block until every job has ended (for tests); the jobs."""
    with _LOCK:
        keys = list(_JOBS)
    return [j for j in (wait(k, timeout) for k in keys) if j is not None]

"""The killable worker process: a poll that raises stops a running call within its interval; an error
raised by the call itself comes back unchanged; the next call gets a worker again."""

import time

import pytest

from explorer.workers import run_stoppable


class Stop(Exception):
    pass


def test_a_raising_poll_kills_a_long_call_at_once_and_the_next_call_works():
    assert run_stoppable(int, "7") == 7  # the worker starts
    t0 = time.perf_counter()

    def poll():
        if time.perf_counter() - t0 > 0.3:
            raise Stop

    with pytest.raises(Stop):
        run_stoppable(time.sleep, 30, poll=poll)  # a call that cannot be interrupted in its own thread
    assert time.perf_counter() - t0 < 1.0
    assert run_stoppable(int, "8") == 8  # a new worker


def test_an_error_inside_the_call_comes_back_as_it_is():
    with pytest.raises(ValueError, match="invalid literal"):
        run_stoppable(int, "not a number")
    assert run_stoppable(int, "9") == 9


def test_a_background_job_reports_progress_and_stops_on_cancel():
    import threading

    from explorer import background

    gate = threading.Event()
    seen = []

    def work(update):
        for i in range(1000):
            update(i / 1000, f"step {i}")
            seen.append(i)
            if i == 3:
                gate.set()
            threading.Event().wait(0.01)

    job = background.submit("test-job", "counting", work)
    assert background.submit("test-job", "counting", work) is job  # one job per key
    assert gate.wait(10) and job.running and job.fraction >= 0.003
    assert background.cancel("test-job") is True
    background.wait("test-job", timeout=10)
    assert job.done and job.error is None and len(seen) < 100  # stopped at its next update
    failed = background.submit("test-fail", "failing", lambda update: 1 / 0)
    background.wait("test-fail", timeout=10)
    assert failed.done and failed.error.startswith("ZeroDivisionError")
    assert background.submit("test-job", "again", work) is not job  # a cancelled job is replaced by a new one
    background.cancel("test-job")
    background.wait("test-job", timeout=10)


def test_the_worker_exits_when_its_server_dies(tmp_path):
    import os
    import subprocess
    import sys
    import time

    # a "server" that starts the worker, reports its pid, then dies without any cleanup
    code = (
        "import os, explorer.workers as w\n"
        "w.run_stoppable(abs, -1)\n"
        "print(next(iter(w._POOL._processes)), flush=True)\n"
        "os._exit(0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(__import__("pathlib").Path(__file__).resolve().parent.parent)})
    pid = int(out.stdout.split()[0])
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        status = open(f"/proc/{pid}/status").read() if os.path.exists(f"/proc/{pid}/status") else ""
        if "zombie" in status:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"the worker {pid} outlived its server")

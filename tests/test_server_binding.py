"""`make run` serves on the loopback interface only: nobody else on the network can reach the app."""

import os
import signal
import socket
import subprocess

from tests.browser import free_port, wait_healthy
from tests.conftest import ROOT


def _non_loopback_ipv4() -> list[str]:
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=True).stdout
    return [line.split()[3].split("/")[0] for line in out.splitlines() if " lo " not in line and "127." not in line]


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def test_make_run_answers_on_loopback_only(tmp_path):
    addresses = _non_loopback_ipv4()
    assert addresses, "this machine has no non-loopback IPv4 address to try"
    port = free_port()
    env = {**os.environ, "EXPLORER_CACHE_DIR": str(tmp_path / "cache"), "EXPLORER_MODELS_DIR": str(tmp_path / "models")}
    proc = subprocess.Popen(["make", "run", f"PORT={port}"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc, 120)
        for host in addresses:
            assert not _answers(host, port), f"the app answers on {host}:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)


def test_sharing_on_the_network_is_explicit_and_warned():
    out = subprocess.run(["make", "-n", "run", "HOST=0.0.0.0"], cwd=ROOT, capture_output=True, text=True)
    assert "--server.address 0.0.0.0" in out.stdout and "WARNING: serving on" in out.stdout

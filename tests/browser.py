"""Helpers for end-to-end tests: a real `streamlit run` server and Debian's Chromium via Playwright."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM) and not os.environ.get("CI"), reason="Debian chromium not installed"),
]


def served_app(tmp_path_factory, name: str):
    """Body of a module-scoped ``app`` fixture: a server with its own cache and models folders; yields (url, tmp)."""
    tmp = tmp_path_factory.mktemp(name)
    env = {"EXPLORER_CACHE_DIR": str(tmp / "cache"), "EXPLORER_MODELS_DIR": str(tmp / "models")}
    with streamlit_server(env) as url:
        yield url, tmp


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float) -> None:
    """Until ``url`` answers Streamlit's health check; an error with the server's output if it dies or times out."""
    deadline = time.time() + timeout
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"streamlit did not start on {url}:\n{out}")
        time.sleep(0.3)


@contextmanager
def streamlit_server(env: dict | None = None, timeout: float = 90, script: str | None = None):
    port = free_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", script or str(ROOT / "streamlit_app.py"),
        "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, timeout)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        bad: list[str] = []
        page.on("response", lambda r: bad.append(r.url) if r.status >= 400 else None)
        page.console_errors = errors
        page.bad_responses = bad
        try:
            yield page
        finally:
            browser.close()


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until Streamlit has finished running the script (no running indicator)."""
    page.wait_for_timeout(300)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=timeout)


def pick(page, label: str, option: str) -> None:
    """Choose ``option`` (text it starts with) in the selectbox labelled ``label``."""
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option").filter(has_text=option).first.click()
    wait_idle(page)


# Streamlit's frontend, opened on a page URL, first probes its endpoints under that path (a 404),
# then at the root. Those two probes are the only failed requests we accept.
_PROBE = re.compile(r"^https?://[^/]+/[^_][^/]*/_stcore/(health|host-config)$")
_MEDIA = re.compile(r"^https?://[^/]+/media/[0-9a-f]+\.\w+$")
_IMAGE_ERROR = re.compile(r"^Client Error: Image source error - (\S+)$")


def _image_error(message: str) -> str:
    """The address in Streamlit's console message for a picture that did not load; "" for any other message."""
    m = _IMAGE_ERROR.match(message)
    return m.group(1) if m else ""


def assert_clean(page) -> None:
    """No Streamlit exception box, no browser error, no failed request but Streamlit's own probes."""
    exc = page.locator('[data-testid="stException"]')
    assert exc.count() == 0, exc.first.inner_text()
    # every picture on the page has loaded; a media file of an earlier run is dropped by the server once the
    # next run finishes, so the browser may still ask for one that no longer shows (a 404 nobody sees)
    # (a picture the last run just put on the page may still be on its way: up to 10 s to load or fail)
    try:
        page.wait_for_function("() => [...document.images].every(e => e.complete)", timeout=10_000)
    except Exception:  # noqa: BLE001 - still loading after 10 s: reported below as not loaded
        pass
    imgs = page.eval_on_selector_all("img", "els => els.map(e => [e.src, e.complete && e.naturalWidth > 0, e.complete])")
    broken = [(src, "failed" + (" (HTTP error)" if src in page.bad_responses else "") if done else "still loading")
              for src, ok, done in imgs if not ok]
    assert not broken, broken
    shown = {src for src, *_ in imgs}

    def superseded(url: str) -> bool:  # a picture of an earlier run, no longer on the page
        return bool(_MEDIA.match(url)) and url not in shown

    unexpected = [u for u in page.bad_responses if not _PROBE.match(u.split("?")[0]) and not superseded(u)]
    assert not unexpected, unexpected
    failed_loads = [e for e in page.console_errors if e.startswith("Failed to load resource")]
    # Streamlit's image element also logs each such picture it could not load (a shown one would have failed
    # ``broken`` above)
    others = [e for e in page.console_errors if not e.startswith("Failed to load resource") and not superseded(_image_error(e))]
    assert not others, others
    assert len(failed_loads) <= len(page.bad_responses), page.console_errors


def drag(page, target, start: tuple[float, float], end: tuple[float, float], steps: int = 5) -> dict:
    """Drag a rectangle over ``target`` (a locator) from ``start`` to ``end``, as fractions of its box; the box."""
    target.scroll_into_view_if_needed()
    box = target.bounding_box()
    page.mouse.move(box["x"] + box["width"] * start[0], box["y"] + box["height"] * start[1])
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * end[0], box["y"] + box["height"] * end[1], steps=steps)
    page.mouse.up()
    return box

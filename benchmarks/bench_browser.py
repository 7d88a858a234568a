"""What a person waits for in the browser: Debian's Chromium (Playwright) against `streamlit run`.

For each page, on a server that is already running:
- first visit: the page's results already computed once (the cache is warm), the time to idle when the
  page's URL is opened in a new browser (a new session, the browser's cache empty: another person opening a
  shared link), in a new tab of a browser that has shown the app before, and from the sidebar of another
  page in the same tab (how a talk moves between pages);
- cached change: a widget is switched between two values that were each computed once; the time from the
  click on the option to idle, median of 5;
- bytes: what the server sent over the websocket for that change (Streamlit's messages; an element the
  browser already holds is sent as a reference).
Idle = the script's "finished" message has arrived, then two animation frames have been painted and every
chart on the page has its canvas or SVG.

The Zoo atlas row runs on the atlas zoo (`python -m explorer zoo --atlas`, trained first into the benchmark's
models folder) and the shipped zoo's classifiers: 34 networks, 561 pairs.

Then Latent spaces on MNIST with a 10,000-point probe (the whole test set) and PCA views: the first draw
(page open to idle, cache warm) and the time from a synthetic brush / a hover to the redrawn frame, timed in
the page with performance.now(); and the server's resident memory with two sessions on that view.

Then the shipped talk deck (assets/decks/relative-representations.json), after `deck precompute` into the
benchmark's cache: the first slide's URL opened in a new browser, then each slide reached with the Right
arrow key, timed from the key press to the slide drawn (position shown, script finished, charts and linked
views drawn, no background work left); then the same walk once more (the server has shown every slide).

    python benchmarks/bench_browser.py            # quiet machine
    python benchmarks/bench_browser.py --busy     # one core kept busy by another process
    python benchmarks/bench_browser.py --only deck --deck-cache DIR   # the deck row on a cache precomputed before
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402

from tests.browser import CHROMIUM, CHROMIUM_ARGS, drag, streamlit_server  # noqa: E402

RUNS = 5
VIEWPORT = {"width": 1500, "height": 1100}


class Wire:
    """Counts the websocket bytes the server sends and notices each 'script finished' message."""

    def __init__(self, page):
        self.bytes = 0
        self.finished = 0
        self.completed: list[float] = []  # arrival of each 'finished successfully' (not a run cut short for a rerun)
        self.deltas = 0  # page elements sent by the run in progress
        self.deltas_per_run: list[int] = []  # elements each completed run sent, in the order of ``completed``
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload):
        if isinstance(payload, str):
            payload = payload.encode()
        self.bytes += len(payload)
        try:
            msg = ForwardMsg.FromString(payload)
        except Exception:  # noqa: BLE001  not one of Streamlit's messages
            return
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.deltas = 0
        elif kind == "delta":
            self.deltas += 1
        if kind == "script_finished":
            self.finished += 1
            self.t_finished = time.perf_counter()
            if msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                self.completed.append(self.t_finished)
                self.deltas_per_run.append(self.deltas)


DRAWN = """async () => {
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  // the charts a person sees (a chart in a tab that is not open is drawn when the tab opens)
  const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].filter(c => c.offsetParent !== null);
  return charts.every(c => c.querySelector('canvas, svg')) && !document.querySelector('[data-testid="stStatusWidget"]');
}"""


def settle(page, wire: Wire, runs_before: int, t0: float, timeout: float = 300, views: int = 0) -> float:
    """Seconds from ``t0`` until the run after ``runs_before`` finished and the page is drawn (with
    ``views`` linked views drawn on their canvases)."""
    while wire.finished <= runs_before:
        page.wait_for_timeout(10)
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("the page did not finish")
    while not page.evaluate(DRAWN) or page.locator(".lv[data-drawn]").count() < views:
        page.wait_for_timeout(10)
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("the page was not drawn")
    return time.perf_counter() - t0


def open_page(browser, url: str, views: int = 0, context=None) -> tuple[object, Wire, float]:
    """A new session on ``url``: in a new browser context (its cache empty), or a new tab of ``context``."""
    page = (context or browser.new_context(viewport=VIEWPORT)).new_page()
    wire = Wire(page)
    t0 = time.perf_counter()
    page.goto(url)
    took = settle(page, wire, 0, t0, views=views)
    # a page whose first run reruns itself (a URL seeding the sidebar) finishes more than once
    page.wait_for_timeout(300)
    # work the page left running in the background (UMAP, a large anchor sweep) ends before anything is timed
    page.get_by_text("in the background").wait_for(state="detached", timeout=600_000)
    return page, wire, took


def first_visits(browser, url: str, views: int = 0, repeat: int = 3) -> tuple[float, float]:
    """Medians over ``repeat`` of the time to idle in a new browser (its cache empty) and in a new tab of a
    browser that has shown the page (its cache warm); each a new session."""
    fresh, tabs = [], []
    for _ in range(repeat):
        page, _, t = open_page(browser, url, views)
        fresh.append(t)
        tab, _, t = open_page(browser, url, views, page.context)
        tabs.append(t)
        page.context.close()
    return statistics.median(fresh), statistics.median(tabs)


def baseline(browser) -> None:
    """The same first visits of an empty Streamlit page: what the frontend itself costs this machine."""
    with streamlit_server(script=str(ROOT / "benchmarks" / "empty_app.py")) as url:
        fresh, tab = first_visits(browser, url)
    print(f"{'empty Streamlit page':24s} first visit: new browser {fresh:5.2f} s, new tab {tab:5.2f} s (Streamlit's own cost)", flush=True)


def choose(page, label: str, option: str):
    """The click that changes a widget, with what must come before it (opening a dropdown) done untimed:
    the time is from the click on the new value, as a person makes it."""
    if label.startswith("radio:"):
        target = page.get_by_role("radiogroup", name=label[6:]).get_by_text(option, exact=True)
    else:
        box = page.get_by_role("combobox", name=label)
        box.click()
        target = page.get_by_role("option", name=option, exact=True).first
        try:
            target.wait_for(timeout=2000)
        except Exception:  # noqa: BLE001  a menu that did not open on the click (at the bottom of the page)
            box.press("ArrowDown")
    target.wait_for()

    def click():
        """Click; returns when the click that counted began (a retry restarts the clock)."""
        t0 = time.perf_counter()
        try:
            target.click(timeout=5000)
        except Exception:  # noqa: BLE001  the menu re-rendered under the pointer (a run had just ended): once more
            return choose(page, label, option)()
        return t0
    return click


def change(page, wire: Wire, act) -> tuple[float, int]:
    """(seconds to idle, bytes sent) for one widget change; ``wire.server_s`` = the part until the script finished."""
    runs, sent = wire.finished, wire.bytes
    start = time.perf_counter()
    began = act()  # choose's clicks return when the click that counted began (a retried click restarts the clock)
    t0 = began if began is not None else start
    took = settle(page, wire, runs, t0)
    wire.server_s = wire.t_finished - t0
    return took, wire.bytes - sent


# page URL, the widget changed (label, value 1, value 2): each value computed once before the timed changes
PAGES = [
    ("Home", "", ("Dataset", "mnist", "digits")),
    ("Latent spaces", "latent_spaces", ("Similarity", "euclidean", "cosine")),
    ("Latent spaces, model B", "latent_spaces", ("Model B", "digits-mlp_ae-l16-s2", "digits-mlp_ae-l16-s1")),
    ("Layer geometry", "layer_geometry", ("Layer of A", "encoder.relu1", "encoder.latent")),
    ("Stitching", "stitching", ("Models", "rel_clf (latent 64) vs mlp_clf", "rel_ae (latent 16) vs mlp_ae")),
    ("Interpolation", "interpolation", ("radio:Pick the two samples", "by index", "by class")),
    ("Similarity", "similarity", ("Measure", "Procrustes shape (Williams et al.)", "Linear CKA")),
    # the atlas zoo's 24 networks with the shipped zoo's 10 classifiers (trained into the benchmark's models folder)
    ("Zoo atlas", "atlas", ("Measure", "Procrustes shape (Williams et al.)", "Linear CKA")),
]


TITLES = {"": "Home", "latent_spaces": "Latent spaces", "layer_geometry": "Layer geometry", "stitching": "Stitching",
          "interpolation": "Interpolation", "similarity": "Similarity", "atlas": "Zoo atlas"}


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (MB), from /proc."""
    total = 0
    pids = [pid]
    try:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
        pids += [int(p) for p in out.split()]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def server_pid(port: int) -> int | None:
    out = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if f":{port} " in line and "pid=" in line:
            return int(line.split("pid=")[1].split(",")[0])
    return None


def busy_core():
    """A process that keeps one core busy (the benchmark's 'busy' mode)."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--busy", action="store_true", help="keep one core busy with another process")
    ap.add_argument("--only", default="", help="only the pages whose name contains this")
    ap.add_argument("--skip-10k", action="store_true")
    ap.add_argument("--deck-cache", help="a cache folder the deck was precomputed into (else precomputed here, minutes)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    env = {"EXPLORER_CACHE_DIR": str(tmp / "cache"), "EXPLORER_MODELS_DIR": str(tmp / "models")}
    with_deck = not args.only or "deck" in args.only.lower()
    if with_deck:
        if args.deck_cache:
            env["EXPLORER_CACHE_DIR"] = args.deck_cache
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "explorer", "deck", "precompute", str(DECK)], cwd=ROOT, check=True,
                       env={**os.environ, **env}, stdout=subprocess.DEVNULL)
        print(f"deck precompute {time.perf_counter() - t0:.0f} s (cache {env['EXPLORER_CACHE_DIR']})", flush=True)
    if not args.only or "atlas" in args.only.lower():  # the atlas zoo (24 networks, about a minute)
        subprocess.run([sys.executable, "-m", "explorer", "zoo", "--atlas"], cwd=ROOT, check=True,
                       env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hog = busy_core() if args.busy else None
    mode = "one core busy" if args.busy else "quiet"
    try:
        with streamlit_server(env) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            baseline(browser)
            for name, path, (label, v1, v2) in PAGES:
                if args.only and args.only.lower() not in name.lower():
                    continue
                # warm: one visit computes the page and both values
                views = 4 if path == "latent_spaces" else 0
                page, wire, cold = open_page(browser, f"{url}/{path}", views)
                change(page, wire, choose(page, label, v1))
                change(page, wire, choose(page, label, v2))
                first, in_tab = first_visits(browser, f"{url}/{path}", views)
                page, wire, _ = open_page(browser, f"{url}/{path}", views)
                took, sent, server = [], [], []
                for i in range(RUNS):
                    t, b = change(page, wire, choose(page, label, v1 if i % 2 == 0 else v2))
                    took.append(t)
                    sent.append(b)
                    server.append(wire.server_s)
                page.context.close()
                # the page opened from the sidebar of another page, in the same tab (how a talk moves between pages)
                link = TITLES[path]
                home, hw, _ = open_page(browser, f"{url}/{'similarity' if path == '' else ''}", 0)
                runs = hw.finished
                t0 = time.perf_counter()
                home.get_by_role("link", name=link, exact=True).click()
                via = settle(home, hw, runs, t0, views=views)
                home.context.close()
                print(f"{name:24s} cold {cold:5.2f} s · first visit: new browser {first:5.2f} s, new tab {in_tab:5.2f} s, "
                      f"from the sidebar {via:5.2f} s · cached change median "
                      f"{statistics.median(took):5.2f} s (worst {max(took):.2f}; until the script ends "
                      f"{statistics.median(server):.2f} s) · {statistics.median(sent) / 1e3:7.1f} kB per change [{mode}]", flush=True)
            if not args.skip_10k and not (args.only and "10k" not in args.only.lower()):
                ten_k(browser, url, mode)
            if with_deck:
                deck_walk(browser, url, mode)
            browser.close()
    finally:
        if hog:
            hog.kill()


def ten_k(browser, url: str, mode: str) -> None:
    q = f"{url}/latent_spaces?dataset=mnist&probe=10000&ls_view=pca"
    page, wire, cold = open_page(browser, q, views=4)
    page.context.close()
    first, in_tab = first_visits(browser, q, views=4)
    page, wire, _ = open_page(browser, q, views=4)
    views = page.locator(".lv canvas.over")
    if views.count() != 4:
        page.screenshot(path="/tmp/bench_10k_failed.png")
        raise SystemExit(f"the four views are not drawn (screenshot: /tmp/bench_10k_failed.png): {page.inner_text('body')[:2000]}")
    box = views.first.bounding_box()
    brush, hover = [], []
    for i in range(RUNS):
        f = 0.15 + 0.05 * i
        drag(page, views.first, (f, f), (f + 0.3, f + 0.35), steps=4)
        page.wait_for_timeout(200)
        brush.append(page.evaluate("() => window.__explorerLinked.latent_views.stats.brush_ms"))
        page.mouse.click(box["x"] + 3, box["y"] + 3)  # clears it
        page.wait_for_timeout(100)
        for k in range(20):  # hover until a point is under the pointer
            page.mouse.move(box["x"] + box["width"] * (0.3 + 0.02 * k), box["y"] + box["height"] * (0.5 - 0.01 * k + 0.02 * i))
            page.wait_for_timeout(30)
            if page.locator(".lv .tip").first.is_visible():
                break
        hover.append(page.evaluate("() => window.__explorerLinked.latent_views.stats.hover_ms"))
    pid = server_pid(int(url.rsplit(":", 1)[1]))
    second = browser.new_context(viewport=VIEWPORT).new_page()
    w2 = Wire(second)
    t0 = time.perf_counter()
    second.goto(q)
    settle(second, w2, 0, t0, views=4)
    rss = rss_mb(pid) if pid else float("nan")
    t, sent = change(page, wire, choose(page, "Similarity", "euclidean"))
    print(f"Latent spaces 10,000 pts  cold {cold:5.2f} s · first draw (warm): new browser {first:5.2f} s, new tab {in_tab:5.2f} s · brush → frame median "
          f"{statistics.median(brush):.1f} ms (worst {max(brush):.1f}) · hover → frame median {statistics.median(hover):.2f} ms · "
          f"similarity change (new value) {t:.2f} s, {sent / 1e3:.0f} kB · server RSS with 2 sessions {rss:.0f} MB [{mode}]",
          flush=True)
    page.context.close()
    second.context.close()


DECK = ROOT / "assets" / "decks" / "relative-representations.json"
ARM_KEYS = """() => {
  if (!window.__benchKeys) {
    window.__benchKeys = true;
    window.addEventListener('keydown', () => { window.__tKey = performance.now(); }, true);
  }
}"""
# Evaluated before the key press: resolves ``window.__slideDrawn`` when slide n is drawn, with the
# milliseconds since the key press. Drawn: the page's own script state (stApp's data-test-script-state) went to
# running and back after the key, so the browser has applied every element of the run; the deck is at slide n on
# the slide's page; no element of the previous run is left (data-stale); every visible chart has its canvas or SVG;
# the slide's linked views are drawn. Then two animation frames, so what was drawn is on the screen. Timed in the
# page, it does not depend on when this process hears of the run's end. Checks only after the DOM changed (a
# MutationObserver marks it, the next animation frame looks), so that measuring costs the page almost nothing.
# Its argument, from ``slide_shows``: the slide's number, its page's URL path and how many linked views it draws
# (known from the deck, not read off the page: a page still drawing may not show its tabs yet); a fourth, true,
# when the slide's run has already finished (a new page, armed after it).
SLIDE_WATCH = """([n, path, views, finished]) => { window.__slideDrawn = new Promise(resolve => {
  let dirty = true, ran = !!finished;
  const obs = new MutationObserver(() => { dirty = true; });
  obs.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
  const done = () => {
    const state = document.querySelector('[data-testid="stApp"]').getAttribute('data-test-script-state');
    if (window.__tKey && state === 'running') ran = true;
    if (!ran || state !== 'notRunning') return false;
    const pos = document.querySelector('[data-testid="deck-position"]');
    if (!pos || !pos.textContent.trim().startsWith(n + ' /')) return false;
    if (!location.pathname.endsWith('/' + path)) return false;
    if (document.querySelector('[data-testid="stStatusWidget"], [data-stale="true"]')) return false;
    if (document.body.innerText.includes('in the background')) return false;
    const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].filter(c => c.offsetParent !== null);
    if (!charts.every(c => c.querySelector('canvas, svg'))) return false;
    return drawnViews().length >= views;
  };
  // the linked views live in shadow roots, out of the observer's reach: their own registry
  // (explorer/ui/linked_view.js) says which are drawn, read on every frame (cheap, unlike done())
  const drawnViews = () => Object.values(window.__explorerLinked || {}).flatMap(g => [...g.views.values()])
    .filter(v => v.root.isConnected && v.root.dataset.drawn).map(v => v.root.dataset.drawn);
  let seen = '';
  const frame = () => {
    const now = drawnViews().join();
    if (now !== seen) { seen = now; dirty = true; }
    if (dirty) {
      dirty = false;
      if (done()) {
        requestAnimationFrame(() => requestAnimationFrame(() => {
          obs.disconnect(); clearInterval(poke); resolve(performance.now() - window.__tKey);
        }));
        return;
      }
    }
    requestAnimationFrame(frame);
  };
  const poke = setInterval(() => { dirty = true; }, 200);  // a Vega canvas drawn without a DOM change
  requestAnimationFrame(frame);
}); }"""


def slide_shows(slides: list[dict], n: int) -> list:
    """SLIDE_WATCH's argument for slide ``n`` (from 1): [n, its page's URL path, the linked views it draws]."""
    slide = slides[n - 1]
    page, tab = slide["page"], slide.get("state", {}).get("i_tab", "")
    views = 4 if page == "latent_spaces" else 2 if page == "interpolation" and tab.startswith("Weight") else 0
    return [n, "" if page == "home" else page, views]


def first_slide(page, wire: Wire, url: str, slides: list[dict]) -> float:
    """Seconds from opening slide 1's URL until it is drawn (timed here, the page being new)."""
    t0 = time.perf_counter()
    page.goto(f"{url}/?deck={DECK.stem}&slide=1")
    done_after(page, wire, t0)
    page.evaluate("() => { window.__tKey = 0; }")  # a new page: armed after its run ended (done_after)
    page.evaluate(SLIDE_WATCH, [*slide_shows(slides, 1), True])
    page.evaluate("() => { window.__tKey = performance.now(); }")
    page.evaluate("() => window.__slideDrawn")
    took = time.perf_counter() - t0
    page.locator("[data-deck-keys='on']").wait_for(state="attached")
    page.evaluate(ARM_KEYS)
    return took


def done_after(page, wire: Wire, t0: float, timeout: float = 300) -> tuple[float, int]:
    """(seconds from ``t0`` until this process heard that a run started after it finished (not one cut short by a
    rerun), that run's index in ``wire``): the server's side of a slide, an upper bound (its websocket frames reach
    this process late when the cores are busy). A slide's drawn time is SLIDE_WATCH's, measured in the page."""
    while True:
        run = next((i for i, t in enumerate(wire.completed) if t > t0), None)
        if run is not None:
            return wire.completed[run] - t0, run
        page.wait_for_timeout(5)
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("the slide's run did not finish")


def deck_walk(browser, url: str, mode: str) -> None:
    """Slide 1 opened in a new browser, then each next slide with the Right arrow key, timed in the page
    from the key press to the slide drawn; twice (the second time the server's memory holds every slide)."""
    import json

    slides = json.loads(DECK.read_text())["slides"]
    page = browser.new_context(viewport=VIEWPORT).new_page()
    wire = Wire(page)
    for walk in ("first walk", "second walk"):
        first = first_slide(page, wire, url, slides)
        times, server, sent = [], [], []
        for n in range(2, len(slides) + 1):
            page.mouse.click(5, 300)  # the keys go to the page, not to a widget
            page.wait_for_timeout(300)
            page.evaluate("() => { window.__tKey = 0; }")
            page.evaluate(SLIDE_WATCH, slide_shows(slides, n))
            t0 = time.perf_counter()
            page.keyboard.press("ArrowRight")
            times.append(page.evaluate("() => window.__slideDrawn") / 1e3)
            seconds, run = done_after(page, wire, t0)
            server.append(seconds)
            sent.append(wire.deltas_per_run[run])
        per = " ".join(f"{t:.2f}" for t in times)
        print(f"Deck, {walk:12s} slide 1 opened in a new browser {first:5.2f} s · Right arrow → slide drawn, slides 2–{len(slides)}: "
              f"{per} s · median {statistics.median(times):.2f}, worst {max(times):.2f} (slide {times.index(max(times)) + 2}; "
              f"until the script ends: median {statistics.median(server):.2f}, worst {max(server):.2f}) [{mode}]", flush=True)
        print(f"  {'':12s} until the script ended, s: {' '.join(f'{t:.2f}' for t in server)} · elements sent: "
              f"{' '.join(map(str, sent))}", flush=True)
    page.context.close()


if __name__ == "__main__":
    os.environ.setdefault("EXPLORER_DATA_DIR", str(ROOT.parent / "shared" / "datasets"))
    main()

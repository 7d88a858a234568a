"""Reliability in a real browser: every page's widgets survive a copied URL opened in a new browser;
Cancel stops a UMAP fit and a stitch training at once (nothing of them is drawn; how fast, under a second,
is benchmarks/bench_cancel.py's measure, not a timed test); an unknown page says so."""

import time
from urllib.parse import parse_qs, urlparse

import pytest

from tests.browser import BROWSER_MARKS, CHROMIUM, CHROMIUM_ARGS, assert_clean, drag, served_app, wait_idle

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    yield from served_app(tmp_path_factory, "reliability")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _new_page(browser):
    """A page in a fresh browser context (no shared storage: as another person opening the link)."""
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    page = context.new_page()
    page.console_errors, page.bad_responses = [], []
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    page.on("response", lambda r: page.bad_responses.append(r.url) if r.status >= 400 else None)
    return page


def _open(page, url, ready):
    page.goto(url)
    page.get_by_text(ready).first.wait_for(timeout=120_000)
    wait_idle(page, 120_000)


# ------------------------------------------------------------------ widget drivers: set and read by label


def pick(page, label, option):
    """Choose ``option`` in the selectbox ``label``, typing it first (long option lists are virtualised)."""
    box = page.get_by_role("combobox", name=label)
    box.scroll_into_view_if_needed()
    box.click()
    page.keyboard.type(option)
    wanted = page.get_by_role("option", name=option, exact=True).first
    if not wanted.is_visible():  # the list may stay closed after typing: open it
        page.keyboard.press("ArrowDown")
    try:
        wanted.wait_for(timeout=10_000)
    except Exception:
        page.screenshot(path=f"/tmp/pick-{label}.png")
        raise
    page.keyboard.press("Enter")
    wait_idle(page, 120_000)
    assert box.input_value() == option, (label, option, box.input_value())


def _number(page, label, value, key="Enter"):
    """Type a number and commit it (Enter; Tab inside a form, where Enter would submit the form)."""
    box = page.get_by_label(label, exact=True).and_(page.locator("input"))
    box.fill(str(value))
    box.press(key)
    wait_idle(page, 120_000)


def _toggle(page, label):
    page.locator("[data-testid=stCheckbox]").filter(has_text=label).first.locator("label").click()
    wait_idle(page, 120_000)


def _slider(page, label, presses):
    thumb = page.locator("[data-testid=stSlider]").filter(has_text=label).first.get_by_role("slider")
    for _ in range(presses):
        thumb.focus()
        thumb.press("ArrowRight")
        wait_idle(page, 120_000)  # one rerun at a time


def _radio(page, option):
    page.get_by_text(option, exact=True).click()
    wait_idle(page, 120_000)


def _multi(page, label, change):
    """``change`` = tags to remove, or (tags to remove, options to add)."""
    remove, add = change if isinstance(change, tuple) else (change, [])
    box = page.locator("[data-testid=stMultiSelect]").filter(has_text=label).first
    for tag in remove:
        box.get_by_role("button", name=f"Remove {tag}", exact=True).click()
        wait_idle(page, 120_000)
    for option in add:
        box.get_by_role("combobox").click()
        page.keyboard.type(option)
        page.get_by_role("option", name=option, exact=True).first.click()
        page.keyboard.press("Escape")
        wait_idle(page, 120_000)


def _read(page, kind, label, option=None):
    if kind == "select":
        return page.get_by_role("combobox", name=label).input_value()
    if kind in ("number", "formnumber"):
        return page.get_by_label(label, exact=True).and_(page.locator("input")).input_value()
    if kind == "toggle":
        return page.locator("[data-testid=stCheckbox]").filter(has_text=label).first.locator("input").is_checked()
    if kind == "radio":
        return page.get_by_role("radio", name=option, exact=True).is_checked()
    if kind == "slider":
        return page.locator("[data-testid=stSlider]").filter(has_text=label).first.locator("input[type=range]").input_value()
    if kind == "multi":
        box = page.locator("[data-testid=stMultiSelect]").filter(has_text=label).first
        return sorted(box.locator("span[data-tag]").evaluate_all("tags => tags.map(t => t.getAttribute('aria-label'))"))
    raise ValueError(kind)


def _read_settled(page, kind, label, option, expected, timeout=5.0):
    """What the widget shows once it has settled: a widget seeded from the URL may show its default
    (a number box, a multiselect's tags) for a moment after the run has ended, then the URL's value."""
    deadline = time.monotonic() + timeout
    while True:
        got = _read(page, kind, label, option)
        if got == expected or time.monotonic() > deadline:
            return got
        page.wait_for_timeout(200)


# page path, ready text, [(kind, label, how to set, expected read-back)]
PAGES = [
    ("latent_spaces", "Do A and B agree?", [
        ("select", "Model B", "digits-mlp_ae-l16-s2", "digits-mlp_ae-l16-s2"),
        ("number", "Probe size (test samples every analysis uses)", 200, "200"),
        ("select", "Layer of A", "encoder.relu1", "encoder.relu1"),
        ("select", "Layer of B", "decoder.relu1", "decoder.relu1"),
        ("select", "Anchors", "per_class", "per_class"),
        ("number", "Number of anchors", 40, "40"),
        ("select", "Similarity", "l1", "l1"),
        ("toggle", "Centre", None, True),
        ("select", "2-D view", "pca", "pca"),
        ("number", "Words", 1000, "1000"),
        ("number", "Seeds", 2, "2"),
        ("number", "k", 5, "5"),
        ("toggle", "Centre each space", None, False),
    ]),
    ("layer_geometry", "Decimation: the ID across scales", [
        ("select", "Model A", "digits-cnn_clf-s0", "digits-cnn_clf-s0"),
        ("select", "Model B", "digits-cnn_clf-s1", "digits-cnn_clf-s1"),
        ("number", "k (neighbours)", 6, "6"),
        ("select", "Layer of A", "body.pool1", "body.pool1"),
        ("toggle", "Compare with model B", None, False),
    ]),
    ("similarity?model_a=digits-mlp_clf-s0&model_b=digits-mlp_clf-s1", "Similarity", [
        ("select", "Measure", "RBF CKA", "RBF CKA"),
        ("toggle", "Debiased", None, True),
        ("number", "Bandwidth", 0.5, "0.50"),
        ("toggle", "A against itself", None, True),
    ]),
    ("stitching?model_a=digits-mlp_clf-s0&model_b=digits-mlp_clf-s1", "Zero-shot stitching", [
        ("select", "Models", "rel_clf (latent 64) vs mlp_clf", "rel_clf (latent 64) vs mlp_clf"),
        ("radio", "macro_f1", "macro_f1", True),
        ("tab", "Trained stitching layers", None, None),
        ("multi", "Families", ["low-rank", "orthogonal + scale"], ["affine", "identity", "orthogonal", "permutation x scale",
                                                                   "permutation x scale (warm start from activation matching)",
                                                                   "translation (LS, anchors)", "translation (Procrustes, anchors)"]),
        ("select", "Low rank r", "8", "8"),
        ("number", "Epochs (trained families)", 7, "7"),
    ]),
    ("interpolation?model_a=digits-mlp_ae-l16-s0&model_b=digits-mlp_ae-l16-s1", "Interpolation", [
        ("slider", "Steps", 2, "11"),
        ("radio", "by index", "by index", True),
        ("number", "From probe sample", 4, "4"),
        ("number", "To probe sample", 9, "9"),
    ]),
    ("interpolation?model_a=digits-mlp_clf-s0&model_b=digits-mlp_clf-s1", "Latent interpolation", [
        ("tab", "Weight interpolation and mode connectivity", None, None),
        ("slider", "Points on the path", 2, "27"),
        ("radio", "Entezari et al.", "Entezari et al.", True),
        ("select", "Layer", "body.relu1", "body.relu1"),
        ("slider", "Frame", 3, "3"),
    ]),
    ("stitching?st_group=rel_ae+%28latent+16%29+vs+mlp_ae", "Zero-shot stitching", [
        ("select", "Encoder", "s2", "s2"),  # the models by what differs between them (their seeds)
        ("select", "Decoder", "s0", "s0"),
        ("slider", "Images", 3, "13"),
    ]),
    ("", "Train a new model", [
        ("select", "Architecture", "vae", "vae"),
        ("formnumber", "Latent width (autoencoders, relative classifier)", 8, "8"),
        ("multi", "Seeds", (["0"], ["3"]), ["3"]),
        ("formnumber", "Epochs", 1, "1"),
        ("formnumber", "Learning rate", 0.002, "0.00200"),
        ("formnumber", "Batch size", 64, "64"),
        ("submit", "Train", "Saved digits-vae-l8-s3", None),
        ("select", "Dataset", "mnist", "mnist"),
        ("wait", "Model zoo on mnist", None, None),
        ("select", "Model A", "mnist-cnn_clf-s1", "mnist-cnn_clf-s1"),
    ]),
]


@pytest.mark.parametrize("path, ready, widgets", PAGES, ids=[p[0].split("?")[0] or "home" for p in PAGES])
def test_every_widget_comes_back_from_a_copied_url_in_a_new_browser(app, browser, path, ready, widgets):
    url, tmp = app
    page = _new_page(browser)
    _open(page, f"{url}/{path}", ready)
    for kind, label, how, _ in widgets:
        if kind == "select":
            pick(page, label, how)
        elif kind == "number":
            _number(page, label, how)
        elif kind == "formnumber":
            _number(page, label, how, "Tab")
        elif kind == "toggle":
            _toggle(page, label)
        elif kind == "radio":
            _radio(page, how)
        elif kind == "slider":
            _slider(page, label, how)
        elif kind == "submit":
            page.get_by_role("button", name=label, exact=True).click()
            page.get_by_text(how).first.wait_for(timeout=120_000)
            wait_idle(page, 120_000)
        elif kind == "tab":
            page.get_by_role("tab", name=label).click()
            wait_idle(page, 120_000)  # the open tab is in the URL: a click reruns
        elif kind == "wait":
            page.get_by_text(label).first.wait_for(timeout=120_000)
            wait_idle(page, 120_000)
        else:
            _multi(page, label, how)
    wait_idle(page, 120_000)
    copied = page.url
    assert_clean(page)
    page.context.close()
    other = _new_page(browser)  # someone else opens the copied link
    _open(other, copied, ready)
    got, want = {}, {}
    tabs = [label for kind, label, *_ in widgets if kind == "tab"]
    if tabs:  # the open tab comes back too; the read-back then walks the tabs from the first, as they were set
        assert other.get_by_role("tab", name=tabs[-1]).get_attribute("aria-selected") == "true"
        other.get_by_role("tab").first.click()
        wait_idle(other, 120_000)
    for kind, label, how, expected in widgets:
        if kind == "tab":
            other.get_by_role("tab", name=label).click()
            wait_idle(other, 120_000)
            continue
        if kind in ("wait", "submit"):
            continue
        got[label], want[label] = _read_settled(other, kind, label, how, expected), expected
    assert got == want, copied
    assert_clean(other)
    other.context.close()


def test_a_page_url_keeps_only_its_own_and_the_sidebar_parameters(app, browser):
    url, _ = app
    page = _new_page(browser)
    _open(page, f"{url}/layer_geometry?g_k=6", "Decimation: the ID across scales")
    page.get_by_role("link", name="Similarity").click()
    page.get_by_text("Corresponding layers").or_(page.get_by_text("A against itself")).first.wait_for(timeout=120_000)
    wait_idle(page, 120_000)
    pick(page, "Measure", "Procrustes shape (Williams et al.)")
    assert "s_measure=" in page.url and "g_k" not in page.url
    page.context.close()


def test_a_link_in_an_earlier_format_is_rewritten_so_a_copy_keeps_it(app, browser):
    """An option's key, a comma list, 1 for a toggle, a number out of range: Streamlit takes such a parameter
    out of the URL; the page shows the value, and the URL gets it back in Streamlit's form at once, so a link
    copied from the address bar reopens the same view."""
    url, _ = app
    page = _new_page(browser)
    _open(page, f"{url}/similarity?s_measure=procrustes&probe=99999&present=1", "Corresponding layers")
    query = parse_qs(urlparse(page.url).query)
    assert query == {"s_measure": ["Procrustes shape (Williams et al.)"], "probe": ["359"], "present": ["true"]}, page.url
    other = _new_page(browser)
    _open(other, page.url, "Corresponding layers")
    assert other.get_by_role("combobox", name="Measure").input_value() == "Procrustes shape (Williams et al.)"
    assert parse_qs(urlparse(other.url).query) == query
    assert_clean(page)
    assert_clean(other)
    page.context.close()
    other.context.close()


def test_an_unknown_page_says_so(app, browser):
    url, _ = app
    page = _new_page(browser)
    _open(page, f"{url}/no_such_page", "Model zoo on digits")
    assert page.get_by_text("There is no page “no_such_page”").is_visible()
    assert page.get_by_role("button", name="Deploy").count() == 0  # client.toolbarMode = "viewer"
    page.context.close()


def seconds_to_cancel(page, note):
    """Click Cancel 3 s into the work; the seconds from the click to the first sign of the stop (the
    toast that the next run shows first), both timed inside the page."""
    page.get_by_role("button", name="Cancel", exact=True).wait_for(timeout=120_000)
    page.wait_for_timeout(3000)  # 3 s into the work
    page.evaluate("""note => {
        window.__cancel = {};
        document.addEventListener('click', e => {
            const b = e.target.closest('button');
            if (b && b.innerText.trim() === 'Cancel' && !window.__cancel.click) window.__cancel.click = performance.now();
        }, true);
        new MutationObserver(() => {
            if (window.__cancel.click && !window.__cancel.stop && document.body.innerText.includes(note))
                window.__cancel.stop = performance.now();
        }).observe(document.body, {subtree: true, childList: true, characterData: true});
    }""", note)
    page.get_by_role("button", name="Cancel", exact=True).click()
    page.get_by_text(note).first.wait_for(timeout=30_000)
    page.wait_for_function("() => window.__cancel.stop !== undefined")
    return page.evaluate("() => (window.__cancel.stop - window.__cancel.click) / 1000")


def test_cancel_stops_a_umap_fit_at_once_and_draws_nothing(app, browser):
    url, tmp = app
    page = _new_page(browser)
    page.goto(f"{url}/latent_spaces?ls_view=umap&ls_anchors=50")
    took = seconds_to_cancel(page, "Cancelled: UMAP of the four views")
    page.get_by_text("Word spaces: the paper's Table 1, offline").wait_for(timeout=120_000)
    wait_idle(page, 120_000)
    page.locator('[data-testid="stVegaLiteChart"]').nth(2).wait_for(timeout=30_000)
    assert took < 5.0, f"{took:.2f} s from the click to the stop"  # the four cold UMAP fits take over 20 s

    def titles():
        return [page.locator(".lv .title").nth(i).inner_text() for i in range(page.locator(".lv .title").count())]

    # the page never waited for UMAP: its four views are PCA, the agreement chart, sweep and word views are drawn
    assert len(titles()) == 4 and all(t.endswith("[pca]") for t in titles()), titles()
    assert page.locator('[data-testid="stVegaLiteChart"]').count() == 3
    page.wait_for_timeout(2000)  # and the killed worker does not draw UMAP later either
    assert page.get_by_text("Nothing was drawn or cached from it").is_visible()  # the page note (the toast may be gone)
    assert all(t.endswith("[pca]") for t in titles()) and page.get_by_role("button", name="Cancel", exact=True).count() == 0
    page.screenshot(path=str(tmp / "umap_cancelled.png"), full_page=True)
    assert_clean(page)
    page.context.close()


def test_cancel_stops_a_stitch_training_at_once(app, browser):
    url, _ = app
    page = _new_page(browser)
    _open(page, f"{url}/stitching?model_a=digits-mlp_clf-s0&model_b=digits-mlp_clf-s1&st_epochs=200", "Zero-shot stitching")
    page.get_by_role("tab", name="Trained stitching layers").click()
    page.get_by_role("button", name="Train the stitches").click()
    took = seconds_to_cancel(page, "Cancelled: Fitting stitches")
    wait_idle(page, 60_000)
    assert took < 5.0, f"{took:.2f} s from the click to the stop"  # 200 epochs of every family take minutes
    assert page.get_by_text("Parameters per family and layer").count() == 0  # nothing of the cancelled run
    assert_clean(page)
    page.context.close()


def test_slow_steps_say_what_they_are_doing(app, browser):
    """4,000 MNIST test images through a CNN: the page names the step while it runs (a spinner shows
    after half a second), the activations first, then the geometry."""
    url, _ = app
    page = _new_page(browser)
    page.add_init_script("""
        window.__seen = new Set();
        document.addEventListener('DOMContentLoaded', () => new MutationObserver(() => {
            for (const s of ['Computing the activations of mnist-cnn_clf-s0 on 4000', 'Intrinsic dimension and overlaps per layer'])
                if (document.body.innerText.includes(s)) window.__seen.add(s);
        }).observe(document.body, {subtree: true, childList: true, characterData: true}));
    """)
    _open(page, f"{url}/layer_geometry?dataset=mnist&probe=4000&model_a=mnist-cnn_clf-s0&g_compare=false",
          "Decimation: the ID across scales")
    assert page.evaluate("() => [...window.__seen].sort()") == [
        "Computing the activations of mnist-cnn_clf-s0 on 4000", "Intrinsic dimension and overlaps per layer"]
    page.context.close()


def test_ten_thousand_points_draw_and_brush_in_all_four_views(app, browser):
    """The whole MNIST test set in the four linked views: drawn, hover shows a digit, and a rectangle in one
    view highlights the same samples (by id) in all four."""
    url, tmp = app
    page = _new_page(browser)
    _open(page, f"{url}/latent_spaces?dataset=mnist&probe=10000&ls_view=pca&ls_anchors=100", "Do A and B agree?")
    views = page.locator(".lv")
    views.nth(3).wait_for(timeout=60_000)
    assert views.count() == 4 and all(views.nth(i).get_attribute("data-n") == "10000" for i in range(4))
    assert all(views.nth(i).get_attribute("data-highlighted") == "10000" for i in range(4))
    box = drag(page, page.locator(".lv canvas.over").nth(2), (0.3, 0.3), (0.6, 0.7))  # a rectangle in relative A
    page.wait_for_timeout(300)
    marks = [(views.nth(i).get_attribute("data-highlighted"), views.nth(i).get_attribute("data-highlight-sum")) for i in range(4)]
    assert len(set(marks)) == 1 and 0 < int(marks[0][0]) < 10000, marks
    stats = page.evaluate("() => window.__explorerLinked.latent_views.stats")
    assert stats["brush_ms"] > 0 and stats["draw_ms"] > 0  # the page times itself (benchmarks/bench_browser.py reads these)
    # hover: a tooltip with the sample's image drawn from the sprite sheet
    page.mouse.click(box["x"] + 2, box["y"] + 2)
    tip = page.locator(".lv .tip").nth(2)
    for k in range(40):
        page.mouse.move(box["x"] + box["width"] * (0.35 + 0.01 * k), box["y"] + box["height"] * 0.5)
        page.wait_for_timeout(30)
        if tip.is_visible():
            break
    assert tip.is_visible() and tip.locator("canvas").count() == 1 and "id " in tip.inner_text()
    page.screenshot(path=str(tmp / "ten_thousand.png"), full_page=True)
    assert_clean(page)
    page.context.close()


def test_default_views_of_stitching_and_interpolation_read_well(app, browser):
    """No red box on the default Interpolation view (its weight tab shows a pair it can interpolate), and the
    two zero-shot grids share one colour scale (the same domain in the specs the browser received)."""
    url, tmp = app
    page = _new_page(browser)
    _open(page, f"{url}/interpolation", "Latent interpolation")
    page.get_by_role("tab", name="Weight interpolation and mode connectivity").click()
    page.get_by_text("this tab shows").first.wait_for(timeout=120_000)
    wait_idle(page, 120_000)
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0
    assert page.get_by_role("button", name="Make them A and B").is_visible()
    # the specs the browser received (Streamlit's messages on the websocket), read as the frontend reads them
    import json

    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    specs = []

    def frame(payload):
        try:
            msg = ForwardMsg.FromString(payload if isinstance(payload, bytes) else payload.encode())
        except Exception:  # noqa: BLE001  not one of Streamlit's messages
            return
        if msg.WhichOneof("type") == "delta" and msg.delta.new_element.WhichOneof("type") == "vega_lite_chart":
            specs.append(json.loads(msg.delta.new_element.vega_lite_chart.spec))

    page.on("websocket", lambda ws: ws.on("framereceived", frame))
    page.goto(f"{url}/stitching")  # a new connection, listened to from its first message
    page.get_by_text("Zero-shot stitching").first.wait_for(timeout=120_000)
    wait_idle(page, 120_000)
    grids = [sp for sp in specs if sp.get("title") in ("relative: test mse", "absolute: test mse")]
    assert len(grids) == 2, [sp.get("title") for sp in specs]
    domains = [g["layer"][0]["encoding"]["color"]["scale"]["domain"] for g in grids]
    assert domains[0] == domains[1] and domains[0][0] == 0.0 and domains[0][1] > 0.1  # absolute MSE sets the top
    page.screenshot(path=str(tmp / "stitching.png"), full_page=True)
    assert_clean(page)
    page.context.close()

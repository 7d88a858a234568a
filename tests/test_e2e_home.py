"""End-to-end: the real app in headless Chromium."""



from tests.browser import BROWSER_MARKS, assert_clean, browser_page, drag, pick, streamlit_server, wait_idle

pytestmark = BROWSER_MARKS


def test_home_pick_a_model_and_see_the_zoo(tmp_path):
    env = {"EXPLORER_CACHE_DIR": str(tmp_path / "cache"), "EXPLORER_MODELS_DIR": str(tmp_path / "models")}
    with streamlit_server(env) as url, browser_page() as page:
        page.goto(url)
        page.get_by_text("Model zoo on digits").wait_for(timeout=60_000)
        wait_idle(page)
        table = page.locator('[data-testid="stDataFrame"]')
        table.wait_for()
        assert table.is_visible()
        pick(page, "Model A", "digits-vae-l16-s1")
        assert "model_a=digits-vae-l16-s1" in page.url
        page.screenshot(path=str(tmp_path / "home.png"), full_page=True)
        assert (tmp_path / "home.png").stat().st_size > 10_000
        assert_clean(page)
        # the URL reopens the same selection in a new page
        page.goto(page.url)
        page.get_by_text("Model zoo on digits").wait_for(timeout=60_000)
        wait_idle(page)
        assert page.get_by_role("combobox", name="Model A").input_value() == "digits-vae-l16-s1"
        assert_clean(page)


def test_latent_spaces_deep_link_and_brushing(tmp_path):
    env = {"EXPLORER_CACHE_DIR": str(tmp_path / "cache"), "EXPLORER_MODELS_DIR": str(tmp_path / "models")}
    with streamlit_server(env) as url, browser_page() as page:
        # a shared URL opened on a fresh server restores the page and its widgets
        page.goto(f"{url}/latent_spaces?model_b=digits-mlp_ae-l16-s2&ls_strategy=per_class&ls_anchors=60")
        page.get_by_text("Do A and B agree?").wait_for(timeout=120_000)
        wait_idle(page, 120_000)
        assert page.get_by_role("combobox", name="Model B").input_value() == "digits-mlp_ae-l16-s2"
        assert page.get_by_role("combobox", name="Anchors").input_value() == "per_class"
        views = page.locator(".lv")
        assert views.count() == 4
        n = int(views.first.get_attribute("data-n"))
        assert n == 300 and all(views.nth(i).get_attribute("data-highlighted") == str(n) for i in range(4))
        box = drag(page, page.locator(".lv canvas.over").first, (0.2, 0.2), (0.6, 0.65))
        page.wait_for_timeout(500)
        # the rectangle in the first view highlights the same samples (by id) in all four, and not all of them
        marks = [(views.nth(i).get_attribute("data-highlighted"), views.nth(i).get_attribute("data-highlight-sum")) for i in range(4)]
        assert len(set(marks)) == 1 and 0 < int(marks[0][0]) < n, marks
        # a click clears it
        page.mouse.click(box["x"] + 2, box["y"] + 2)
        page.wait_for_timeout(300)
        assert all(views.nth(i).get_attribute("data-highlighted") == str(n) for i in range(4))
        page.screenshot(path=str(tmp_path / "latent_spaces.png"), full_page=True)
        assert_clean(page)


def _point_of(png: bytes, rgb: tuple[int, int, int], right_margin: int = 150) -> tuple[int, int]:
    """The centre of one drawn point of colour ``rgb`` in a chart screenshot (the legend, at the right, left out):
    the pixel with most pixels of that colour around it. Vega draws on a canvas, so the page has no point to click."""
    import io

    import numpy as np
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    mask = (np.abs(img - np.array(rgb)).sum(-1) < 40)
    mask[:, img.shape[1] - right_margin:] = False
    ys, xs = np.nonzero(mask)
    assert len(xs), f"no point of colour {rgb} drawn"
    counts = [mask[max(y - 5, 0): y + 6, max(x - 5, 0): x + 6].sum() for y, x in zip(ys, xs)]
    best = int(np.argmax(counts))
    return int(xs[best]), int(ys[best])


def test_atlas_click_a_point_for_model_a_another_for_b_then_open_them(tmp_path):
    """The Zoo atlas on the shipped zoo's classifiers: a click on a CNN sets model A, one on an MLP model B, and
    the Similarity link opens the two."""
    env = {"EXPLORER_CACHE_DIR": str(tmp_path / "cache"), "EXPLORER_MODELS_DIR": str(tmp_path / "models")}
    with streamlit_server(env) as url, browser_page() as page:
        page.goto(f"{url}/atlas")
        page.get_by_text("Silhouette by architecture").wait_for(timeout=120_000)
        wait_idle(page, 120_000)
        chart = page.locator(".vega-embed").first
        chart.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        box, png = chart.bounding_box(), chart.screenshot()
        cnn, mlp = _point_of(png, (0x1F, 0x77, 0xB4)), _point_of(png, (0xFF, 0x7F, 0x0E))  # category10: cnn_clf, mlp_clf
        page.mouse.click(box["x"] + cnn[0], box["y"] + cnn[1])
        page.wait_for_function("() => location.search.includes('model_a=digits-cnn_clf')", timeout=30_000)
        wait_idle(page)
        page.mouse.click(box["x"] + mlp[0], box["y"] + mlp[1])
        page.wait_for_function("() => location.search.includes('model_b=digits-mlp_clf')", timeout=30_000)
        wait_idle(page)
        assert page.get_by_role("combobox", name="Model A").input_value().startswith("digits-cnn_clf")
        assert_clean(page)
        page.get_by_role("link", name="Similarity").last.click()
        page.get_by_text("Linear CKA").first.wait_for(timeout=60_000)
        wait_idle(page, 60_000)
        assert "/similarity" in page.url and "model_a=digits-cnn_clf" in page.url and "model_b=digits-mlp_clf" in page.url
        assert_clean(page)

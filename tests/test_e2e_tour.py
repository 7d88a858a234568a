"""The whole app in a real browser: every page with its defaults, one control changed per page,
no exception box and no browser error, a screenshot per page; shared URLs restore the view."""


import pytest

from tests.browser import BROWSER_MARKS, assert_clean, browser_page, pick, served_app, wait_idle

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    yield from served_app(tmp_path_factory, "tour")


def _open(page, url, text):
    page.goto(url)
    page.get_by_text(text).first.wait_for(timeout=120_000)
    wait_idle(page, 120_000)


def _change_similarity(page):
    pick(page, "Similarity", "euclidean")
    page.get_by_text("Do A and B agree?").wait_for()


def _change_k(page):
    box = page.get_by_label("k (neighbours)")
    box.fill("5")
    box.press("Enter")
    wait_idle(page, 120_000)


def _change_group(page):
    pick(page, "Models", "rel_clf (latent 64) vs mlp_clf")
    page.get_by_text("relative: test accuracy").first.wait_for(timeout=60_000)


def _change_sampling(page):
    page.get_by_text("by index", exact=True).click()
    wait_idle(page)
    page.get_by_label("To probe sample").wait_for()


def _change_measure(page):
    pick(page, "Measure", "G_ReLU Procrustes")
    page.get_by_text("G_ReLU Procrustes, A vs B at the same depth").first.wait_for(timeout=60_000)
    wait_idle(page, 60_000)
    assert page.get_by_text("s left").count() == 0  # the progress bar and its Cancel go once the work is done


def _change_model_b(page):
    pick(page, "Model B", "digits-vae-l16-s2")


TOUR = [
    ("", "Model zoo on digits", _change_model_b),
    ("latent_spaces", "Do A and B agree?", _change_similarity),
    ("layer_geometry?model_a=digits-mlp_clf-s0&model_b=digits-mlp_clf-s1", "Decimation: the ID across scales", _change_k),
    ("stitching", "Zero-shot stitching", _change_group),
    ("interpolation", "Interpolation", _change_sampling),
    ("similarity?model_a=digits-mlp_clf-s0&model_b=digits-mlp_clf-s1", "Corresponding layers", _change_measure),
]


@pytest.mark.parametrize("path, ready, change", TOUR, ids=[t[0].split("?")[0] or "home" for t in TOUR])
def test_every_page_with_defaults_then_one_change(app, path, ready, change):
    url, tmp = app
    with browser_page() as page:
        _open(page, f"{url}/{path}", ready)
        assert_clean(page)
        change(page)
        wait_idle(page, 120_000)
        name = path.split("?")[0] or "home"
        page.screenshot(path=str(tmp / f"{name}.png"), full_page=True)
        assert (tmp / f"{name}.png").stat().st_size > 20_000
        assert_clean(page)


def test_a_shared_url_restores_the_view(app):
    url, _ = app
    with browser_page() as page:
        _open(page, f"{url}/layer_geometry?dataset=digits&probe=250&model_a=digits-cnn_clf-s0&model_b=digits-cnn_clf-s1"
              f"&g_k=7&g_layer=body.pool2", "Decimation: the ID across scales")
        assert page.get_by_label("k (neighbours)").input_value() == "7"
        assert page.get_by_label("Probe size (test samples every analysis uses)", exact=True).and_(page.locator("input")).input_value() == "250"
        assert page.get_by_role("combobox", name="Model A").input_value() == "digits-cnn_clf-s0"
        assert page.get_by_role("combobox", name="Layer of A").input_value() == "body.pool2"
        _open(page, f"{url}/interpolation?model_a=digits-mlp_clf-s0&model_b=digits-mlp_clf-s1&wi_frame=7&wi_points=11",
              "Interpolation")
        page.get_by_role("tab", name="Weight interpolation and mode connectivity").click()
        page.get_by_text("The latent space along the path").wait_for(timeout=120_000)
        assert page.locator("[data-testid=stSlider] input[type=range]").last.input_value() == "7"
        # the frame restored from the URL, drawn in both linked views of the path (frame 7 of 11 is α = 0.70)
        page.locator(".lv[data-drawn]").nth(1).wait_for(timeout=60_000)
        assert page.locator(".lv .title").all_inner_texts() == ["naive, α = 0.70", "weight matching, α = 0.70"]
        assert "wi_frame=7" in page.url and "model_b=digits-mlp_clf-s1" in page.url
        assert_clean(page)


def test_presentation_mode_hides_the_sidebar(app):
    url, tmp = app
    with browser_page() as page:
        _open(page, f"{url}/latent_spaces?present=1", "Do A and B agree?")
        assert not page.locator("section[data-testid='stSidebar']").is_visible()
        assert page.get_by_test_id("stExpandSidebarButton").count() == 1  # opened collapsed, and
        assert not page.get_by_test_id("stExpandSidebarButton").is_visible()  # its expand button hidden too
        page.screenshot(path=str(tmp / "presentation.png"))
        page.get_by_text("Presentation", exact=True).click()
        wait_idle(page)
        page.locator("section[data-testid='stSidebar']").wait_for(state="visible", timeout=10_000)  # it slides in
        assert_clean(page)


def test_long_training_shows_an_estimate_and_can_be_cancelled(app):
    url, tmp = app
    with browser_page() as page:
        _open(page, f"{url}/?h_arch=mlp_clf&h_epochs=400", "Train a new model")
        page.get_by_role("button", name="Train", exact=True).click()
        bar = page.get_by_text("s left")
        bar.first.wait_for(timeout=60_000)  # "… epoch 3, loss 0.21 — about 40 s left"
        page.get_by_role("button", name="Cancel", exact=True).click()
        wait_idle(page, 60_000)
        page.get_by_text("Model zoo on digits").wait_for()
        assert not any((tmp / "models").glob("*.json"))  # nothing saved for the unfinished model
        assert page.get_by_text("s left").count() == 0
        assert_clean(page)

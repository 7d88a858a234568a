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

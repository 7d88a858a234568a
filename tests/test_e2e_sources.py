"""End-to-end: a user uploads their own .npz through the file chooser in Chromium and sees the Latent
spaces view built from it; the built-in MiniLM against GloVe on the words dataset."""

import numpy as np

from tests.browser import BROWSER_MARKS, assert_clean, browser_page, streamlit_server, wait_idle

pytestmark = BROWSER_MARKS


def test_upload_an_npz_and_see_its_latent_spaces(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 16)).astype(np.float32)
    Q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    mine = tmp_path / "my_vectors.npz"
    np.savez(mine, encoder=X, rotated=(X @ Q).astype(np.float32), labels=rng.integers(0, 5, 400))
    before = mine.read_bytes()
    env = {"EXPLORER_CACHE_DIR": str(tmp_path / "cache"), "EXPLORER_MODELS_DIR": str(tmp_path / "models")}
    with streamlit_server(env) as url, browser_page() as page:
        page.goto(url)
        page.get_by_text("Add your own").wait_for(timeout=60_000)
        wait_idle(page)
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(mine))
        page.get_by_role("button", name="Add this file").click()
        page.get_by_text("Added my_vectors.npz as dataset").wait_for(timeout=60_000)
        wait_idle(page)
        dataset = page.get_by_role("combobox", name="Dataset").input_value()
        assert dataset.startswith("file-my_vectors-") and f"dataset={dataset}" in page.url
        page.get_by_role("link", name="Latent spaces").click()
        page.get_by_text("Do A and B agree?").wait_for(timeout=120_000)
        wait_idle(page, 120_000)
        page.get_by_role("combobox", name="Layer of B").click()
        page.get_by_role("option", name="rotated", exact=True).click()
        wait_idle(page, 120_000)
        assert page.locator(".lv").count() == 4
        assert "ls_layer_b=rotated" in page.url
        assert page.get_by_text("absolute A: file-my_vectors-").first.is_visible()
        assert page.get_by_text("relative B (").first.is_visible()
        page.screenshot(path="/tmp/upload_latent.png" if __import__("os").environ.get("KEEP_SHOTS") else str(tmp_path / "u.png"), full_page=True)
        assert_clean(page)
        # the copied link reopens the uploaded file's view
        page.goto(page.url)
        page.get_by_text("Do A and B agree?").wait_for(timeout=120_000)
        wait_idle(page, 120_000)
        assert page.get_by_role("combobox", name="Dataset").input_value() == dataset
        assert page.get_by_role("combobox", name="Layer of B").input_value() == "rotated"
        assert_clean(page)
    assert mine.read_bytes() == before  # the user's file is only read
    kept = list((tmp_path / "models" / "embeddings").iterdir())
    assert len(kept) == 1 and kept[0].read_bytes() == before

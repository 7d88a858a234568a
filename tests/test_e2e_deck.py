"""End-to-end: record two views into a deck, reload, play them with the arrow keys, in Chromium."""

import json
import re
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import expect

from tests.browser import BROWSER_MARKS, assert_clean, browser_page, streamlit_server, wait_idle

pytestmark = BROWSER_MARKS


def add_view(page) -> None:
    panel = page.get_by_text("Talk deck")
    if not page.get_by_role("button", name="Add this view to the deck").is_visible():
        panel.click()
    page.get_by_role("button", name="Add this view to the deck").click()
    wait_idle(page)


def test_record_reload_and_play_with_the_keyboard(tmp_path):
    decks = tmp_path / "decks"
    env = {"EXPLORER_CACHE_DIR": str(tmp_path / "cache"), "EXPLORER_MODELS_DIR": str(tmp_path / "models"),
           "EXPLORER_DECKS_DIR": str(decks)}
    with streamlit_server(env) as url, browser_page() as page:
        page.goto(f"{url}/similarity?s_measure=procrustes")
        page.get_by_text("Similarity").first.wait_for(timeout=120_000)
        wait_idle(page, 120_000)
        add_view(page)
        page.goto(f"{url}/layer_geometry?g_k=7")
        wait_idle(page, 120_000)
        add_view(page)
        saved = json.loads((decks / "my-talk.json").read_text())
        assert [(s["page"], s["state"]) for s in saved["slides"]] == [("similarity", {"s_measure": "procrustes"}),
                                                                     ("layer_geometry", {"g_k": "7"})]
        page.reload()  # the recorded deck is a file: a reload (or a restart) keeps it
        wait_idle(page, 120_000)
        page.get_by_text("Talk deck").click()
        page.get_by_text("2. layer_geometry").wait_for(timeout=30_000)

        page.goto(f"{url}/?deck=my-talk&slide=1")
        page.locator("[data-testid='deck-position']").filter(has_text="1 / 2").wait_for(timeout=120_000)
        wait_idle(page, 120_000)
        # the slide's widget state is in the widgets (the URL says which slide: that is enough to reopen it)
        assert re.search(r"/similarity\?", page.url) and "slide=1" in page.url
        assert page.get_by_role("combobox", name="Measure").input_value().startswith("Procrustes shape")
        assert not page.locator("section[data-testid='stSidebar']").is_visible()  # Presentation mode
        page.locator("[data-deck-keys='on']").wait_for(state="attached")
        page.mouse.click(5, 300)  # focus on the page, not on a widget
        page.keyboard.press("ArrowRight")
        page.locator("[data-testid='deck-position']").filter(has_text="2 / 2").wait_for(timeout=60_000)
        wait_idle(page, 120_000)
        page.wait_for_function("() => location.href.includes('slide=2')", timeout=30_000)
        assert "/layer_geometry" in page.url
        assert page.get_by_role("spinbutton", name="k (neighbours)").input_value() == "7"
        page.keyboard.press("ArrowLeft")
        page.locator("[data-testid='deck-position']").filter(has_text="1 / 2").wait_for(timeout=60_000)
        wait_idle(page, 120_000)
        page.wait_for_function("() => location.href.includes('slide=1')", timeout=30_000)
        assert "/similarity" in page.url
        assert page.get_by_role("combobox", name="Measure").input_value().startswith("Procrustes shape")
        page.screenshot(path=str(tmp_path / "deck.png"), full_page=True)
        assert_clean(page)
        # a copied slide URL reopens that slide in a new page
        page.goto(page.url.replace("slide=1", "slide=2"))
        page.locator("[data-testid='deck-position']").filter(has_text="2 / 2").wait_for(timeout=120_000)
        wait_idle(page, 120_000)
        assert "/layer_geometry" in page.url
        # a new session opens the slide in two runs (the page, then the slide's state): the value settles on 7
        expect(page.get_by_role("spinbutton", name="k (neighbours)")).to_have_value("7", timeout=30_000)
        # Exit deck: back to the app on this view, which the address bar holds (a copy reopens it), Presentation kept
        page.get_by_role("button", name="Exit deck").click()
        page.wait_for_function("() => !location.search.includes('deck=')", timeout=30_000)
        wait_idle(page, 120_000)
        page.wait_for_function("() => location.search.includes('g_k=7')", timeout=30_000)
        assert parse_qs(urlparse(page.url).query) == {"g_k": ["7"], "present": ["true"]} and "/layer_geometry" in page.url
        assert page.get_by_role("spinbutton", name="k (neighbours)").input_value() == "7"
        assert_clean(page)

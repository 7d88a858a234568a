"""Latent Explorer: entry point. Run with `make run` (or `streamlit run streamlit_app.py`)."""

import streamlit as st

from explorer.knn_core import warm_up_in_background
from explorer.ui import PAGES
from explorer.ui.deck import after_page, page_key, play_bar, record_panel
from explorer.ui.state import bound, playing_deck, remember_url, sidebar, toast_url_notes, unknown_page_path
from explorer.ui.warm import warm_pages
from explorer.ui.widgets import PRESENT_KEY, announce_cancel, page_guard, presenting

# A link that opens in Presentation mode (or a deck) starts with the sidebar collapsed: the style that hides it
# comes with the run, and the sidebar would show until then.
_asks_present = st.query_params.get(PRESENT_KEY, "").lower() in ("1", "true") or playing_deck()
st.set_page_config(page_title="Latent Explorer", page_icon="🔭", layout="wide",
                   initial_sidebar_state="collapsed" if _asks_present else "auto")
warm_up_in_background()  # the neighbourhood core's compiled loop, loaded once per server process
warm_pages()  # what the pages import, once per server process (explorer/ui/warm.py)
remember_url()
announce_cancel()

pages = [st.Page(path, title=title, icon=icon, default=(i == 0)) for i, (path, title, icon, _) in enumerate(PAGES)]
page = st.navigation(pages)
by_key = {page_key(path): p for (path, *_), p in zip(PAGES, pages)}  # a deck names pages by their script
current = next(k for k, p in by_key.items() if p.url_path == page.url_path)
missing = unknown_page_path([p.url_path for p in pages])
if missing:
    st.warning(f"There is no page “{missing}”; this is {page.title}. The pages: "
               + ", ".join(p.title for p in pages) + " (in the sidebar).")
# Presentation mode: the sidebar out of the way and larger chart fonts, for one chart full screen.
bound(st.toggle, "Presentation", PRESENT_KEY, False,
      help="Hides the sidebar and enlarges chart fonts, for a talk; the chart toolbar also has Fullscreen.")
if presenting():
    st.markdown("<style>section[data-testid='stSidebar'], [data-testid='stSidebarCollapsedControl'], [data-testid='stExpandSidebarButton'] {display: none;}</style>",
                unsafe_allow_html=True)
try:
    with page_guard(page.title):
        play_bar(by_key, current)  # a deck playing (?deck=NAME&slide=N): its slide, opened in this session
        st.session_state["selection"] = sidebar()
        if not presenting():
            record_panel(current)
        page.run()
finally:  # also after a page's st.stop
    after_page()
toast_url_notes()  # one toast for the sidebar's and the page's (a page that stops says them first: stop_page)

"""Latent Explorer: entry point. Run with `make run` (or `streamlit run streamlit_app.py`)."""

import streamlit as st

from explorer.ui import PAGES
from explorer.ui.state import as_bool, sidebar, synced
from explorer.ui.widgets import PRESENT_KEY, presenting

st.set_page_config(page_title="Latent Explorer", page_icon="🔭", layout="wide")

pages = [st.Page(path, title=title, icon=icon, default=(i == 0)) for i, (path, title, icon, _) in enumerate(PAGES)]
page = st.navigation(pages)
# Presentation mode: the sidebar out of the way and larger chart fonts, for one chart full screen.
synced(st.toggle, "Presentation", PRESENT_KEY, False, cast=as_bool,
       help="Hides the sidebar and enlarges chart fonts, for a talk; the chart toolbar also has Fullscreen.")
if presenting():
    st.markdown("<style>section[data-testid='stSidebar'], [data-testid='stSidebarCollapsedControl'] {display: none;}</style>",
                unsafe_allow_html=True)
st.session_state["selection"] = sidebar()
page.run()

"""Latent Explorer: entry point. Run with `make run` (or `streamlit run streamlit_app.py`)."""

import streamlit as st

from explorer.ui import PAGES
from explorer.ui.state import sidebar

st.set_page_config(page_title="Latent Explorer", page_icon="🔭", layout="wide")

pages = [st.Page(path, title=title, icon=icon, default=(i == 0)) for i, (path, title, icon, _) in enumerate(PAGES)]
page = st.navigation(pages)
st.session_state["selection"] = sidebar()
page.run()

"""The smallest Streamlit page, for bench_browser.py's baseline: what any Streamlit app costs a browser."""

import streamlit as st

st.title("Empty")
st.write("Nothing else.")

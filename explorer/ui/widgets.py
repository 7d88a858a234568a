"""Shared widgets: error boxes that stop a page cleanly, the training form with progress and cancel."""

from __future__ import annotations

import time
from contextlib import contextmanager

import streamlit as st

from explorer.checkpoint import CheckpointError
from explorer.data import DatasetUnavailable

EXPECTED = (ValueError, CheckpointError, DatasetUnavailable, FloatingPointError, RuntimeError, OSError)


@contextmanager
def friendly_errors(what: str):
    """Show an expected failure as a clear message and stop this page's run (never a traceback)."""
    try:
        yield
    except EXPECTED as exc:
        st.error(f"{what}: {exc}")
        st.stop()


def progress_callback(bar, label: str):
    """A train-style progress callback that draws ``bar`` with an estimate of the time left."""
    t0 = time.perf_counter()

    def update(p):
        elapsed = time.perf_counter() - t0
        left = elapsed / max(p.fraction, 1e-9) * (1 - p.fraction)
        bar.progress(min(p.fraction, 1.0), text=f"{label}: epoch {p.epoch}, loss {p.loss:.4f} — about {left:.0f} s left")

    return update


def chart_with_data(chart, df, name: str, container=None) -> None:
    """An Altair chart (its menu saves PNG/SVG) and a button to download the data behind it as CSV."""
    c = container or st
    c.altair_chart(chart, width="content")
    c.download_button(f"Data (CSV): {name}", df.to_csv(index=False).encode(), file_name=f"{name}.csv", mime="text/csv", key=f"csv_{name}")

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


def _eta(t0: float, fraction: float) -> str:
    if fraction <= 0.02:
        return "estimating time…"
    left = (time.perf_counter() - t0) / fraction * (1 - fraction)
    return f"about {left:.0f} s left"


def progress_callback(bar, label: str):
    """A train-style progress callback that draws ``bar`` with an estimate of the time left."""
    t0 = time.perf_counter()

    def update(p):
        bar.progress(min(p.fraction, 1.0), text=f"{label}: epoch {p.epoch}, loss {p.loss:.4f} — {_eta(t0, p.fraction)}")

    return update


def long_work(label: str, key: str):
    """A progress bar with a time-left estimate and a Cancel button, for work of more than a moment.

    Returns ``(update, done)``: ``update(fraction, text="")`` draws the bar; ``done()`` removes both.
    Clicking Cancel reruns the page, which stops the work at its next progress update (a rerun
    interrupts the running script); nothing partial is cached, because results are stored only
    when complete.
    """
    slot = st.empty()  # done() empties the slot; emptying a container would only add an element to it
    box = slot.container()
    bar = box.progress(0.0, text=f"{label}…")
    box.button("Cancel", key=f"cancel_{key}", help="Stop this computation")
    t0 = time.perf_counter()

    def update(fraction: float, text: str = "") -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=f"{label}{': ' + text if text else ''} — {_eta(t0, fraction)}")

    return update, slot.empty


PRESENT_KEY = "present"


def presenting() -> bool:
    return bool(st.session_state.get(PRESENT_KEY))


def _for_screen(chart):
    """In presentation mode: larger fonts everywhere in the chart."""
    if not presenting():
        return chart
    return (
        chart.configure_axis(labelFontSize=15, titleFontSize=17, titleLimit=2000, labelLimit=400)
        .configure_legend(labelFontSize=15, titleFontSize=16, symbolSize=160, labelLimit=600)
        .configure_title(fontSize=20)
        .configure_header(labelFontSize=17, titleFontSize=18)
        .configure_text(fontSize=15)
    )


def show_chart(chart, df=None, name: str | None = None, container=None, **kwargs):
    """Draw an Altair chart (its toolbar saves PNG) with buttons for SVG and for its data as CSV.

    The SVG is rendered by vl-convert only when its button is clicked. Extra keyword arguments go
    to ``st.altair_chart`` (selections, for instance); its return value is returned.
    """
    import altair as alt

    c = container or st
    # when presenting, a single chart (not a grid of panels) takes the whole width
    single = isinstance(chart, (alt.Chart, alt.LayerChart))
    width = kwargs.pop("width", "stretch" if presenting() and single else "content")
    if presenting() and single:
        chart = chart.properties(height=380)  # room for the larger axis titles
    chart = _for_screen(chart)
    out = c.altair_chart(chart, width=width, **kwargs)
    if name:
        left, right, _ = c.columns([1, 1, 4])

        def svg():
            import vl_convert

            return vl_convert.vegalite_to_svg(chart.to_dict())

        left.download_button("SVG", svg, file_name=f"{name}.svg", mime="image/svg+xml", key=f"svg_{name}",
                             help="The chart as SVG (PNG: the download icon above the chart)")
        if df is not None:
            right.download_button("CSV", df.to_csv(index=False).encode(), file_name=f"{name}.csv", mime="text/csv",
                                  key=f"csv_{name}", help="The data behind the chart")
    return out


def require_data(sel) -> None:
    """Stop the page with a hint when the chosen dataset's files are not on disk."""
    if not sel.probe:
        st.info(f"The {sel.dataset} files are not on disk (see the sidebar): pick another dataset or download it.")
        st.stop()

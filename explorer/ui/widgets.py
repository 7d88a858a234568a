"""Shared widgets: error boxes that stop a page cleanly, the training form with progress and cancel."""

from __future__ import annotations

import functools
import threading
import time
import traceback
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
        from explorer.ui.state import stop_page

        st.error(f"{what}: {exc}")
        stop_page()


@contextmanager
def page_guard(page: str):
    """Around every page: an expected failure anywhere becomes a clear message; an unexpected one a
    short message too, with the traceback in the server's log (never on the page)."""
    try:
        yield
    except EXPECTED as exc:
        st.error(f"{page}: {exc}")
    except Exception as exc:  # a bug: say what failed, keep the page alive
        traceback.print_exc()
        st.error(f"{page} failed unexpectedly ({type(exc).__name__}: {exc}). The server log has the details.")


def _eta(t0: float, fraction: float) -> str:
    if fraction <= 0.02:
        return "estimating time…"
    left = (time.perf_counter() - t0) / fraction * (1 - fraction)
    return f"about {left:.0f} s left"


def _cancelled() -> set:
    return st.session_state.setdefault("_cancelled_jobs", set())


def long_work(label: str, key: str, params=None):
    """A progress bar with a time-left estimate and a Cancel button, for work of more than a moment.

    Returns ``(update, done)``: ``update(fraction, text="")`` draws the bar; ``done()`` removes both.
    Each update is a point where Streamlit stops the script when Cancel is clicked, so work that
    updates at least every second stops within a second; nothing partial is cached, because results
    are stored only when complete. The click is remembered with ``params`` (what the work depends
    on): the run that follows shows "cancelled" instead of starting the same work again
    (``was_cancelled``), until the user asks for it again or changes what it depends on.
    """
    job = (key, repr(params))
    slot = st.empty()  # done() empties the slot; emptying a container would only add an element to it
    t0 = time.perf_counter()
    drawn = {}

    def cancel():
        _cancelled().add(job)
        st.session_state["_just_cancelled"] = label

    def update(fraction: float, text: str = "") -> None:
        # drawn at the first update only: work that comes from the cache draws no bar and no button,
        # so a warm page does not flash them
        if not drawn:
            box = slot.container()
            drawn["bar"] = box.progress(0.0, text=f"{label}…")
            box.button("Cancel", key=f"cancel_{key}", help="Stop this computation", on_click=cancel)
        drawn["bar"].progress(min(max(fraction, 0.0), 1.0), text=f"{label}{': ' + text if text else ''} — {_eta(t0, fraction)}")

    return update, slot.empty


def in_background(label: str, key: str, work, params=None, every: float = 0.5) -> None:
    """Work the page does not wait for (``explorer.background``): the run goes on and draws what it has,
    while a progress bar with Cancel follows the job (a fragment, every ``every`` s) and reruns the page
    when the job ends, so the page then finds the results where ``work`` stored them.

    Call it when the results are missing. One job per ``key`` and ``params`` on the server: a second
    session asking for the same work follows the same job. Cancel stops it at once (its worker process
    is killed) and, as with ``long_work``, the page then says so instead of starting it again.
    """
    from explorer import background
    from explorer.workers import kill_worker

    if was_cancelled(label, key, params):
        return
    job_key = f"{key}:{params!r}"
    job = background.get(job_key)
    if job is not None and job.done and job.error:
        left, right = st.columns([4, 1])
        left.error(f"{label} failed: {job.error}")
        right.button("Try again", key=f"retry_{key}", on_click=lambda: background.submit(job_key, label, work))
        return
    if job is None or job.done or job.cancelled:
        job = background.submit(job_key, label, work)
    following = st.session_state.setdefault("_background", {})
    stale = following.get(key)
    if stale is not None and stale != job_key:  # this session asked for other parameters before: that job is not wanted
        background.cancel(stale)  # its next progress update raises; a fit in the worker is killed by run_stoppable
    following[key] = job_key

    def cancel():
        background.cancel(job_key, kill_worker)
        _cancelled().add((key, repr(params)))
        st.session_state["_just_cancelled"] = label

    @st.fragment(run_every=every)
    def follow():
        j = background.get(job_key)
        if j is None or j.done or j.cancelled:
            st.rerun()  # the whole page: it now reads the results (or shows the error)
        left, right = st.columns([5, 1])
        left.progress(min(max(j.fraction, 0.0), 1.0), text=f"{label}, in the background{': ' + j.text if j.text else ''} "
                      f"({j.seconds():.0f} s; the page stays live) — {_eta(j.started, j.fraction)}")
        right.button("Cancel", key=f"cancel_{key}", help="Stop this computation", on_click=cancel)

    follow()


def announce_cancel() -> None:
    """First thing in a run: say at once that the work the user just cancelled has stopped (the page's
    own note comes when the run reaches that part of the page)."""
    label = st.session_state.pop("_just_cancelled", None)
    if label:
        st.toast(f"Cancelled: {label}", icon="⏹️")


def was_cancelled(label: str, key: str, params=None) -> bool:
    """True (with a note and a button to start again) when the user cancelled this very work."""
    job = (key, repr(params))
    jobs = _cancelled()
    for other in [j for j in jobs if j[0] == key and j != job]:  # the parameters changed: a new job
        jobs.discard(other)
    if job not in jobs:
        return False
    left, right = st.columns([4, 1])
    left.info(f"Cancelled: {label}. Nothing was drawn or cached from it.")
    right.button("Run again", key=f"again_{key}", on_click=lambda: jobs.discard(job))
    return True


def run_long(label: str, key: str, compute, params=None, clicked: bool = False):
    """``compute(update)`` under ``long_work``; None (and a note) when the user cancelled it.

    ``clicked``: the work was asked for by a click just now, which overrides an earlier Cancel.
    """
    if clicked:
        _cancelled().discard((key, repr(params)))
    if was_cancelled(label, key, params):
        return None
    update, done = long_work(label, key, params)
    try:
        return compute(update)
    finally:
        done()


# One training at a time per server: every session is a thread of one process.
_EXCLUSIVE = threading.Lock()


@contextmanager
def one_at_a_time(what: str):
    """Hold the server's single slot for heavy work (training); while another session holds it,
    wait with a message that updates every quarter second (so Cancel still works)."""
    slot = st.empty()
    t0 = time.perf_counter()
    while not _EXCLUSIVE.acquire(timeout=0.25):
        slot.info(f"Another {what} is running on this server; this one starts when it ends "
                  f"(waiting {time.perf_counter() - t0:.0f} s).")
    slot.empty()
    try:
        yield
    finally:
        _EXCLUSIVE.release()


PRESENT_KEY = "present"
# Buttons that start work a page only does on request (minutes of it); a deck's precompute presses
# the ones on a slide's open tab, so that the slide shows the result (explorer/ui/deck_runner.py).
ON_REQUEST = ("w_go", "st_go")


def presenting() -> bool:
    return bool(st.session_state.get(PRESENT_KEY))


def _for_screen(chart):
    """Larger fonts everywhere in the chart, for presentation mode (one ``configure``: each configure_* call
    copies the whole chart, five of them took 10 ms of a layered chart, one takes 2 ms)."""
    return chart.configure(
        axis={"labelFontSize": 15, "titleFontSize": 17, "titleLimit": 2000, "labelLimit": 400},
        legend={"labelFontSize": 15, "titleFontSize": 16, "symbolSize": 160, "labelLimit": 600},
        title={"fontSize": 20}, header={"labelFontSize": 17, "titleFontSize": 18}, text={"fontSize": 15})


try:  # Altair's data transformer and theme are global: hold the lock Streamlit holds while it converts a chart
    from streamlit.elements.vega_charts import _altair_globals_lock as _SPEC_LOCK
except ImportError:
    _SPEC_LOCK = threading.Lock()


def _shown(chart, presenting_: bool, single: bool):
    """The chart as the page shows it: in presentation mode with larger fonts (and a single chart taller)."""
    return _for_screen(chart.properties(height=380) if single else chart) if presenting_ else chart


def chart_svg(chart, presenting_: bool = False, single: bool = False) -> str:
    """The chart as SVG (vl-convert), its data inline: what the SVG button downloads."""
    import altair as alt
    import vl_convert

    with _SPEC_LOCK, alt.theme.enable("none"), alt.data_transformers.enable("default", max_rows=None):
        spec = _shown(chart, presenting_, single).to_dict(validate=False)
    return vl_convert.vegalite_to_svg(spec)


def _spec(chart, presenting_: bool, single: bool = False) -> dict:
    """The chart's Vega-Lite spec as Streamlit sends it (its data as Arrow), built once per chart object and mode.

    ``charts.reused`` hands a rerun the same chart object for the same data, so a cached change sends the
    spec it sent before without converting the chart again: st.altair_chart converts every chart on every
    run (its data to Arrow, the spec to a dict: 0.1 s of a Latent spaces run, measured with py-spy). The
    spec is not validated again either: tests/test_charts.py validates our charts against the schema.
    """
    import altair as alt

    memo = chart.__dict__.setdefault("_explorer_specs", {})
    mode = (presenting_, single)
    if mode not in memo:
        shown = _shown(chart, presenting_, single)
        object.__setattr__(shown, "to_dict", functools.partial(type(shown).to_dict, shown, validate=False))
        try:  # Streamlit's own conversion (its data already as Arrow bytes, which it then sends as they are)
            from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec as convert
        except ImportError:  # another Streamlit: the data inline, converted by Streamlit on each run
            with _SPEC_LOCK, alt.theme.enable("none"), alt.data_transformers.enable("default", max_rows=None):
                memo[mode] = shown.to_dict()
        else:
            memo[mode] = convert(shown)
        if presenting_:  # a slide changes fast; elsewhere SVG keeps the chart's text and ARIA labels in the page
            on_canvas(memo[mode])
    return memo[mode]


def on_canvas(spec: dict) -> dict:
    """Have vega-embed draw the chart on a canvas (``usermeta.embedOptions.renderer``, which vega-embed reads
    from the spec), while presenting: Streamlit's frontend picks SVG for a chart under 2,000 points per
    dataset, an SVG node with ARIA attributes per mark (slide 9 of the shipped deck: 619 nodes for one
    chart), which the browser builds, styles and lays out on every slide change. Outside presentation mode
    charts stay SVG: their titles, labels and ARIA descriptions are in the page, for screen readers and
    find-in-page (a canvas holds none of them). A renderer the spec already names is kept."""
    meta = spec.setdefault("usermeta", {})
    if isinstance(meta, dict):
        meta.setdefault("embedOptions", {}).setdefault("renderer", "canvas")
    return spec


def show_chart(chart, df=None, name: str | None = None, container=None, **kwargs):
    """Draw an Altair chart (its toolbar saves PNG) with buttons for SVG and for its data as CSV.

    The SVG is rendered by vl-convert only when its button is clicked. Extra keyword arguments go
    to ``st.altair_chart`` (selections, for instance); its return value is returned.
    """
    import altair as alt

    c = container or st
    # a single chart (not a grid of panels) takes the width of its column; a grid keeps its panels' sizes
    single = isinstance(chart, (alt.Chart, alt.LayerChart))
    width = kwargs.pop("width", "stretch" if single else "content")
    out = c.vega_lite_chart(_spec(chart, presenting(), single), width=width, **kwargs)
    if name and not presenting():  # presenting: no buttons to draw (`deck export` writes the charts)
        left, right, _ = c.columns([1, 1, 4])
        left.download_button("SVG", lambda: chart_svg(chart, False, single), file_name=f"{name}.svg", mime="image/svg+xml", key=f"svg_{name}",
                             help="The chart as SVG (PNG: the download icon above the chart)")
        if df is not None:
            download_csv(df, name, right)
    return out


def show_table(data, container=None, formats: dict[str, str] | None = None, **kwargs):
    """A table: Streamlit's interactive data grid, or while presenting a static table, which the
    browser draws in a fraction of the time (a slide change rebuilds every element of the page).

    ``formats`` maps a column to a printf format ("%.4f"): the grid formats it in the browser, the static
    table gets the formatted text. No pandas Styler: its first use imports and compiles Jinja templates
    (0.12 s) and every run renders the whole table through them (0.03 s), measured with cProfile.
    """
    c = container or st
    formats = {k: v for k, v in (formats or {}).items() if k in getattr(data, "columns", ())}
    if not presenting():
        config = {k: st.column_config.NumberColumn(format=v) for k, v in formats.items()}
        return c.dataframe(data, column_config=config or None, **kwargs)
    if formats:
        data = data.assign(**{k: data[k].map(lambda x, f=f: "" if x != x else f % x) for k, f in formats.items()})
    return c.table(data, hide_index=kwargs.get("hide_index"))


def download_csv(df, name: str, container=None) -> None:
    """A button for the data behind a chart as CSV, written only when it is clicked."""
    (container or st).download_button("CSV", lambda: df.to_csv(index=False).encode(), file_name=f"{name}.csv",
                                      mime="text/csv", key=f"csv_{name}", help="The data behind the chart")


def require_networks(sel, page: str, stop: bool = True) -> None:
    """Stitching and interpolation need networks of our zoo (weights and architecture), not only activations:
    say so, naming the picked sources that are not, and stop the page (``stop``) or only note it."""
    from explorer.data import DATASETS
    from explorer.sources import SOURCE_KINDS
    from explorer.ui.state import stop_page

    if sel.dataset not in DATASETS:
        st.info(f"{page} needs networks of the zoo, trained on an image dataset; {sel.dataset} has sources that give only "
                "activations. Latent spaces, Layer geometry and Similarity work on them.")
        stop_page()
    others = [f"{label} ({s.name}, {SOURCE_KINDS[s.kind].label})" for label, s in (("A", sel.source_a), ("B", sel.source_b))
              if s is not None and not s.network]
    if others:
        st.info(f"{page} needs networks of the zoo or trained here: model {' and '.join(others)} "
                f"{'is' if len(others) == 1 else 'are'} not. Latent spaces, Layer geometry and Similarity work on every source.")
        if stop:
            stop_page()


def require_data(sel) -> None:
    """Stop the page with a hint when the chosen dataset's files are not on disk."""
    if not sel.probe:
        from explorer.ui.state import stop_page

        st.info(f"The {sel.dataset} files are not on disk (see the sidebar): pick another dataset or download it.")
        stop_page()


def pair_for(sel, purpose: str, tab: str):
    """Models A and B for a tab that joins two networks layer by layer (``check_pair``). When the sidebar's
    pair cannot be joined, say why and offer the first pair of the dataset's zoo that can (with a button that
    makes it the sidebar's pair); (None, None) when there is none."""
    from explorer.alignment import check_pair, joinable_pair

    try:
        check_pair(sel.model_a, sel.model_b, purpose)
        return sel.model_a, sel.model_b
    except ValueError as exc:
        why = str(exc)
    pair = joinable_pair(list(sel.checkpoints))
    if pair is None:
        st.info(f"{tab} needs two seeds of one classifier on {sel.dataset}: {why}.")
        return None, None
    a, b = pair

    def use():
        st.session_state["model_a"], st.session_state["model_b"] = a.name, b.name

    c1, c2 = st.columns([5, 1.4])
    c1.info(f"The sidebar's A and B cannot be used here ({why}), so this tab shows **{a.name}** and **{b.name}**.")
    c2.button("Make them A and B", key=f"use_pair_{tab}", on_click=use, help="Set the sidebar's model A and B to this pair")
    return a, b

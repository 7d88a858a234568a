"""The shared sidebar (dataset, probe size, device, model A, model B) and the one mechanism that
mirrors widgets in the URL.

Every widget that belongs in a shared link is drawn with ``bound``: Streamlit's own
``bind="query-params"`` keeps the widget and the query string in sync both ways (a URL seeds the
widget on a session's first run, a change rewrites the URL, values equal to the default are left
out, a page's parameters leave the URL when another page is opened). ``bound`` adds what Streamlit
does silently or not at all, on the first run of a session only:

- a number outside the widget's range is clamped (Streamlit would reset it to the default);
- links written by earlier versions still open: ``1``/``0`` for toggles, comma-separated lists
  for multiselects, an option's key where the widget shows a label; Streamlit drops such a
  parameter from the URL, so it is written back in Streamlit's form (a copied link keeps it);
- every parameter that was ignored or changed is named in one toast (``url_notes``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import streamlit as st

from explorer import sources
from explorer.checkpoint import Checkpoint
from explorer.data import DATASETS, DEFAULT_DATASET, DatasetUnavailable, download, is_available
from explorer.sources import Source
from explorer.device import device_choices
from explorer.ui import cached
from explorer.ui.widgets import EXPECTED

DEFAULT_PROBE = {"digits": 300, "mnist": 1000, "fashion_mnist": 1000, "cifar10": 1000, "words": 1000}
_URL0 = "_url_at_start"  # the query string of the session's first run: what a shared link asked for
_SEEDED = "_url_seeded"  # keys already taken from it
_NOTES = "_url_notes"  # what was ignored or changed, shown in one toast
BOUND_KEYS = "_bound_keys"  # every key drawn with ``bound`` in this session
DRAWN, DRAWN_LAST = "_drawn_view", "_drawn_view_last"  # URL values of the widgets drawn in this run / the previous one
APPLY = "_apply_view"  # {"state": {key: value(s)}, "done": keys set}: a whole view to put in the widgets (a deck's slide)
_PENDING = "_view_pending"  # {"state": ..., "left": keys}: the applied view's values for widgets its run did not draw


@dataclass(frozen=True)
class Selection:
    dataset: str
    probe: int
    device: str
    model_a: Checkpoint | None  # the picked sources when they are networks of the zoo (stitching, interpolation)
    model_b: Checkpoint | None
    checkpoints: tuple[Checkpoint, ...]
    source_a: Source | None = None  # any picked source: a checkpoint, your network, a transformer, a file
    source_b: Source | None = None


def remember_url() -> None:
    """Call first in every run: keeps the query string a session was opened with."""
    if _URL0 not in st.session_state:
        st.session_state[_URL0] = {k: st.query_params.get_all(k) for k in st.query_params}
        st.session_state[_SEEDED] = set()
    st.session_state[DRAWN_LAST] = st.session_state.get(DRAWN, {})
    st.session_state[DRAWN] = {}


def url_notes() -> list[str]:
    """The URL parameters ignored or changed so far in this run (and forgets them)."""
    return st.session_state.pop(_NOTES, [])


def toast_url_notes() -> None:
    """One toast for the link parameters ignored or changed so far in this run."""
    notes = url_notes()
    if notes:
        st.toast("Link parameters not used as given: " + "; ".join(notes), icon="⚠️")


def stop_page() -> None:
    """``st.stop()`` for our pages: first say which link parameters were not used as given (after a
    stop Streamlit draws nothing more, so the run's last toast would be lost)."""
    toast_url_notes()
    st.stop()


def _note(text: str) -> None:
    st.session_state.setdefault(_NOTES, []).append(text)


def _raw(key: str) -> list[str] | None:
    """The URL's values for ``key`` if the session was opened with it and it was not used yet."""
    seeded = st.session_state.setdefault(_SEEDED, set())
    start = st.session_state.get(_URL0, {})
    if key in seeded or key not in start:
        return None
    seeded.add(key)
    return start[key]


def _from_url(kind: str, key: str, raw: list[str], options, fmt, lo, hi, integer: bool):
    """(the widget value a URL asks for, whether Streamlit's own binding reads the URL as it is);
    a ValueError with the reason when the value cannot be used.

    Only a value Streamlit would not read (clamped, an earlier format) is set in session state:
    seeding a widget both ways leaves the browser showing the default while the server uses the value.
    """
    text = raw[-1]
    shown = f"{key}={','.join(raw)!r}"
    if kind in ("selectbox", "radio"):
        labels = {str(fmt(o)): o for o in options}
        keys = {str(o): o for o in options}
        if text in labels:
            return labels[text], True
        if text in keys:
            return keys[text], False
        raise ValueError(f"{shown}: not one of the choices")
    if kind == "multiselect":
        parts = [p for r in raw for p in r.split(",") if p != ""]
        labels = {str(fmt(o)): o for o in options}
        keys = {str(o): o for o in options}
        known = [labels.get(p, keys.get(p)) for p in parts]
        unknown = [p for p, k in zip(parts, known) if k is None]
        if unknown:
            _note(f"{key}: ignored {', '.join(unknown)} (not among the choices)")
        values = list(dict.fromkeys(k for k in known if k is not None))
        if not values:
            raise ValueError(f"{shown}: none of the choices")
        return values, not unknown and parts == raw and all(p in labels for p in parts)
    if kind in ("toggle", "checkbox"):
        if text.lower() in ("1", "true"):
            return True, text.lower() == "true"
        if text.lower() in ("0", "false"):
            return False, text.lower() == "false"
        raise ValueError(f"{shown}: not true or false")
    if kind in ("number_input", "slider"):
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{shown}: not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"{shown}: not a finite number")
        clamped = min(max(value, lo if lo is not None else value), hi if hi is not None else value)
        if clamped != value:
            _note(f"{key}={text} is outside {lo}..{hi}: using {int(round(clamped)) if integer else clamped}")
        elif integer and not re.fullmatch(r"-?\d+", text):
            _note(f"{key}={text} is not a whole number: using {int(round(clamped))}")
        if integer:
            clamped = int(round(clamped))
        # Streamlit reads only values in range, and whole numbers for whole-number widgets
        return clamped, clamped == value and (not integer or re.fullmatch(r"-?\d+", text) is not None)
    return text, True


def bound(widget, label: str, key: str, default, options=None, **kwargs):
    """Draw ``widget`` (``st.selectbox``, ``c.number_input``, ...) with its value mirrored in the URL.

    ``default`` is the value a link without this parameter gets (an option for choices, a list for a
    multiselect). A value kept from an earlier run that no longer fits (an option gone, a bound
    moved) falls back to the default or to the nearest bound, never to an error.
    """
    kind = widget.__name__
    fmt = kwargs.get("format_func", str)
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    integer = isinstance(default, int) and not isinstance(default, bool)
    options = list(options) if options is not None else None
    st.session_state.setdefault(BOUND_KEYS, set()).add(key)
    view = st.session_state.get(APPLY)  # a deck's slide being opened: its state, whatever the widget held before
    pending = st.session_state.get(_PENDING)
    if view is None and pending is not None and key in pending["left"] and playing_deck():
        pending["left"].discard(key)  # a closed tab of the slide, opened now: the slide's value, as if drawn with it
        view = {"state": pending["state"], "done": set()}
    if view is not None and key not in view["done"]:
        view["done"].add(key)
        value = default
        if key in view["state"]:
            raw = view["state"][key]
            try:
                value = _from_url(kind, key, raw if isinstance(raw, list) else [raw], options, fmt, lo, hi, integer)[0]
            except ValueError as exc:
                _note(f"ignored {exc}")
                value = default
        st.session_state[key] = value
        raw = None
    else:
        raw = _raw(key)
    rewrite = False
    if raw is not None:
        try:
            value, streamlit_reads_it = _from_url(kind, key, raw, options, fmt, lo, hi, integer)
        except ValueError as exc:
            _note(f"ignored {exc}")
        else:
            if not streamlit_reads_it:
                st.session_state[key] = value
                rewrite = True
    if key in st.session_state:  # a value kept from before: still valid?
        value = st.session_state[key]
        if options is not None and kind == "multiselect":
            st.session_state[key] = [v for v in value if v in options] if isinstance(value, list) else list(default)
        elif options is not None and value not in options:  # e.g. a layer of the previous model: back to the default
            st.session_state[key] = default if default in options else (options[0] if options else None)
        elif lo is not None and value is not None and value < lo:
            st.session_state[key] = lo
        elif hi is not None and value is not None and value > hi:
            st.session_state[key] = hi
    if kind == "tabs":  # st.tabs(labels, default=label): the open tab, in the URL like any widget
        out = widget(options, default=default, key=key, bind="query-params", on_change="rerun", **kwargs)
        _drawn(key, st.session_state.get(key, default), default)
        return out
    args = (label,) if options is None else (label, options)
    # The default is passed on every run, even when the value comes from session state: Streamlit keeps
    # a value equal to the default out of the URL, so its idea of the default must not change between
    # runs (.streamlit/config.toml silences its warning about a default beside a session-state value).
    if kind in ("selectbox", "radio"):
        kwargs["index"] = options.index(default) if default in options else (0 if options else None)
        given = options[kwargs["index"]] if options else None
    elif kind == "multiselect":
        kwargs["default"] = given = [d for d in default if d in options]
    else:
        kwargs["value"] = given = default
    out = widget(*args, key=key, bind="query-params", **kwargs)
    _drawn(key, out, default)
    if rewrite and out != given:  # Streamlit keeps the default it was given out of the URL
        _rewrite_url(kind, key, out, fmt if options is not None else str)
    return out


def _rewrite_url(kind: str, key: str, value, fmt) -> None:
    """Put a bound widget's value in the URL as Streamlit writes it (an option's label, true/false).

    When a link holds a value Streamlit does not read (an option's key, ``1`` for a toggle, a number out
    of range), Streamlit takes the parameter out of the URL; the value we set in session state is shown,
    but Streamlit writes it back only when the widget changes, so a link copied now would lose it. A
    bound parameter cannot be set through ``st.query_params``: this uses the writer Streamlit's own
    binding uses for a corrected value (``QueryParams.set_corrected_value``, Streamlit 1.67)."""
    if isinstance(value, list):
        form, value_type = [str(fmt(v)) for v in value], "string_array_value"
    elif isinstance(value, bool):
        form, value_type = value, "bool_value"
    elif kind == "slider":
        form, value_type = value, "double_array_value"
    else:
        form, value_type = str(fmt(value)), "string_value"
    try:
        from streamlit.runtime.state.session_state_proxy import get_session_state

        get_session_state()._state.query_params.set_corrected_value(key, form, value_type)
    except (ImportError, AttributeError, TypeError):  # another Streamlit: the view still opens, the URL lacks it
        pass


def _drawn(key: str, value, default) -> None:
    """This widget's value as a URL parameter (nothing at its default), for ``current_view``: an
    option by its key, not its label, so a deck file reads "procrustes" (links take either)."""
    view = st.session_state.setdefault(DRAWN, {})
    if value == default:
        view.pop(key, None)
    elif isinstance(value, bool):
        view[key] = "true" if value else "false"
    elif isinstance(value, list):
        view[key] = [str(v) for v in value]
    else:
        view[key] = str(value) if value is not None else ""


def current_view(unopened: bool = False) -> dict:
    """The view shown by the previous run, as URL parameters: every bound widget away from its
    default (what a copied link holds). Read in a run before the page draws its widgets again.
    ``unopened``: also the values a deck's slide holds for widgets not drawn yet (a closed tab's)."""
    view = dict(st.session_state.get(DRAWN_LAST, {}))
    pending = st.session_state.get(_PENDING)
    if unopened and pending is not None:
        for k in pending["left"] & set(pending["state"]):
            view.setdefault(k, pending["state"][k])
    return view


def _probe_input(sb, dataset: str, n_test: int) -> int:
    """The probe-size box, kept within 10..n_test; a new dataset starts at its own default."""
    if st.session_state.get("_probe_dataset") not in (None, dataset):
        st.session_state.pop("probe", None)
    st.session_state["_probe_dataset"] = dataset
    lo = min(10, n_test)
    if st.session_state.get("probe", 0) > n_test:
        _note(f"probe size {st.session_state['probe']} is larger than the test split ({n_test}): using {n_test}")
    probe = bound(sb.number_input, "Probe size (test samples every analysis uses)", "probe",
                  min(DEFAULT_PROBE.get(dataset, 1000), n_test), min_value=lo, max_value=n_test, step=50,
                  help="A stratified, seeded subset of the test split.")
    return int(probe)


def sidebar() -> Selection:
    sb = st.sidebar
    names = sources.dataset_names()
    pending = st.session_state.pop("_pending_dataset", None)  # a dataset just added on Home
    if pending in names:
        st.session_state["dataset"] = pending
    dataset = bound(sb.selectbox, "Dataset", "dataset", DEFAULT_DATASET, names,
                    help="\n\n".join(f"**{n}**: {sources.dataset_title(n, detail=False)}" + ("" if n not in DATASETS or is_available(n) else " (not on disk)")
                                     for n in names))
    sb.caption(sources.dataset_title(dataset) + ("" if dataset not in DATASETS or is_available(dataset) else " — not on disk"))
    try:
        with cached.loading(("dataset", dataset), f"Loading {dataset}…"):
            n_test = sources.dataset_size(dataset)
    except EXPECTED as exc:  # a dataset not on disk, an unreadable or broken embeddings file
        sb.error(str(exc))
        n_test = 0
        if dataset in DATASETS and sb.button(f"Download {DATASETS[dataset].title} (needs network)", key="download_dataset"):
            with sb.status(f"Downloading {dataset}…"):
                try:
                    download(dataset)
                except DatasetUnavailable as err:
                    sb.error(f"Download failed: {err}")
                else:
                    st.rerun()
    probe = _probe_input(sb, dataset, n_test) if n_test else 0
    choices, why_not = device_choices()
    device = bound(sb.radio, "Device", "device", choices[0], choices, horizontal=True,
                   help="; ".join(why_not) or "Every device this machine offers is listed.")
    if why_not:
        sb.caption(" · ".join(why_not))

    cks, _problems = cached.zoo(dataset if dataset in DATASETS else None)
    cks = [c for c in cks if c.dataset == dataset]
    try:
        srcs = sources.list_sources(dataset, cks) if n_test else []
    except EXPECTED as exc:
        sb.error(f"The sources of {dataset} cannot be listed: {exc}")
        srcs = []
    options = [s.name for s in srcs]
    a_i, b_i = sources.default_pair(srcs)
    pending = st.session_state.pop("_pending_model_a", None)  # a model just trained (or added) on Home
    if pending in options:
        st.session_state["model_a"] = pending
    by_name = {s.name: s for s in srcs}
    kinds = {s.name: sources.SOURCE_KINDS[s.kind].label for s in srcs}
    help_ = "Grouped by kind: " + "; ".join(dict.fromkeys(kinds.values())) if srcs else None
    model_a = bound(sb.selectbox, "Model A", "model_a", options[a_i] if options else None, options, help=help_)
    model_b = bound(sb.selectbox, "Model B", "model_b", options[b_i] if options else None, options, help=help_)
    picked = {}
    for label, name in (("A", model_a), ("B", model_b)):  # the one check of a picked model: every page relies on it
        if name is None:
            continue
        src = by_name[name]
        sb.caption(f"{label}: {kinds[name]} · {src.title}")
        try:
            if src.checkpoint is not None:
                cached.model(src.checkpoint, device)
        except EXPECTED as exc:
            sb.error(f"Model {label} cannot be used: {exc}")
            st.warning(f"Model {label} ({name}) cannot be used, so this page works without it: {exc}")
        else:
            picked[label] = src
    if not options and n_test:
        sb.info(f"No model for {dataset} yet: train one on the Home page or with `python -m explorer train`.")
    a, b = picked.get("A"), picked.get("B")
    return Selection(dataset, probe, device, a.checkpoint if a else None, b.checkpoint if b else None, tuple(cks), a, b)


def open_view(page, state: dict, keep: dict | None = None) -> None:
    """Put a whole view in this session and go to it: ``page`` (a st.Page) with the widget state
    ``state`` (URL parameters), every other bound widget back to its default, and ``keep`` in the
    URL beside them (a deck's own parameters). The widgets write their own parameters into the URL
    as they are drawn. Raises Streamlit's rerun (st.switch_page)."""
    st.session_state[APPLY] = {"state": dict(state), "done": set()}
    st.session_state.pop(_PENDING, None)
    st.session_state[_URL0] = {k: (v if isinstance(v, list) else [v]) for k, v in {**state, **(keep or {})}.items()}
    st.session_state[_SEEDED] = set(st.session_state[_URL0])  # the view itself is applied by ``bound`` above
    st.switch_page(page, query_params=keep or {})


def finish_view() -> list[str]:
    """At the end of every run: a view applied in this run is done (its notes on what it asked for
    and did not get are returned); a view only just asked for (no widget drawn yet) waits for the next run."""
    view = st.session_state.get(APPLY)
    if view is None or not view["done"]:
        return []
    st.session_state.pop(APPLY)
    # widgets the run did not draw (a closed tab while a deck plays) take the slide's value when first drawn
    st.session_state[_PENDING] = {"state": view["state"], "left": (set(st.session_state.get(BOUND_KEYS, ())) | set(view["state"])) - view["done"]}
    return list(st.session_state.get(_NOTES, []))


def playing_deck() -> bool:
    """Whether this run shows a deck's slide (``?deck=`` in the URL)."""
    return bool(st.query_params.get("deck"))


def tab_runs(tab) -> bool:
    """Whether the content of ``tab`` (from st.tabs, which reruns when another tab is opened) runs.
    While a deck plays only the open tab runs: a slide opens faster, and its values for the closed
    tab's widgets wait until that tab is opened (``finish_view``). Otherwise every tab runs, as
    Streamlit drops from the URL the parameters of widgets a run does not draw, and a copied link
    must hold the whole view."""
    return tab.open is not False or not playing_deck()


def unknown_page_path(known: list[str]) -> str | None:
    """The page name a link asked for when no page has it (Streamlit then shows the default page)."""
    from urllib.parse import urlparse

    url = st.context.url
    if not url:
        return None
    last = urlparse(url).path.rstrip("/").rsplit("/", 1)[-1]
    return None if last in ("", *known) else last

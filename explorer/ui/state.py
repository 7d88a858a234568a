"""The shared sidebar (dataset, probe size, device, model A, model B) and its mirror in the URL.

Widget values live in ``st.session_state`` under fixed keys. On a session's first run they are
seeded from ``st.query_params`` (so a copied URL reopens the same selection); after the widgets
are drawn, every value is written back to the query string.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from explorer.checkpoint import Checkpoint
from explorer.data import DATASETS, DEFAULT_DATASET, DatasetUnavailable, download, is_available, load_split
from explorer.device import available_devices
from explorer.ui import cached

DEFAULT_PROBE = {"digits": 300, "mnist": 1000, "fashion_mnist": 1000, "cifar10": 1000}
_MIRRORED: list[str] = []


@dataclass(frozen=True)
class Selection:
    dataset: str
    probe: int
    device: str
    model_a: Checkpoint | None
    model_b: Checkpoint | None
    checkpoints: tuple[Checkpoint, ...]


def seed_from_url(key: str, options=None, cast=str) -> None:
    """Before a widget is created: take its value from the URL once per session, if valid."""
    if key not in _MIRRORED:
        _MIRRORED.append(key)
    seeded = st.session_state.setdefault("_seeded_from_url", set())
    if key in seeded:
        return
    seeded.add(key)
    raw = st.query_params.get(key)
    if raw is None:
        return
    try:
        value = cast(raw)
    except (TypeError, ValueError):
        st.toast(f"Ignored URL parameter {key}={raw!r}: not a valid value")
        return
    if options is not None and value not in options:
        st.toast(f"Ignored URL parameter {key}={raw!r}: not one of the available choices")
        return
    st.session_state[key] = value


def mirror_to_url() -> None:
    """Write every mirrored widget's current value into the query string."""
    for key in _MIRRORED:
        if key in st.session_state and st.session_state[key] is not None:
            value = st.session_state[key]
            if isinstance(value, bool):
                value = str(int(value))
            elif isinstance(value, (list, tuple)):
                value = ",".join(str(v) for v in value)
            else:
                value = str(value)
            if st.query_params.get(key) != value:
                st.query_params[key] = value


def _default_pair(cks: list[Checkpoint]) -> tuple[int, int]:
    """Two seeds of the same architecture when there are any, preferring the 16-d autoencoders."""
    if not cks:
        return 0, 0
    order = sorted(range(len(cks)), key=lambda i: (cks[i].arch != "mlp_ae", cks[i].meta["hparams"].get("latent") != 16, i))
    a = order[0]
    twin = next((j for j in order if j != a and cks[j].arch == cks[a].arch and cks[j].meta["hparams"] == cks[a].meta["hparams"]), None)
    return a, twin if twin is not None else (order[1] if len(order) > 1 else a)


def _probe_input(sb, dataset: str, n_test: int) -> int:
    """The probe-size box, seeded from the URL, kept within 10..n_test (a toast says when it clamps)."""
    seed_from_url("probe", cast=int)
    if st.session_state.get("_probe_dataset") != dataset:  # a new dataset starts at its own default
        if st.session_state.get("_probe_dataset") is not None:
            st.session_state["probe"] = DEFAULT_PROBE.get(dataset, 1000)
        st.session_state["_probe_dataset"] = dataset
    st.session_state.setdefault("probe", DEFAULT_PROBE.get(dataset, 1000))
    if st.session_state["probe"] > n_test:
        st.toast(f"Probe size {st.session_state['probe']} is larger than the test split ({n_test}); using {n_test}.")
        st.session_state["probe"] = n_test
    if st.session_state["probe"] < min(10, n_test):
        st.session_state["probe"] = min(10, n_test)
    probe = sb.number_input(
        "Probe size (test samples every analysis uses)",
        min_value=min(10, n_test),
        max_value=n_test,
        step=50,
        key="probe",
        help="A stratified, seeded subset of the test split.",
    )
    return int(probe)


def sidebar() -> Selection:
    sb = st.sidebar
    names = list(DATASETS)
    seed_from_url("dataset", names)
    st.session_state.setdefault("dataset", DEFAULT_DATASET)
    dataset = sb.selectbox(
        "Dataset",
        names,
        key="dataset",
        format_func=lambda n: DATASETS[n].title + ("" if is_available(n) else " — not on disk"),
    )
    try:
        n_test = len(load_split(dataset, "test"))
    except DatasetUnavailable as exc:
        sb.error(str(exc))
        n_test = 0
        if sb.button(f"Download {DATASETS[dataset].title} (needs network)", key="download_dataset"):
            with sb.status(f"Downloading {dataset}…"):
                try:
                    download(dataset)
                except DatasetUnavailable as err:
                    sb.error(f"Download failed: {err}")
                else:
                    st.rerun()
    probe = _probe_input(sb, dataset, n_test) if n_test else 0
    devices = available_devices()
    seed_from_url("device", devices)
    st.session_state.setdefault("device", devices[0])
    device = sb.radio("Device", devices, key="device", horizontal=True)

    cks, _problems = cached.zoo(dataset)
    options = [c.name for c in cks]
    a_i, b_i = _default_pair(cks)
    seed_from_url("model_a", options)
    seed_from_url("model_b", options)
    pending = st.session_state.pop("_pending_model_a", None)  # a model just trained on Home
    if pending in options:
        st.session_state["model_a"] = pending
    for key, i in (("model_a", a_i), ("model_b", b_i)):
        if st.session_state.get(key) not in options:
            st.session_state[key] = options[i] if options else None
    labels = {c.name: c.label() for c in cks}
    model_a = sb.selectbox("Model A", options, key="model_a", format_func=labels.get)
    model_b = sb.selectbox("Model B", options, key="model_b", format_func=labels.get)
    if not options:
        sb.info(f"No model for {dataset} yet: train one on the Home page or with `python -m explorer train`.")
    mirror_to_url()
    by_name = {c.name: c for c in cks}
    return Selection(dataset, probe, device, by_name.get(model_a), by_name.get(model_b), tuple(cks))


def synced(widget, label: str, key: str, default, options=None, cast=str, **kwargs):
    """A widget whose value is seeded from the URL once and mirrored back (call ``mirror_to_url`` after).

    A value that is no longer valid (not in ``options``, or outside ``min_value``..``max_value``)
    falls back to ``default`` instead of raising.
    """
    seed_from_url(key, options, cast)
    value = st.session_state.setdefault(key, default)
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    if isinstance(default, list):  # a multiselect: keep the known choices
        st.session_state[key] = [v for v in value if options is None or v in options] if isinstance(value, list) else default
    elif (options is not None and value not in options) or (lo is not None and value < lo) or (hi is not None and value > hi):
        st.session_state[key] = default
    if options is not None:
        return widget(label, options, key=key, **kwargs)
    return widget(label, key=key, **kwargs)


def as_list(cast=str):
    """URL cast for a multiselect: comma-separated values."""
    return lambda raw: [cast(v) for v in raw.split(",") if v != ""]


def as_bool(raw: str) -> bool:
    return raw in ("1", "true", "True")

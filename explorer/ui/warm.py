"""Warm a server's memory before a person waits for it, in daemon threads.

A server started for a talk has an empty memory: the first visit of each page imports its modules,
the first slide on MNIST reads its test images, a relative model also the 60,000 training images
(its anchors come from them), and each model is read, checked and built once. The disk cache already
holds the results (``deck precompute``); these first-visit costs are what is left. Walking the shipped
deck twice in one AppTest session, slide 5 took 1.05 s the first time and 0.24 s the second.

- ``warm_pages()`` (once per process, at app start): imports what the pages import, builds a chart.
- ``warm_deck(deck)`` (once per deck and process, when the deck starts playing): the datasets and
  the models its slides name, and for a Stitching slide every network of its dataset's zoo (the
  zero-shot grids use them all), for an Interpolation slide B's weights permuted onto A's; then the
  disk-cache entries ``deck precompute`` saw its slides read, into the memory cache (slide by slide,
  as far as its budget allows).
Everything loaded goes through the same caches the pages use, so a page that gets there first
waits for nothing but the lock of that one item.
"""

from __future__ import annotations

import ast
import importlib
import logging
import threading
from pathlib import Path

_LOG = logging.getLogger(__name__)
_LOCK = threading.Lock()
_STARTED: set[str] = set()
PAGES_DIR = Path(__file__).resolve().parents[2] / "app_pages"


def page_modules() -> list[str]:
    """The ``explorer`` modules the page scripts import at their top (read from their source)."""
    names = set()
    for script in sorted(PAGES_DIR.glob("*.py")):
        for node in ast.parse(script.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "explorer":
                names.add(node.module)
                names |= {f"{node.module}.{a.name}" for a in node.names if _is_module(f"{node.module}.{a.name}")}
            elif isinstance(node, ast.Import):
                names |= {a.name for a in node.names if a.name.split(".")[0] == "explorer"}
    return sorted(names)


def _is_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _once(tag: str, target, *args) -> threading.Thread | None:
    with _LOCK:
        if tag in _STARTED:
            return None
        _STARTED.add(tag)
    t = threading.Thread(target=_quietly, args=(target, *args), name=f"explorer-warm-{tag}", daemon=True)
    t.start()
    return t


def _quietly(target, *args) -> None:
    """Warming is a courtesy: whatever fails here fails again, with its message, on the page that needs it."""
    try:
        target(*args)
    except Exception as exc:  # noqa: BLE001
        _LOG.info("warm-up stopped: %s", exc)


def warm_pages() -> threading.Thread | None:
    return _once("pages", _import_and_build)


def _import_and_build() -> None:
    """Import what the pages import, then build and convert a small chart as a page does: Altair's first
    chart in a process costs about three times a later one (a layered chart 73 ms, then 26 ms; its
    conversion 35 ms, then 18 ms), paid here instead of on the first slide that draws one."""
    for m in page_modules():
        importlib.import_module(m)
    import numpy as np
    import pandas as pd

    from explorer import charts
    from explorer.ui.widgets import _spec

    alpha = np.linspace(0, 1, 3)
    curve = pd.DataFrame({"alpha": np.r_[alpha, alpha], "loss": np.r_[alpha, alpha], "accuracy": np.r_[alpha, alpha],
                          "split": ["test"] * 3 + ["train"] * 3, "path": "naive"})
    for presenting in (False, True):
        _spec(charts.path_charts(curve), presenting)


def deck_needs(deck) -> tuple[set[str], set[tuple[str, str]], set[str]]:
    """(datasets, (dataset, model name) pairs, datasets whose whole zoo a slide uses) named by a deck."""
    from explorer.ui.state import DEFAULT_DATASET

    datasets, models, zoos = set(), set(), set()
    for slide in deck.slides:
        ds = slide.state.get("dataset", DEFAULT_DATASET)
        datasets.add(ds)
        models |= {(ds, slide.state[k]) for k in ("model_a", "model_b") if slide.state.get(k)}
        if slide.page == "stitching":
            zoos.add(ds)
    return datasets, models, zoos


def _interpolation_pairs(deck) -> list[tuple[str, str, str, int]]:
    """(dataset, model A, model B, probe size) of each Interpolation slide: its weight paths need B permuted onto A."""
    from explorer.ui.state import DEFAULT_DATASET, DEFAULT_PROBE

    pairs = []
    for slide in deck.slides:
        ds = slide.state.get("dataset", DEFAULT_DATASET)
        if slide.page == "interpolation" and slide.state.get("model_a") and slide.state.get("model_b"):
            try:
                n = int(slide.state.get("probe", DEFAULT_PROBE.get(ds, 1000)))
            except ValueError:
                continue
            pairs.append((ds, slide.state["model_a"], slide.state["model_b"], n))
    return pairs


def _load_deck(deck) -> None:
    from explorer import deck as decks
    from explorer.data import DATASETS, load_split
    from explorer.device import device_choices
    from explorer.ui import cached
    from explorer.ui.cached import disk_cache

    device = device_choices()[0][0]  # the sidebar's default device: the models the pages will ask for
    datasets, models, zoos = deck_needs(deck)
    for ds in sorted(d for d in datasets if d in DATASETS):
        load_split(ds, "test")  # the training split comes with the first relative model (its anchors)
    for ds in sorted(datasets):
        cks, _ = cached.zoo(ds)
        for ck in cks:
            if ds in zoos or (ds, ck.name) in models:
                cached._model(str(ck.sidecar), ck.sha256, device)
    for ds, a, b, n in _interpolation_pairs(deck):
        found = {ck.name: ck for ck in cached.zoo(ds)[0]}
        if a in found and b in found:
            cached.aligned_states(found[a], found[b], ds, n, device)
    cached.warm_entries(decks.load_entries(deck, disk_cache().root))


def warm_deck(name: str, deck) -> threading.Thread | None:
    return _once(f"deck:{name}", _load_deck, deck)

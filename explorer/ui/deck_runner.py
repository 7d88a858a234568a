"""Run a deck's slides without a browser (Streamlit's AppTest): precompute them into the disk cache,
check them, pack and unpack them, export their charts. Used by ``python -m explorer deck ...``.

Each slide runs as the app runs it when the deck plays (``?deck=NAME&slide=N``), in a new session,
until its background work (UMAP, a long anchor sweep) has finished and been drawn. The in-process
memory caches are emptied before each slide, so what a slide needs is read from (or written to)
the disk cache, as on a freshly started server; ``cache.recording`` lists those entries.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from explorer import deck as decks
from explorer.cache import recording

APP = decks.ROOT / "streamlit_app.py"


@dataclass
class SlideRun:
    number: int
    page: str
    title: str
    seconds: float  # from opening the slide until its background work is drawn
    problems: list[str] = field(default_factory=list)  # errors, exceptions, values the slide asked for and did not get
    used: set[str] = field(default_factory=set)  # disk-cache keys the slide read or wrote
    misses: set[str] = field(default_factory=set)  # keys it had to compute
    app: object = None  # the AppTest, for export


@contextlib.contextmanager
def _deck_visible(path: Path):
    """The app plays decks by name from the decks folder: point that folder at the deck's own."""
    before = os.environ.get("EXPLORER_DECKS_DIR")
    os.environ["EXPLORER_DECKS_DIR"] = str(path.resolve().parent)
    try:
        yield path.stem
    finally:
        if before is None:
            os.environ.pop("EXPLORER_DECKS_DIR", None)
        else:
            os.environ["EXPLORER_DECKS_DIR"] = before


def _empty_memory() -> None:
    import streamlit as st

    from explorer.ui import cached

    st.cache_data.clear()
    st.cache_resource.clear()
    with cached._MEMORY_LOCK:
        cached._MEMORY.clear()


def run_slide(name: str, number: int, timeout: float = 900) -> SlideRun:
    """Open slide ``number`` of the deck ``name`` (already visible to the app) in a new session."""
    import logging

    from streamlit.testing.v1 import AppTest

    from explorer import background

    for name_ in ("streamlit", "streamlit.runtime.caching.cache_data_api", "streamlit.runtime.scriptrunner_utils.script_run_context"):
        logging.getLogger(name_).setLevel(logging.ERROR)  # AppTest's "no runtime" warnings, not ours
    _empty_memory()
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    at.query_params["deck"] = name
    at.query_params["slide"] = str(number)
    deck = decks.load(decks.path_of(name))
    slide = deck.slides[number - 1]
    seen = {id(j) for j in background.wait_all(timeout)}  # jobs of earlier slides
    with recording() as rec:
        t0 = time.perf_counter()
        at.run()
        for key in _on_request(at):  # work a page does on request (the word table, trained stitches): shown done
            at.button(key=key).click()
            at.run()
        for _ in range(20):  # background work: wait, then the rerun that draws it (and may start the next job)
            new = [j for j in background.wait_all(timeout) if id(j) not in seen]
            if not new:
                break
            seen |= {id(j) for j in new}
            at.run()
        seconds = time.perf_counter() - t0
    problems = [e.value for e in at.error] + [str(e.value) for e in at.exception]
    problems += [w.value.split(". The rest of the slide")[0] for w in at.warning if w.value.startswith(f"Slide {number} asks")]
    return SlideRun(number, slide.page, slide.title, seconds, problems, rec.used, rec.misses, at)


def _closed_tabs(at) -> list:
    """The tabs the slide does not show (AppTest runs every tab; the browser shows the one the URL opened)."""
    open_tabs = {v for k, v in at.session_state.items() if k.endswith("_tab")}
    return [tab for tab in at.tabs if tab.label not in open_tabs]


def shown(at, element_type: str) -> list:
    """The elements of one type the slide shows: those in a closed tab left out."""
    hidden = {id(e) for tab in _closed_tabs(at) for e in tab.get(element_type)}
    return [e for e in at.get(element_type) if id(e) not in hidden]


def _on_request(at) -> list[str]:
    """The keys of the on-request buttons (``widgets.ON_REQUEST``) the slide shows: not those in a closed tab."""
    from explorer.ui.widgets import ON_REQUEST

    keys = {b.key for b in shown(at, "button")}
    return [k for k in ON_REQUEST if k in keys]


def _each_slide(path: Path, progress=None):
    """(number, deck name) for each slide of the deck at ``path``, with the deck visible to the app and
    ``progress(i, n, text)`` called before each slide and once at the end."""
    deck = decks.load(path)
    n = len(deck.slides)
    with _deck_visible(path) as name:
        for i, slide in enumerate(deck.slides, start=1):
            if progress:
                progress(i - 1, n, f"slide {i}: {slide.title or slide.page}")
            yield i, name
    if progress:
        progress(n, n, "done")


def precompute(path: Path, progress=None) -> list[tuple[SlideRun, SlideRun]]:
    """Every slide twice: cold (computing what is missing into the disk cache) and warm (a new
    session, memory emptied: what a person waits for after this). ``progress(i, n, text)`` per slide."""
    from explorer.cache import DiskCache

    runs = [(run_slide(name, i), run_slide(name, i)) for i, name in _each_slide(path, progress)]
    if runs and all(not warm.problems for _, warm in runs):  # what a playing deck reads into memory first
        decks.save_entries(decks.load(path), DiskCache().root, [sorted(warm.used) for _, warm in runs])
    return runs


# ---------------------------------------------------------------- pack / unpack


def _user_files(runs: list[SlideRun]) -> list[Path]:
    """The user's model files the slides use (checkpoints under the models folder; never the shipped zoo)."""
    from explorer import sources
    from explorer.zoo import user_models_dir

    root = user_models_dir().resolve()
    names = set()
    for r in runs:
        at = r.app
        for key in ("model_a", "model_b"):
            if key in at.session_state:
                names.add((at.session_state["dataset"], at.session_state[key]))
    files = []
    for dataset, name in sorted(n for n in names if n[1]):
        try:
            from explorer.ui import cached

            cks, _ = cached.zoo(dataset)
            src = next((s for s in sources.list_sources(dataset, [c for c in cks if c.dataset == dataset]) if s.name == name), None)
        except Exception:  # a slide whose model is gone: precompute reports it
            continue
        ck = getattr(src, "checkpoint", None)
        if ck is None:
            continue
        p = Path(ck.sidecar).resolve()
        if root in p.parents:
            files += [q for q in (p, ck.weights.resolve()) if q.is_file()]
    return sorted(set(files))


def pack(path: Path, out: Path, progress=None) -> dict:
    """A zip with the deck, the user's models it needs and every cache entry its slides use.
    The slides are run first (computing what is missing), so the zip is complete."""
    from explorer.cache import DiskCache
    from explorer.zoo import user_models_dir

    runs = [warm for _, warm in precompute(path, progress)]
    problems = {r.number: r.problems for r in runs if r.problems}
    if problems:
        raise ValueError("cannot pack a deck whose slides fail: " + "; ".join(f"slide {n}: {', '.join(p)}" for n, p in problems.items()))
    cache = DiskCache()
    keys = sorted(set().union(*(r.used for r in runs)))
    models = _user_files(runs)
    manifest = {"format": 1, "deck": path.stem, "cache": keys,
                "models": [str(p.relative_to(user_models_dir().resolve())) for p in models]}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest, indent=1))
        z.write(path, f"deck/{path.name}")
        for k in keys:
            z.write(cache.path(k), f"cache/{k}.safetensors")
        for p, rel in zip(models, manifest["models"]):
            z.write(p, f"models/{rel}")
    tmp.replace(out)
    return manifest


def unpack(zip_path: Path, decks_dir: Path | None = None) -> list[str]:
    """Restore a pack: the deck into the decks folder, the models into the models folder, the cache
    entries into the cache. A file already there with other content is kept (never overwritten):
    the deck goes in beside it under a new name; a model of the same name but other content is
    reported, and its slides will be recomputed (its content key differs). Returns what was done."""
    from explorer.cache import DiskCache
    from explorer.io import atomic_write_bytes
    from explorer.zoo import user_models_dir

    notes = []
    with zipfile.ZipFile(zip_path) as z:
        try:
            manifest = json.loads(z.read("manifest.json"))
        except KeyError:
            raise ValueError(f"{zip_path} is not a deck pack (no manifest.json)") from None
        cache = DiskCache()
        wrote = 0
        for k in manifest["cache"]:
            blob = z.read(f"cache/{k}.safetensors")
            target = cache.path(k)
            if not target.is_file():
                atomic_write_bytes(target, blob)
                wrote += 1
        notes.append(f"cache: {wrote} entries written, {len(manifest['cache']) - wrote} already there ({cache.root})")
        try:
            decks.save_entries(decks.parse(next(z.read(n) for n in z.namelist() if n.startswith("deck/")).decode()),
                               cache.root, [list(manifest["cache"])])
        except (StopIteration, ValueError):  # the deck itself is checked below
            pass
        mroot = user_models_dir()
        for rel in manifest["models"]:
            blob = z.read(f"models/{rel}")
            target = mroot / rel
            if target.is_file() and target.read_bytes() != blob:
                notes.append(f"model {rel}: kept your file of that name (its content differs), so the slides that use it "
                             "will be recomputed on first view, not read from this pack")
                continue
            if not target.is_file():
                atomic_write_bytes(target, blob)
                notes.append(f"model {rel}: written to {mroot}")
        deck_name = manifest["deck"]
        blob = next(z.read(n) for n in z.namelist() if n.startswith("deck/"))
        folder = decks_dir or decks.user_dir()
        target = folder / f"{deck_name}.json"
        n = 2
        while target.is_file() and target.read_bytes() != blob:
            target = folder / f"{deck_name}-{n}.json"
            n += 1
        if not target.is_file():
            atomic_write_bytes(target, blob)
        notes.append(f"deck: {target} (play it with ?deck={target.stem}&slide=1)")
    return notes


# ---------------------------------------------------------------- export


def export(path: Path, out_dir: Path, fmt: str = "svg", progress=None) -> list[Path]:
    """Every chart of every slide as SVG or PNG (``slide03-chart1.svg``...): Vega-Lite charts as
    Streamlit received them, the linked 2-D views redrawn as scatter plots."""
    import vl_convert as vlc

    from explorer.charts import view_export_chart
    from explorer.io import atomic_write_bytes

    if out_dir.is_dir() and (old := sorted(out_dir.glob(f"slide*-chart*.{fmt}"))):
        raise FileExistsError(f"{out_dir} already holds exported charts ({old[0].name}, ...): export into an empty "
                              "folder, or remove them first")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for i, name in _each_slide(path, progress):
        run = run_slide(name, i)
        specs = _vega_specs(run.app) + [view_export_chart(meta, frame).to_dict() for meta, frame in linked_views(run.app)]
        for j, spec in enumerate(specs, start=1):
            target = out_dir / f"slide{i:02d}-chart{j}.{fmt}"  # none there: checked above, for every such name
            atomic_write_bytes(target, vlc.vegalite_to_svg(spec).encode() if fmt == "svg" else vlc.vegalite_to_png(spec, scale=2))
            written.append(target)
    return written


def _vega_specs(at) -> list[dict]:
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    out = []
    for e in shown(at, "vega_lite_chart"):
        p = e.proto
        spec = json.loads(p.spec)
        datasets = {d.name: convert_arrow_bytes_to_pandas_df(d.data.data).to_dict(orient="records") for d in p.datasets}
        if p.HasField("data") and p.data.data:
            spec["data"] = {"values": convert_arrow_bytes_to_pandas_df(p.data.data).to_dict(orient="records")}
        if datasets:
            spec["datasets"] = {**spec.get("datasets", {}), **datasets}
        out.append(json.loads(json.dumps(spec, default=str)))
    return out


def linked_views(at) -> list[tuple[dict, object]]:
    """The linked 2-D views an AppTest run drew: (meta, frame) per view, in page order."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    out = []
    for e in shown(at, "bidi_component"):
        p = e.proto
        if p.component_name != "latent_explorer.linked_view":
            continue
        data = json.loads(p.mixed.json)
        ref = data["frame"]["__streamlit_arrow_ref__"]
        frame = convert_arrow_bytes_to_pandas_df(p.mixed.arrow_blobs[ref].data)
        out.append((data["meta"], frame))
    return out


def table(runs: list[tuple[SlideRun, SlideRun]]) -> str:
    """The precompute report: one line per slide, cold and warm seconds and what failed."""
    buf = io.StringIO()
    buf.write(f"{'slide':>5}  {'page':16s} {'cold s':>7s} {'warm s':>7s} {'missed':>6s}  title / problem\n")
    for cold, warm in runs:
        text = "; ".join(warm.problems) if warm.problems else cold.title
        buf.write(f"{cold.number:5d}  {cold.page:16s} {cold.seconds:7.2f} {warm.seconds:7.2f} {len(warm.misses):6d}  {text}\n")
    buf.write("warm: the slide in a new session after precompute, memory caches emptied (as on a fresh server); missed:\n"
              "cache lookups of the warm run that found nothing (work the slide does not ask for, e.g. a closed tab's)\n")
    return buf.getvalue()

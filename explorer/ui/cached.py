"""Streamlit caching wrappers around the library: memory (st.cache_*) in front of the disk cache."""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from explorer.cache import CacheWarning, DiskCache
from explorer.checkpoint import Checkpoint, load_checkpoint, read_sidecar
from explorer.data import DATASETS, Probe, load_probe
from explorer.zoo import all_checkpoints, zoo_dirs


@st.cache_resource(show_spinner=False)
def disk_cache() -> DiskCache:
    return DiskCache()


def _zoo_signature() -> tuple:
    """Changes whenever a checkpoint is added, removed or rewritten in a zoo folder."""
    sig = []
    for d in zoo_dirs():
        if d.is_dir():
            sig.extend((str(p), p.stat().st_mtime_ns) for p in d.iterdir() if p.suffix in (".json", ".safetensors"))
    return tuple(sorted(sig))


@st.cache_data(show_spinner=False)
def _zoo(dataset: str | None, signature: tuple) -> tuple[list[tuple[str, dict]], list[tuple[str, str]]]:
    found, problems = all_checkpoints(dataset)
    return [(str(c.sidecar), c.meta) for c in found], [(str(p), m) for p, m in problems]


def zoo(dataset: str | None = None) -> tuple[list[Checkpoint], list[tuple[str, str]]]:
    found, problems = _zoo(dataset, _zoo_signature())
    return [Checkpoint(Path(p), m) for p, m in found], problems


@st.cache_resource(show_spinner=False, max_entries=32)
def _model(sidecar: str, sha256: str, device: str):
    model, ck = load_checkpoint(read_sidecar(sidecar), device)
    return model


_LOADED: set[tuple] = set()  # what this process has loaded once


def loading(tag: tuple, message: str):
    """``st.spinner(message)`` the first time ``tag`` is loaded in this process, nothing after: asked again it
    comes from memory, and a spinner costs a thread and two messages to the browser (the Stitching page
    asks for eight models on every rerun). Used by ``model``, ``probe`` and the sidebar's dataset."""
    if tag in _LOADED:
        return contextlib.nullcontext()
    return _first_load(tag, message)


@contextlib.contextmanager
def _first_load(tag: tuple, message: str):
    with st.spinner(message):
        yield
    _LOADED.add(tag)


def model(ck: Checkpoint, device: str):
    with loading(("model", str(ck.sidecar), ck.sha256, device), f"Loading model {ck.name}…"):
        return _model(str(ck.sidecar), ck.sha256, device)


@st.cache_resource(show_spinner=False, max_entries=8)
def _probe(dataset: str, n: int, split: str = "test") -> Probe:
    return load_probe(dataset, n, split)


def probe(dataset: str, n: int, split: str = "test") -> Probe:
    with loading(("probe", dataset, n, split), f"Loading {n} {split} samples of {dataset}…"):
        return _probe(dataset, n, split)


@st.cache_resource(show_spinner=False, max_entries=8)
def _aligned_states(a: tuple[str, str], b: tuple[str, str], dataset: str, n: int, device: str, _A, _B) -> dict[str, dict]:
    from explorer import analyses
    from explorer.alignment import apply_permutation, perm_spec

    ma, mb = _model(*a, device), _model(*b, device)
    sb, spec, train = mb.state_dict(), perm_spec(ma), _probe(dataset, n, "train")
    return {"naive": sb, **{f"{kind} matching": apply_permutation(sb, spec, analyses.alignment(_A, _B, ma, mb, kind, train, STORE))
                            for kind in ("weight", "activation")}}


def aligned_states(A: Checkpoint, B: Checkpoint, dataset: str, n: int, device: str) -> dict[str, dict]:
    """B's state dict as is ("naive") and permuted onto A by weight and by activation matching (on ``n`` train
    samples), built once per pair and process: the permutations come from the disk cache, but applying them
    (18 index_select calls) took 0.11 s of a slide change in a server sharing two cores with Chromium."""
    return _aligned_states((str(A.sidecar), A.sha256), (str(B.sidecar), B.sha256), dataset, int(n), device, A, B)


@st.cache_data(show_spinner=False, max_entries=32)
def _stitched(enc: tuple[str, str], dec: tuple[str, str], dataset: str, n: int, n_img: int, device: str) -> np.ndarray:
    from explorer.stitching import stitched_outputs

    x = _probe(dataset, n).x[:n_img]
    return stitched_outputs(_model(*enc, device), _model(*dec, device), x).numpy()


def stitched(enc: Checkpoint, dec: Checkpoint, dataset: str, n: int, n_img: int, device: str) -> torch.Tensor:
    """Encoder ``enc`` then decoder ``dec`` on the first ``n_img`` probe samples (``stitching.stitched_outputs``),
    computed once per pair: the Stitching page draws these strips on every rerun."""
    return torch.from_numpy(_stitched((str(enc.sidecar), enc.sha256), (str(dec.sidecar), dec.sha256), dataset, n, int(n_img), device))


def _with_cache_warnings(fn, *args):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CacheWarning)
        out = fn(*args)
    for w in caught:
        if issubclass(w.category, CacheWarning):
            st.toast(f"Cache: {w.message}", icon="⚠️")
    return out


def activations(ck: Checkpoint, dataset: str, n: int, device: str, split: str = "test") -> dict[str, np.ndarray]:
    """``{layer: array}`` with the input first, each layer in its own shape ([N, D] or [N, C, H, W]),
    memory- then disk-cached."""
    from explorer.sources import checkpoint_source

    return source_activations(checkpoint_source(ck), dataset, n, device, split)


def as_tensor(a: np.ndarray, device: str, flat: bool = True) -> torch.Tensor:
    """An activation array as a tensor on ``device``: [N, D] (``flat``), or with its own shape."""
    from explorer.analyses import tensor

    return tensor(a, device, flat)


# Memory layer of ``memo``: a bounded LRU shared by all sessions. Not st.cache_data, because a
# computation may draw a progress bar, which st.cache_data would try to replay on every hit.
# Bounded in entries and in bytes (``EXPLORER_MEMORY_MB``, default 400): what falls out is read back
# from the disk cache in milliseconds, while the server's memory stays flat however many models,
# probes and sessions it has seen (the browser benchmark measures it with two 10,000-point sessions).
_MEMORY: OrderedDict[str, dict] = OrderedDict()
_MEMORY_LOCK = threading.Lock()
_MEMORY_ENTRIES = 256
_MEMORY_SIZES: dict[str, int] = {}


def _memory_budget() -> int:
    import os

    return int(float(os.environ.get("EXPLORER_MEMORY_MB", "400")) * 2**20)


def _nbytes(value) -> int:
    return sum(getattr(v, "nbytes", 0) for v in value.values()) if isinstance(value, dict) else 0


def _memo(key: str, compute) -> dict[str, np.ndarray]:
    with _MEMORY_LOCK:
        if key in _MEMORY:
            _MEMORY.move_to_end(key)
            return _MEMORY[key]
    return _remember(key, disk_cache().memoize_key(key, compute))


def _remember(key: str, value: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``value`` into the memory LRU under ``key`` (the oldest entries out past its bounds)."""
    size = _nbytes(value)
    with _MEMORY_LOCK:
        _MEMORY[key] = value
        _MEMORY_SIZES[key] = size
        budget = _memory_budget()
        used = sum(_MEMORY_SIZES.get(k, 0) for k in _MEMORY)
        while len(_MEMORY) > 1 and (len(_MEMORY) > _MEMORY_ENTRIES or used > budget):
            old, _ = _MEMORY.popitem(last=False)
            used -= _MEMORY_SIZES.pop(old, 0)
    return value


def warm_entries(keys: list[str]) -> int:
    """Disk-cache entries into the memory cache before a page asks for them (a deck's, in slide order),
    while they fit in its budget (the first ones are kept: the next slides), a table's frame decoded too.
    Returns how many were read.
    Not while a ``cache.recording`` runs (``deck precompute``, ``deck pack``): it would hide what a view reads."""
    from explorer.cache import arrays_to_frame, is_recording

    budget, read = _memory_budget(), 0
    for key in keys:
        if is_recording():
            break
        with _MEMORY_LOCK:
            if key in _MEMORY:
                continue
            used = sum(_MEMORY_SIZES.get(k, 0) for k in _MEMORY)
        value = disk_cache().get(key, record=False)
        if value is None:
            continue
        if used + _nbytes(value) > budget or len(_MEMORY) >= _MEMORY_ENTRIES:
            break
        _remember(key, value)
        if "__frame__" in value:  # a page's table: decoded once here, not on the slide (0.1 s for a layer profile)
            arrays_to_frame(value)
        read += 1
    return read


def memo(fn: str, parts: dict, compute) -> dict[str, np.ndarray]:
    """``compute()`` (a dict of arrays) cached in memory and on disk under a key of ``fn`` and ``parts``."""
    from explorer.cache import cache_key

    return _with_cache_warnings(_memo, cache_key(fn, **parts), compute)


@st.cache_data(show_spinner=False, max_entries=8)
def _sprite(dataset: str, n: int, key: str) -> bytes | None:
    from explorer.charts import image_sprite
    from explorer.sources import probe_images

    p = any_probe(dataset, n)
    images = p.x if dataset in DATASETS else probe_images(p)
    return None if images is None else image_sprite(images, key)


@st.cache_data(show_spinner="Loading the word spaces…", max_entries=16)
def word_views(words: tuple[str, ...], n_words: int, n_anchors: int, centred: bool):
    from explorer.words import word_views as compute

    return compute(list(words), n_words, n_anchors, centred, strict=False)


@st.cache_data(show_spinner="Rendering the GIF…", max_entries=8)
def gif(key: str, _coords: dict, _labels, _alphas) -> bytes:
    """The path animation as a GIF, rendered once per ``key`` (a content key of its inputs)."""
    from explorer.charts import animation_gif

    return animation_gif(_coords, _labels, _alphas)


class _Store:
    """What the library's analyses cache through: this module's memory LRU, then the disk cache."""

    def memoize(self, fn: str, parts: dict, compute) -> dict[str, np.ndarray]:
        return memo(fn, parts, compute)

    def peek(self, fn: str, parts: dict) -> dict[str, np.ndarray] | None:
        from explorer.cache import cache_key

        key = cache_key(fn, **parts)
        with _MEMORY_LOCK:
            if key in _MEMORY:
                return _MEMORY[key]
        value = disk_cache().get(key)
        return None if value is None else _remember(key, value)  # read from disk once, then from memory


STORE = _Store()


@st.cache_resource(show_spinner=False, max_entries=8)
def _any_probe(dataset: str, n: int, split: str, signature: tuple):
    from explorer.sources import load_any_probe

    return load_any_probe(dataset, n, split)


def any_probe(dataset: str, n: int, split: str = "test") -> Probe:
    """The probe of any dataset (images, the shared words, an embeddings file's rows)."""
    from explorer.sources import embeddings_files

    if dataset in DATASETS:
        return probe(dataset, n, split)
    path = embeddings_files().get(dataset)
    signature = (str(path), path.stat().st_mtime_ns) if path is not None else ()
    with loading(("any_probe", dataset, n, split, signature), f"Loading {n} samples of {dataset}…"):
        return _any_probe(dataset, n, split, signature)


def source_activations(src, dataset: str, n: int, device: str, split: str = "test") -> dict[str, np.ndarray]:
    """The activations of any source (see ``explorer.sources``) on the probe, through the same memory + disk
    store the analyses use (so a page and its analyses hold one copy)."""
    from explorer.sources import activations as compute

    probe_ = any_probe(dataset, n, split)
    what = f"{n} {split} samples" if dataset in DATASETS else f"{n} samples"
    with st.spinner(f"Computing the activations of {src.name} on {what} of {dataset}…"):
        return compute(src, probe_, device, STORE)


def hover_sprite(dataset: str, n: int) -> tuple[str, bytes] | tuple[None, None]:
    """The probe's inputs as one sprite sheet for hover tooltips (an image dataset's images or an embeddings
    file's ``image`` column), named by the probe's content key; (None, None) for a probe without images."""
    from explorer.cache import cache_key

    key = cache_key("sprite", **any_probe(dataset, n).key)
    data = _sprite(dataset, n, key)
    return (None, None) if data is None else (key, data)

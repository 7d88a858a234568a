"""The analyses the pages show and the CLI prints, each cached under a key it builds itself.

An analysis takes sources (``explorer.sources``), a probe and its parameters; its key is made of the
sources' content keys, the probe (dataset, split, indices), the parameters and a format version, so
the app and the CLI share cache entries and a page never spells a key. ``store`` is anything with
``memoize(fn, parts, compute)`` (``explorer.cache.DiskCache``, or the app's memory + disk store);
None computes without caching.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from explorer.cache import arrays_to_frame, frame_to_arrays
from explorer.data import Probe
from explorer.sources import Source, activations


def _memo(store, fn: str, parts: dict, compute) -> dict[str, np.ndarray]:
    return compute() if store is None else store.memoize(fn, parts, compute)


def _frame(store, fn: str, parts: dict, compute) -> pd.DataFrame:
    return arrays_to_frame(_memo(store, fn, parts, lambda: frame_to_arrays(compute())))


def tensor(a: np.ndarray, device: str, flat: bool = True) -> torch.Tensor:
    """An activation array as a tensor on ``device``: [N, D] (``flat``), or with its own shape."""
    t = torch.from_numpy(np.ascontiguousarray(a)).to(device)
    return t.reshape(len(t), -1) if flat else t


def tensors(acts: dict[str, np.ndarray], device: str, flat: bool = True) -> dict[str, torch.Tensor]:
    return {k: tensor(a, device, flat) for k, a in acts.items()}


def _peek_frame(store, fn: str, parts: dict) -> pd.DataFrame | None:
    value = peek(store, fn, parts)
    return None if value is None else arrays_to_frame(value)


def layer_profile(src: Source, probe: Probe, k: int, device: str = "cpu", store=None) -> pd.DataFrame:
    """TwoNN ID and neighbourhood overlaps of every layer of ``src`` (``explorer.geometry.layer_profile``)."""
    from explorer.geometry import layer_profile as compute

    return _frame(store, "layer_profile-3", {"source": src.key, **probe.key, "k": int(k)},
                  lambda: compute(tensors(activations(src, probe, device, store), device), probe.y, int(k)))


def cross_overlap(a: Source, b: Source, probe: Probe, k: int, device: str = "cpu", store=None) -> pd.DataFrame:
    """Neighbourhood overlap of every layer of ``a`` with every layer of ``b``."""
    from explorer.geometry import cross_overlap as compute
    from explorer.geometry import neighbour_tables

    def run():
        tables = [neighbour_tables(tensors(activations(s, probe, device, store), device), int(k)) for s in (a, b)]
        return compute(*tables)

    return _frame(store, "cross_overlap-2", {"a": a.key, "b": b.key, **probe.key, "k": int(k)}, run)


def decimation(src: Source, layer: str, probe: Probe, device: str = "cpu", store=None) -> pd.DataFrame:
    """TwoNN across scales for one layer (DADApy's ``return_id_scaling_2NN``)."""
    from explorer.intrinsic_dim import twonn_scaling

    def run():
        acts = activations(src, probe, device, store)
        if layer not in acts:
            raise ValueError(f"{src.name} has no layer {layer!r}; it has {', '.join(acts)}")
        return twonn_scaling(tensor(acts[layer], device)).frame()

    return _frame(store, "twonn_scaling-3", {"source": src.key, **probe.key, "layer": layer}, run)


def similarity_matrix(a: Source, b: Source | None, probe: Probe, measure: str, debiased: bool = False, fraction: float = 1.0,
                      device: str = "cpu", store=None, progress=None) -> pd.DataFrame:
    """Every layer of ``a`` against every layer of ``b`` (``a`` itself when None) under ``measure``."""
    from explorer.similarity import GRAM_MEASURES
    from explorer.similarity import similarity_matrix as compute

    parts = {"a": a.key, "b": "itself" if b is None else b.key, **probe.key, "measure": measure, "debiased": bool(debiased),
             "fraction": float(fraction) if measure in GRAM_MEASURES else 1.0}

    def run():
        acts_a = activations(a, probe, device, store)
        acts_b = None if b is None else activations(b, probe, device, store)
        return compute(tensors(acts_a, device, flat=False), None if acts_b is None else tensors(acts_b, device, flat=False),
                       measure, debiased, float(fraction), progress=progress)

    return _frame(store, "similarity_matrix-3", parts, run)


def anchors(probe: Probe, n: int, strategy: str, features: torch.Tensor | None = None, seed: int = 0, store=None) -> torch.Tensor:
    """``n`` anchor samples of the probe, chosen in input space (pixels), or in ``features`` for a probe without
    images (then the key includes them)."""
    from explorer.relative import select_anchors

    X = probe.x.flatten(1) if probe.x is not None else features
    if X is None:
        X = torch.zeros(len(probe), 1)
        if strategy in ("fps", "kmeans"):
            raise ValueError(f"the '{strategy}' anchors need a space to choose in; use random or per_class")
    if strategy == "per_class" and probe.y is None:
        raise ValueError(f"{probe.dataset} has no labels: choose random, fps or kmeans anchors")
    parts = {**probe.key, "n": int(n), "strategy": strategy, "seed": int(seed)}
    if probe.x is None and strategy in ("fps", "kmeans"):
        parts["features"] = features
    idx = _memo(store, "anchors", parts, lambda: {"idx": select_anchors(X, int(n), strategy, probe.y, seed).numpy()})["idx"]
    return torch.as_tensor(np.asarray(idx), dtype=torch.long)


def _view_parts(src: Source, layer: str, probe: Probe, method: str, relative: dict | None) -> dict:
    parts = {"source": src.key, "layer": layer, **probe.key, "method": method, "space": "absolute" if relative is None else "relative"}
    if relative is not None:
        parts.update(relative)
    return parts


def view_2d(Z: torch.Tensor, src: Source, layer: str, probe: Probe, method: str, relative: dict | None = None,
            store=None, poll=None, computed: dict | None = None) -> dict[str, np.ndarray]:
    """A 2-D view (native / PCA / UMAP) of layer ``layer`` of ``src``, absolute or relative (``relative``:
    the anchor parameters, part of the key: an absolute view stays cached when the anchors change).
    ``computed``: the view, computed earlier without a store; it is stored under the view's key."""
    from explorer.projection import METHODS, project_2d

    parts = _view_parts(src, layer, probe, method, relative)

    def compute():
        if computed is not None:
            return computed
        xy, used = project_2d(Z, method, poll=poll)
        return {"xy": xy, "method": np.array([METHODS.index(used)])}

    return _memo(store, "view2d-2", parts, compute)


def cached_view_2d(src: Source, layer: str, probe: Probe, method: str, relative: dict | None, store) -> dict[str, np.ndarray] | None:
    """The 2-D view ``view_2d`` would give, if it is cached; None otherwise (nothing is computed)."""
    return peek(store, "view2d-2", _view_parts(src, layer, probe, method, relative))


def _sweep_parts(a: Source, layer_a: str, b: Source, layer_b: str, probe: Probe, counts, strategy: str, similarity: str,
                 center: bool, k: int) -> dict:
    return {"a": a.key, "b": b.key, "la": layer_a, "lb": layer_b, **probe.key, "counts": list(counts), "strategy": strategy,
            "similarity": similarity, "center": bool(center), "k": int(k)}


def anchor_sweep(a: Source, layer_a: str, b: Source, layer_b: str, probe: Probe, counts: list[int], strategy: str,
                 similarity: str, center: bool, k: int, device: str = "cpu", store=None, features=None, progress=None) -> pd.DataFrame:
    """A -> B agreement against the number of anchors (``explorer.retrieval.anchor_sweep``); ``progress(fraction,
    text)`` after each count (where long work can stop)."""
    from explorer.retrieval import anchor_sweep as compute

    def run():
        acts_a, acts_b = activations(a, probe, device, store), activations(b, probe, device, store)
        ZA, ZB = tensor(acts_a[layer_a], device), tensor(acts_b[layer_b], device)
        X = probe.x.flatten(1) if probe.x is not None else (features if features is not None else ZA)
        return compute(ZA, ZB, X, counts, strategy, probe.y, similarity, center, k, progress=progress)

    return _frame(store, "anchor_sweep-2", _sweep_parts(a, layer_a, b, layer_b, probe, counts, strategy, similarity, center, k), run)


def cached_anchor_sweep(a: Source, layer_a: str, b: Source, layer_b: str, probe: Probe, counts, strategy: str, similarity: str,
                        center: bool, k: int, store) -> pd.DataFrame | None:
    """The sweep ``anchor_sweep`` would give, if it is cached; None otherwise."""
    return _peek_frame(store, "anchor_sweep-2", _sweep_parts(a, layer_a, b, layer_b, probe, counts, strategy, similarity, center, k))


# ------------------------------------------------------------------ analyses of networks (checkpoints of our zoo)
# These need the weights and the architecture, so they take checkpoints (``Source.checkpoint``) and the
# loaded models (the app passes its own loaded copies); the key is made of the checkpoints' content hashes.


def peek(store, fn: str, parts: dict) -> dict[str, np.ndarray] | None:
    """A cached value without computing it (None when absent, or when ``store`` cannot say)."""
    look = getattr(store, "peek", None)
    return None if look is None else look(fn, parts)


def zero_shot(cks: list, models: list, probe: Probe, store=None, progress=None) -> pd.DataFrame:
    """Every encoder with every decoder/head of ``cks`` on the test probe (``explorer.stitching.zero_shot_grid``)."""
    from explorer.stitching import zero_shot_grid

    parts = {"models": [c.sha256 for c in cks], **probe.key}
    return _frame(store, "zero_shot-2", parts, lambda: zero_shot_grid(models, [c.name for c in cks], probe.x, probe.y, progress))


def _penalty_parts(a, b, probe: Probe, train: Probe, anchors, families, rank: int, epochs: int) -> dict:
    return {"a": a.sha256, "b": b.sha256, **probe.key, "train": train.key, "anchors": np.asarray(anchors, dtype=np.int64),
            "families": list(families), "rank": int(rank), "epochs": int(epochs)}


def stitching_penalties(a, b, model_a, model_b, probe: Probe, train: Probe, anchor_x: torch.Tensor, anchors, families,
                        rank: int = 4, epochs: int = 20, store=None, progress=None) -> pd.DataFrame:
    """Trained stitches of every family at every layer and their penalties; the key includes the train probe
    and the anchors (``anchors``: their indices in the train split, ``anchor_x`` the samples)."""
    from explorer.stitching import stitching_penalties as compute

    return _frame(store, "stitching_penalties-3", _penalty_parts(a, b, probe, train, anchors, families, rank, epochs),
                  lambda: compute(model_a, model_b, (train.x, train.y), (probe.x, probe.y), anchor_x, families, rank=int(rank),
                                  epochs=int(epochs), progress=progress))


def cached_stitching_penalties(a, b, probe: Probe, train: Probe, anchors, families, rank: int, epochs: int, store) -> pd.DataFrame | None:
    return _peek_frame(store, "stitching_penalties-3", _penalty_parts(a, b, probe, train, anchors, families, rank, epochs))


def alignment(a, b, model_a, model_b, kind: str, train: Probe, store=None) -> dict[str, torch.Tensor]:
    """Permutations of B's units onto A's: ``weight`` matching (independent of data) or ``activation``
    matching on the train probe."""
    from explorer.alignment import activation_matching, perm_spec, weight_matching

    spec = perm_spec(model_a)
    parts = {"a": a.sha256, "b": b.sha256, "kind": kind, **({"train": train.key} if kind == "activation" else {})}

    def compute():
        P = weight_matching(model_a.state_dict(), model_b.state_dict(), spec) if kind == "weight" else \
            activation_matching(model_a, model_b, train.x, spec)
        return {p: v.numpy() for p, v in P.items()}

    return {p: torch.from_numpy(np.asarray(v)) for p, v in _memo(store, "alignment-2", parts, compute).items()}


def path_curve(a, b, model, sa: dict, sb: dict, path: str, probe: Probe, train: Probe, alphas, store=None, progress=None) -> pd.DataFrame:
    """Loss and accuracy on the train and test probes along theta(alpha) from ``sa`` to ``sb`` (``path`` names
    how ``sb`` was aligned, part of the key)."""
    from explorer.interpolation import path_curve as compute

    parts = {"a": a.sha256, "b": b.sha256, "path": path, **probe.key, "train": train.key, "alphas": np.asarray(alphas)}
    splits = {"train": (train.x, train.y), "test": (probe.x, probe.y)}
    return _frame(store, "path_curve-2", parts, lambda: compute(model, sa, sb, splits, alphas, progress))


def path_frames(a, b, model, sa: dict, sb: dict, path: str, layer: str, probe: Probe, alphas, store=None) -> np.ndarray:
    """[T, N, 2]: the probe in ``layer`` at every alpha of the path, on the axes of alpha = 0."""
    from explorer.interpolation import frames_2d, path_latents

    parts = {"a": a.sha256, "b": b.sha256, "path": path, "layer": layer, **probe.key, "alphas": np.asarray(alphas)}
    return _memo(store, "path_frames-2", parts, lambda: {"xy": frames_2d(path_latents(model, sa, sb, probe.x, layer, alphas))})["xy"]


# ------------------------------------------------------------------ the paper's word table (GloVe vs MiniLM)


def _word_parts(n_words: int, anchors: int, seeds: int, k: int, skip_top: int) -> dict:
    return {"v": 2, "words": int(n_words), "anchors": int(anchors), "seeds": int(seeds), "k": int(k), "skip_top": int(skip_top), "ddof": 1}


def word_table(n_words: int = 20000, anchors: int = 300, seeds: int = 10, k: int = 5, skip_top: int = 400, device: str = "cpu",
               store=None, progress=None) -> pd.DataFrame:
    """Moschella et al.'s Table 1 on GloVe vs MiniLM (``explorer.words.word_table``), cached."""
    from explorer.words import word_table as compute

    return _frame(store, "word_table", _word_parts(n_words, anchors, seeds, k, skip_top),
                  lambda: compute(int(n_words), int(anchors), int(seeds), int(k), device=device, progress=progress, skip_top=int(skip_top)))


def cached_word_table(n_words: int, anchors: int, seeds: int, k: int, skip_top: int, store) -> pd.DataFrame | None:
    return _peek_frame(store, "word_table", _word_parts(n_words, anchors, seeds, k, skip_top))


def agreement(a: Source, layer_a: str, b: Source, layer_b: str, probe: Probe, anchor_idx: torch.Tensor, similarity: str,
              center: bool, k: int, device: str = "cpu", store=None) -> pd.DataFrame:
    """Jaccard@k, MRR and cosine between A's and B's layers, absolute and relative (``explorer.retrieval.agreement``);
    ``attrs["padded_columns"]``: the zero columns the narrower absolute space got."""
    from explorer.retrieval import agreement as compute

    acts_a, acts_b = activations(a, probe, device, store), activations(b, probe, device, store)
    ZA, ZB = tensor(acts_a[layer_a], device), tensor(acts_b[layer_b], device)
    parts = {"a": a.key, "b": b.key, "la": layer_a, "lb": layer_b, **probe.key, "anchors": anchor_idx.numpy(),
             "similarity": similarity, "center": bool(center), "k": int(k)}
    table = _frame(store, "agreement", parts, lambda: compute(ZA, ZB, anchor_idx, similarity, center, k))
    table.attrs["padded_columns"] = abs(ZA.shape[1] - ZB.shape[1])
    return table


def invariance(src: Source, layer: str, probe: Probe, anchor_idx: torch.Tensor, similarity: str, device: str = "cpu",
               store=None) -> dict[str, float]:
    """``explorer.relative.invariance_check`` of one layer: how much each representation moves under a random
    rotation, rescaling and translation of the latent space."""
    from explorer.relative import invariance_check

    Z = tensor(activations(src, probe, device, store)[layer], device)
    parts = {"source": src.key, "layer": layer, **probe.key, "anchors": anchor_idx.numpy(), "similarity": similarity}
    value = _memo(store, "invariance", parts, lambda: {k: np.array([v]) for k, v in invariance_check(Z, anchor_idx, similarity).items()})
    return {k: float(np.asarray(v).ravel()[0]) for k, v in value.items()}

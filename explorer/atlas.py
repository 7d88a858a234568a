"""Zoo atlas: many networks compared at once, at one depth, under one similarity measure.

Every network of a set is reduced to one layer (``DEPTHS``: its bottleneck, the layer before its
output, ...) on one probe. Each layer is prepared once (``similarity.prepare``, netrep's
``partial_fit``) and every pair is finished cheaply (``similarity.compare``). Each pair is its own
cache entry, keyed by the two sources' content keys and layers, the probe and the measure, so a
network added to the set costs only its new pairs, and a sweep run elsewhere (the CLI, a Ray
cluster: ``explorer.ray_sweep``) fills the entries the app then reads.

The matrix becomes a distance, ``arccos(similarity)``: every measure offered is a cosine (CKA is
the cosine between centred Gram matrices, Procrustes shape the nuclear norm of unit-norm data), so
the angle is a metric (Williams et al. 2021 use it for their shape metrics). The networks are
ordered by average-linkage clustering (scipy, optimal leaf order) and placed in 2-D by classical
MDS (scikit-learn's ``ClassicalMDS``), with Kruskal's stress-1 saying how faithful the picture is.
"""

from __future__ import annotations

import fnmatch
import functools
import json
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import torch

from explorer.similarity import CHANNEL_MEASURES, GRAM_MEASURES, MEASURES, UNBIASED_ONLY, check_gram_memory, check_measure
from explorer.sources import Source, activations

PAIR_FN = "atlas_pair-1"
MATRIX_FN = "atlas_matrix-1"
MIN_NETWORKS = 3


@dataclass(frozen=True)
class Depth:
    name: str
    label: str
    description: str
    pick: Callable[[list[str], str], str]  # (layers in depth order, input left out; the network's bottleneck) -> layer


DEPTHS: dict[str, Depth] = {
    d.name: d
    for d in (
        Depth("penultimate", "Penultimate layer", "the layer before the output: a classifier's last hidden layer",
              lambda layers, bottleneck: layers[-2] if len(layers) > 1 else layers[-1]),
        Depth("bottleneck", "Bottleneck", "each network's own representation: an autoencoder's latent, a classifier's "
              "last hidden layer, a relative network's relative layer", lambda layers, bottleneck: bottleneck),
        Depth("middle", "Middle layer", "the layer halfway through the network (the same relative depth)",
              lambda layers, bottleneck: layers[(len(layers) - 1) // 2]),
        Depth("output", "Output", "logits, or an autoencoder's last layer", lambda layers, bottleneck: layers[-1]),
    )
}


ZERO_SHOT = "zero_shot"


@dataclass(frozen=True)
class AtlasMeasure:
    """A measure of pairs of networks the atlas offers: ``distance`` turns its values into the map's distances."""

    name: str
    label: str
    description: str
    distance: Callable[[np.ndarray], np.ndarray]


def _angle(S: np.ndarray) -> np.ndarray:
    return np.arccos(np.clip(S, 0.0, 1.0))


# Every measure of the Similarity page (a cosine: the angle is a metric), and zero-shot stitching
# (Moschella et al. 2023, Table 5's setting): A's encoder into B's relative decoder or head, and B's into A's.
MEASURES_ATLAS: dict[str, AtlasMeasure] = {
    **{k: AtlasMeasure(k, label, what, _angle) for k, (label, what) in MEASURES.items()},
    ZERO_SHOT: AtlasMeasure(
        ZERO_SHOT, "Zero-shot stitching score",
        "relative networks with the same anchors only: the stitched test accuracy in both directions (A's encoder, B's "
        "head, and B's into A's) over the two networks' own; for autoencoders their own MSE over the stitched MSE. "
        "1 = stitching costs nothing. Its distance is 1 - score (ours; not a metric)",
        lambda S: 1.0 - np.clip(S, 0.0, 1.0)),
}


class AtlasError(ValueError):
    """A set of networks or settings an atlas cannot be made of; the message says why."""


@dataclass(frozen=True)
class Settings:
    """What every pair of an atlas is computed with."""

    measure: str = "cka_linear"
    depth: str = "penultimate"
    debiased: bool = False
    fraction: float = 1.0

    def checked(self) -> Settings:
        if self.measure not in MEASURES_ATLAS:
            raise AtlasError(f"unknown measure {self.measure!r}; known: {', '.join(MEASURES_ATLAS)}")
        if self.depth not in DEPTHS:
            raise AtlasError(f"unknown depth {self.depth!r}; known: {', '.join(DEPTHS)}")
        if self.measure == ZERO_SHOT:  # through the relative space, whatever the depth asked
            return Settings(ZERO_SHOT, "bottleneck", False, 1.0)
        debiased = bool(self.debiased) or self.measure in UNBIASED_ONLY
        check_measure(self.measure, debiased, float(self.fraction))
        return Settings(self.measure, self.depth, debiased, float(self.fraction) if self.measure in GRAM_MEASURES else 1.0)

    @property
    def label(self) -> str:
        return MEASURES_ATLAS[self.measure].label + (", debiased" if self.debiased and self.measure not in UNBIASED_ONLY else "")


@dataclass(frozen=True)
class Member:
    """One network of an atlas: a source and the layer that stands for it."""

    source: Source
    layer: str

    @property
    def name(self) -> str:
        return self.source.name


def layers_of(src: Source, probe=None, device: str = "cpu", store=None) -> tuple[list[str], str]:
    """A source's layers in depth order (the input left out) and its bottleneck. A network of the zoo
    needs no weights (``sources.network_layers``); other sources are read from their activations."""
    from explorer.sources import default_layer, network_layers

    if src.checkpoint is not None:
        return network_layers(src.checkpoint)
    names = list(activations(src, probe, device, store))
    return [n for n in names if n != "input"] or names, default_layer(src, names)


def members(sources: list[Source], depth: str, probe=None, device: str = "cpu", store=None) -> list[Member]:
    """The sources as atlas members, each at ``depth``; the checks every atlas and sweep makes."""
    if depth not in DEPTHS:
        raise AtlasError(f"unknown depth {depth!r}; known: {', '.join(DEPTHS)}")
    if len(sources) < MIN_NETWORKS:
        raise AtlasError(f"an atlas needs at least {MIN_NETWORKS} networks; {len(sources)} "
                         f"{'was' if len(sources) == 1 else 'were'} given ({', '.join(s.name for s in sources) or 'none'})")
    datasets = sorted({s.dataset for s in sources})
    if len(datasets) > 1:
        by = {d: [s.name for s in sources if s.dataset == d] for d in datasets}
        raise AtlasError("networks of different datasets cannot share a probe: "
                         + "; ".join(f"{d}: {', '.join(n[:3])}{' ...' if len(n) > 3 else ''}" for d, n in by.items()))
    names = [s.name for s in sources]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise AtlasError(f"a network is named twice: {', '.join(dup)}")
    out = []
    for s in sources:
        layers, bottleneck = layers_of(s, probe, device, store)
        out.append(Member(s, DEPTHS[depth].pick(layers, bottleneck)))
    return out


def select(sources: list[Source], patterns: list[str]) -> list[Source]:
    """The sources whose names match any of the shell-style ``patterns`` ('mnist-*'), in their order."""
    picked = [s for s in sources if any(fnmatch.fnmatchcase(s.name, p) for p in patterns)]
    if not picked:
        raise AtlasError(f"no network matches {' '.join(patterns)}; there are: {', '.join(s.name for s in sources) or 'none'}")
    return picked


def pair_parts(a: Member, b: Member, probe, settings: Settings) -> dict:
    """The cache key parts of one pair; the same for (a, b) and (b, a): every measure here is symmetric."""
    (ka, la), (kb, lb) = sorted([(a.source.key, a.layer), (b.source.key, b.layer)])
    return {"a": ka, "layer_a": la, "b": kb, "layer_b": lb, **probe.key, "measure": settings.measure,
            "debiased": settings.debiased, "fraction": settings.fraction}


def _value(entry: dict) -> tuple[float, str]:
    note = bytes(entry["note"]).decode() if "note" in entry else ""
    return float(entry["value"][0]), note


def prepared(m: Member, probe, settings: Settings, device: str = "cpu", store=None):
    """One member's layer prepared for the measure (its activations come through the cache)."""
    from explorer.analyses import tensor
    from explorer.similarity import prepare

    acts = activations(m.source, probe, device, store)
    if m.layer not in acts:
        raise AtlasError(f"{m.name} has no layer {m.layer!r}; it has {', '.join(acts)}")
    X = tensor(acts[m.layer], device, flat=settings.measure not in CHANNEL_MEASURES)
    return prepare(X, settings.measure, settings.debiased, settings.fraction, f"{m.name}, layer {m.layer}")


def compute_pairs(ms: list[Member], pairs: list[tuple[int, int]], probe, settings: Settings, device: str = "cpu",
                  store=None, progress=None) -> dict[tuple[int, int], tuple[float, str]]:
    """``pairs`` of ``ms``, each stored as it is finished; each member needed is prepared once.

    A member the measure cannot use (a constant layer) gives NaN and the reason for its pairs.
    ``progress(fraction, text)`` after every step: a point where the app can cancel (nothing of a
    pair is stored before it is finished).
    """
    from explorer.similarity import compare

    if settings.measure == ZERO_SHOT:
        return _zero_shot_pairs(ms, pairs, probe, settings, device, store, progress)
    if settings.measure in GRAM_MEASURES:
        check_gram_memory(len(probe), len({i for p in pairs for i in p}))
    return _each_pair(ms, pairs, probe, settings, store, progress, "prepared",
                      lambda i: prepared(ms[i], probe, settings, device, store),
                      lambda a, b, i, j: compare(a, b, settings.measure, settings.debiased))


def _each_pair(ms, pairs, probe, settings: Settings, store, progress, what: str, prepare_one, finish) -> dict:
    """The loop every measure shares: ``prepare_one(i)`` for each member needed (a ValueError: that member's
    pairs are left blank with its message), then ``finish(a, b, i, j)`` for each pair, stored as it is done."""
    needed = sorted({i for p in pairs for i in p})
    steps, done = len(needed) + len(pairs), 0
    ready: dict[int, object] = {}

    def tick(text: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done / max(steps, 1), text)

    for i in needed:
        try:
            ready[i] = prepare_one(i)
        except ValueError as exc:  # AtlasError too
            ready[i] = str(exc)
        tick(f"{what} {ms[i].name}")
    out = {}
    for i, j in pairs:
        a, b = ready[i], ready[j]
        note, value = "", float("nan")
        if isinstance(a, str) or isinstance(b, str):
            note = a if isinstance(a, str) else b
        else:
            try:
                value = finish(a, b, i, j)
            except ValueError as exc:
                note = str(exc)
        _store_pair(store, ms[i], ms[j], probe, settings, value, note)
        out[(i, j)] = (value, note)
        tick(f"{ms[i].name} vs {ms[j].name}")
    return out


def _store_pair(store, a: Member, b: Member, probe, settings: Settings, value: float, note: str) -> None:
    entry = {"value": np.array([value])}
    if note:
        entry["note"] = np.frombuffer(note.encode(), dtype=np.uint8)
    if store is not None:
        store.memoize(PAIR_FN, pair_parts(a, b, probe, settings), lambda: entry)


@torch.no_grad()
def _relative(model, x: torch.Tensor, batch: int = 2048) -> torch.Tensor:
    dev = next(model.parameters()).device
    return torch.cat([model.embed(x[i: i + batch].to(dev)) for i in range(0, len(x), batch)])


@torch.no_grad()
def _score(model, r: torch.Tensor, x: torch.Tensor, y, batch: int = 2048) -> float:
    """``model``'s decoder or head on relative representations ``r``: its test MSE or accuracy."""
    from explorer.train import metrics_from_outputs

    dev = next(model.parameters()).device
    out = torch.cat([model.readout(r[i: i + batch].to(dev)).cpu() for i in range(0, len(r), batch)])
    return metrics_from_outputs(model.kind, out, x, y)["mse" if model.kind == "ae" else "accuracy"]


def _ratio(kind: str, own: float, stitched: float) -> float:
    if kind == "ae":  # MSE: lower is better
        return min(own / stitched, 1.0) if stitched > 0 else 1.0
    return min(stitched / own, 1.0) if own > 0 else 0.0


def _zero_shot_pairs(ms, pairs, probe, settings, device, store, progress):
    """The zero-shot stitching score of each pair: each network loaded, embedded and scored on its own once;
    classifiers (acc(A -> B) + acc(B -> A)) / (acc(A) + acc(B)), autoencoders the inverse ratio of the MSEs."""
    from explorer.checkpoint import load_checkpoint
    from explorer.stitching import check_zero_shot

    if probe.x is None:
        raise AtlasError("zero-shot stitching runs the networks on images: this dataset has none")

    def embed(i):
        ck = ms[i].source.checkpoint
        if ck is None:
            raise AtlasError(f"{ms[i].name} is not a network of the zoo: zero-shot stitching needs its encoder and decoder")
        try:
            model = load_checkpoint(ck, device)[0]
        except Exception as exc:  # CheckpointError and what loading raises: that network's pairs say why
            raise AtlasError(f"{ms[i].name} cannot be used: {exc}") from None
        if not model.is_relative:
            raise AtlasError(f"{ms[i].name} is absolute: zero-shot stitching joins relative networks")
        r = _relative(model, probe.x)
        return model, r, _score(model, r, probe.x, probe.y)

    def stitch(a, b, i, j):
        check_zero_shot([a[0], b[0]], [ms[i].name, ms[j].name])
        stitched = _score(b[0], a[1], probe.x, probe.y) + _score(a[0], b[1], probe.x, probe.y)
        return _ratio(a[0].kind, a[2] + b[2], stitched)

    return _each_pair(ms, pairs, probe, settings, store, progress, "embedded", embed, stitch)


def look_up(ms: list[Member], probe, settings: Settings, store) -> tuple[dict[tuple[int, int], tuple[float, str]], list[tuple[int, int]]]:
    """The pairs already in ``store`` and the ones missing (i < j)."""
    found, missing = {}, []
    look = getattr(store, "peek", None)
    for i in range(len(ms)):
        for j in range(i + 1, len(ms)):
            entry = look(PAIR_FN, pair_parts(ms[i], ms[j], probe, settings)) if look is not None else None
            if entry is None:
                missing.append((i, j))
            else:
                found[(i, j)] = _value(entry)
    return found, missing


@dataclass
class Atlas:
    """The similarity of every pair of networks, and what the page and the CLI draw of it."""

    members: list[Member]
    settings: Settings
    similarity: np.ndarray  # M x M, 1 on the diagonal, NaN where undefined
    notes: dict[tuple[int, int], str] = field(default_factory=dict)
    computed: int = 0  # pairs computed by the call that made it (the rest came from the cache)

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.members]

    @functools.cached_property
    def distance(self) -> np.ndarray:
        """The measure's distance: arccos of a similarity (the angle between the two networks' normalised
        representations), 1 - score for zero-shot stitching."""
        return MEASURES_ATLAS[self.settings.measure].distance(self.similarity)

    @property
    def complete(self) -> bool:
        return bool(np.isfinite(self.similarity).all())

    def order(self) -> list[int]:
        """Members in the leaf order of an average-linkage clustering (similar networks side by side)."""
        from scipy.cluster.hierarchy import leaves_list, linkage
        from scipy.spatial.distance import squareform

        if not self.complete or len(self.members) < 3:
            return list(range(len(self.members)))
        D = _symmetric(self.distance)
        return [int(i) for i in leaves_list(linkage(squareform(D, checks=False), "average", optimal_ordering=True))]

    def embedding(self) -> tuple[np.ndarray, float]:
        """Classical MDS of the distances in 2-D, and its Kruskal stress-1 (0 = every distance kept)."""
        return classical_mds(self.distance)

    def frame(self) -> pd.DataFrame:
        """One row per pair (both orders and the diagonal), for the heatmap and the CSV."""
        m = len(self.members)
        i, j = np.divmod(np.arange(m * m), m)
        names, layers = np.array(self.names, dtype=object), np.array([x.layer for x in self.members], dtype=object)
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        notes = [self.notes.get((a, b), "") for a, b in zip(lo.tolist(), hi.tolist())] if self.notes else [""] * (m * m)
        return pd.DataFrame({"network A": names[i], "layer A": layers[i], "network B": names[j], "layer B": layers[j],
                             "similarity": self.similarity.reshape(-1), "distance": self.distance.reshape(-1), "note": notes})


def _symmetric(D) -> np.ndarray:
    """A distance matrix made exactly symmetric with a zero diagonal (a new float64 array)."""
    D = np.asarray(D, dtype=np.float64)
    D = (D + D.T) / 2
    np.fill_diagonal(D, 0.0)
    return D


def classical_mds(D: np.ndarray, k: int = 2) -> tuple[np.ndarray, float]:
    """``k``-D classical (Torgerson) MDS of a distance matrix, and Kruskal's stress-1 of the result."""
    from sklearn.manifold import ClassicalMDS

    D = _symmetric(D)
    Y = ClassicalMDS(n_components=k, metric="precomputed").fit_transform(D)
    E = np.sqrt(((Y[:, None, :] - Y[None, :, :]) ** 2).sum(-1))
    iu = np.triu_indices(len(D), 1)
    total = float((D[iu] ** 2).sum())
    stress = float(np.sqrt(((D[iu] - E[iu]) ** 2).sum() / total)) if total > 0 else 0.0
    return Y, stress


def assemble(ms: list[Member], settings: Settings, values: dict[tuple[int, int], tuple[float, str]], computed: int = 0) -> Atlas:
    S = np.eye(len(ms))
    notes = {}
    for (i, j), (v, note) in values.items():
        S[i, j] = S[j, i] = v
        if note:
            notes[(i, j)] = note
    return Atlas(ms, settings, S, notes, computed)


def atlas(sources: list[Source], probe, settings: Settings, device: str = "cpu", store=None, progress=None,
          matrix_store=None) -> Atlas:
    """Every pair of ``sources`` at ``settings.depth``: the cached pairs read, the missing ones computed
    (each network they need prepared once) and stored.

    The whole matrix is also kept as one entry in ``matrix_store`` (default ``store``; the app gives
    its memory store), so that showing the same atlas again reads one entry, not one per pair."""
    settings = settings.checked()
    ms = members(sources, settings.depth, probe, device, store)
    matrix_store = store if matrix_store is None else matrix_store
    parts = {"members": [[m.source.key, m.layer] for m in ms], **probe.key, "measure": settings.measure,
             "debiased": settings.debiased, "fraction": settings.fraction}
    look = getattr(matrix_store, "peek", None)
    whole = look(MATRIX_FN, parts) if look is not None else None
    if whole is not None:
        notes = {tuple(map(int, k.split(","))): v for k, v in json.loads(bytes(whole["notes"]).decode()).items()}
        return Atlas(ms, settings, np.asarray(whole["similarity"], dtype=np.float64), notes, 0)
    found, missing = look_up(ms, probe, settings, store)
    if missing:
        found.update(compute_pairs(ms, missing, probe, settings, device, store, progress))
    result = assemble(ms, settings, found, len(missing))
    if matrix_store is not None:
        notes = json.dumps({f"{i},{j}": v for (i, j), v in result.notes.items()}).encode()
        matrix_store.memoize(MATRIX_FN, parts, lambda: {"similarity": result.similarity,
                                                        "notes": np.frombuffer(notes, dtype=np.uint8)})
    return result


def separation(D: np.ndarray, labels: list) -> float | None:
    """How well ``labels`` split the networks: the silhouette score on the distances (1 = tight,
    separate groups; about 0 = no grouping). None with fewer than 2 groups or a group per network."""
    from sklearn.metrics import silhouette_score

    groups = len(set(labels))
    if groups < 2 or groups >= len(labels) or not np.isfinite(D).all():
        return None
    return float(silhouette_score(_symmetric(D), labels, metric="precomputed"))


def network_frame(sources: list[Source]) -> pd.DataFrame:
    """One row per network: what the page filters by, and what a point is coloured by and says on hover."""
    from explorer.models import arch_info

    rows = []
    for src in sources:
        ck = src.checkpoint
        hp = ck.meta.get("hparams", {}) if ck is not None else {}
        test = ck.meta.get("metrics", {}).get("test", {}) if ck is not None else {}
        arch = ck.arch if ck is not None else src.kind
        widths = [hp[k] for k in ("hidden", "channels", "fc", "latent") if k in hp]
        rows.append({
            "network": src.name, "architecture": arch,
            "kind": {"clf": "classifier", "ae": "autoencoder"}[arch_info(ck.arch).kind] if ck is not None else src.kind,
            "shape": f"{arch} " + " / ".join("-".join(map(str, w)) if isinstance(w, list) else str(w) for w in widths),
            "seed": str(ck.seed) if ck is not None else "",
            "representation": ("relative" if arch_info(ck.arch).relative else "absolute") if ck is not None else "absolute",
            "test accuracy": test.get("accuracy"), "test MSE": test.get("mse"),
        })
    return pd.DataFrame(rows, columns=["network", "architecture", "kind", "shape", "seed", "representation",
                                       "test accuracy", "test MSE"])


def member_frame(ms: list[Member]) -> pd.DataFrame:
    """``network_frame`` of the members, with the layer that stands for each."""
    df = network_frame([m.source for m in ms])
    df.insert(1, "layer", [m.layer for m in ms])
    return df

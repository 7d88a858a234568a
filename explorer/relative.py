"""Relative representations (Moschella et al., ICLR 2023).

A sample ``x`` is replaced by its similarities to a set of anchor samples embedded by the same
encoder: ``r(x) = [sim(e(x), e(a_1)), ..., sim(e(x), e(a_A))]``. With cosine similarity this is
invariant to any rotation/reflection and isotropic rescaling of the latent space (and, with
centring on the anchor mean, to translations too): exactly what separates two trainings.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

SIMILARITIES = ("cosine", "euclidean", "l1", "angular")
ANCHOR_STRATEGIES = ("random", "per_class", "fps", "kmeans")


def _check_finite(x: torch.Tensor, what: str) -> None:
    if torch.isfinite(x.sum()):  # fast path: a NaN or inf anywhere makes the sum non-finite
        return
    if not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x)).any(dim=-1).sum()) if x.dim() > 1 else int((~torch.isfinite(x)).sum())
        raise ValueError(f"{what} contains NaN or infinite values ({bad} rows); the model or layer is not usable here")


def relative_projection(
    x: torch.Tensor,
    anchors: torch.Tensor,
    similarity: str = "cosine",
    center: bool = False,
    batch_size: int = 262144,
    check: bool = True,
) -> torch.Tensor:
    """Similarities of each row of ``x`` [N, D] to each anchor [A, D]: a Tensor [N, A].

    ``cosine``: cosine similarity; ``euclidean``: negative Euclidean distance; ``l1``: negative
    L1 distance; ``angular``: 1 - angle/pi of the cosine. ``center`` subtracts the anchor mean from
    both first. Batched over rows, runs on the device of ``x``, differentiable. ``check`` refuses
    NaN or infinite inputs with a clear message (models skip it in their forward pass).
    """
    if similarity not in SIMILARITIES:
        raise ValueError(f"unknown similarity {similarity!r}; choose one of {', '.join(SIMILARITIES)}")
    if x.dim() != 2 or anchors.dim() != 2 or x.shape[1] != anchors.shape[1]:
        raise ValueError(f"x {tuple(x.shape)} and anchors {tuple(anchors.shape)} must be [N, D] and [A, D]")
    if anchors.shape[0] < 1:
        raise ValueError("at least one anchor is needed")
    if check:
        _check_finite(x, "the representation")
        _check_finite(anchors, "the anchors")
    anchors = anchors.to(device=x.device, dtype=x.dtype)
    if center:
        mu = anchors.mean(dim=0, keepdim=True)
        anchors = anchors - mu
    a_unit = F.normalize(anchors, dim=1) if similarity in ("cosine", "angular") else None
    out = []
    for start in range(0, max(len(x), 1), batch_size):
        xb = x[start : start + batch_size]
        if center:
            xb = xb - mu
        if similarity in ("cosine", "angular"):
            s = F.normalize(xb, dim=1) @ a_unit.T
            if similarity == "angular":
                s = 1.0 - torch.arccos(s.clamp(-1 + 1e-7, 1 - 1e-7)) / math.pi
        elif similarity == "euclidean":
            s = -torch.cdist(xb, anchors)
        else:
            s = -torch.cdist(xb, anchors, p=1)
        out.append(s)
    return torch.cat(out) if len(out) > 1 else out[0]


def select_anchors(X, n: int, strategy: str = "random", labels=None, seed: int = 0) -> torch.Tensor:
    """Indices (LongTensor [n], distinct) of ``n`` anchor rows of ``X`` [N, D].

    ``random``: uniform without replacement. ``per_class``: as balanced over ``labels`` as ``n``
    allows. ``fps``: farthest point sampling in the space of ``X`` (seeded start). ``kmeans``:
    scikit-learn k-means with ``n`` clusters, then the real sample nearest each centroid (distinct).
    """
    X = torch.as_tensor(X)
    N = X.shape[0]
    if strategy not in ANCHOR_STRATEGIES:
        raise ValueError(f"unknown anchor strategy {strategy!r}; choose one of {', '.join(ANCHOR_STRATEGIES)}")
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"the number of anchors must be at least 1, got {n!r}")
    if n > N:
        raise ValueError(f"{n} anchors requested but only {N} samples are available; pick at most {N}")
    rng = np.random.default_rng(seed)
    if strategy == "random":
        idx = rng.choice(N, size=n, replace=False)
    elif strategy == "per_class":
        if labels is None:
            raise ValueError("the 'per_class' anchor strategy needs labels")
        idx = _per_class(np.asarray(torch.as_tensor(labels).cpu()), n, rng)
    elif strategy == "fps":
        idx = _farthest_points(X.reshape(N, -1).float(), n, int(rng.integers(N)))
    else:
        idx = _kmeans_medoids(X.reshape(N, -1).float().cpu().numpy(), n, seed)
    return torch.as_tensor(np.asarray(idx), dtype=torch.long)


def _per_class(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    classes = np.unique(labels)
    pools = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    # Round-robin over classes in a random order: counts differ by at most one where classes allow.
    taken = [0] * len(classes)
    out: list[int] = []
    order = rng.permutation(len(classes))
    while len(out) < n:
        progressed = False
        for c in order:
            if len(out) == n:
                break
            if taken[c] < len(pools[c]):
                out.append(int(pools[c][taken[c]]))
                taken[c] += 1
                progressed = True
        if not progressed:
            break
    return np.array(out, dtype=np.int64)


def _farthest_points(X: torch.Tensor, n: int, start: int) -> np.ndarray:
    chosen = [start]
    dist = torch.cdist(X, X[start : start + 1]).squeeze(1)
    for _ in range(n - 1):
        nxt = int(torch.argmax(dist))
        if dist[nxt] <= 0:  # only duplicates left: fall back to any unchosen index
            rest = np.setdiff1d(np.arange(len(X)), chosen)
            chosen.extend(rest[: n - len(chosen)].tolist())
            break
        chosen.append(nxt)
        dist = torch.minimum(dist, torch.cdist(X, X[nxt : nxt + 1]).squeeze(1))
    return np.array(chosen, dtype=np.int64)


def _kmeans_medoids(X: np.ndarray, n: int, seed: int) -> np.ndarray:
    from scipy.optimize import linear_sum_assignment
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=n, n_init=1, random_state=seed).fit(X)
    d = torch.cdist(torch.from_numpy(X), torch.from_numpy(km.cluster_centers_.astype(np.float32))).numpy() ** 2
    rows, cols = linear_sum_assignment(d)  # one distinct real sample per centroid, nearest overall
    return rows[np.argsort(cols)].astype(np.int64)


def random_orthogonal(d: int, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    """A Haar-random orthogonal matrix [d, d] (QR of a Gaussian, signs fixed)."""
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r))).to(dtype)


def invariance_check(Z: torch.Tensor, anchor_idx, similarity: str = "cosine", scale: float = 3.7, seed: int = 0) -> dict:
    """Move a latent space by a random rotation, an isotropic rescaling and a translation.

    Returns the largest absolute change of the absolute coordinates and of the relative
    representation (centred on the anchor mean, so translations cancel too), plus the change of
    the relative representation without centring under rotation and rescaling alone.
    """
    Z = torch.as_tensor(Z).double()
    idx = torch.as_tensor(anchor_idx, device=Z.device)
    Q = random_orthogonal(Z.shape[1], seed, torch.float64).to(Z.device)
    t = torch.randn(1, Z.shape[1], generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64).to(Z.device)
    moved = scale * Z @ Q + t
    rotated = scale * Z @ Q
    rel = relative_projection(Z, Z[idx], similarity, center=True)
    rel_moved = relative_projection(moved, moved[idx], similarity, center=True)
    plain = relative_projection(Z, Z[idx], similarity)
    plain_rot = relative_projection(rotated, rotated[idx], similarity)
    return {
        "absolute": float((moved - Z).abs().max()),
        "relative (centred)": float((rel_moved - rel).abs().max()),
        "relative (no centring, rotation + scale only)": float((plain_rot - plain).abs().max()),
    }

"""Exact nearest neighbours and neighbourhood overlaps (Doimo et al., NeurIPS 2020).

``knn`` computes exact k nearest neighbours by the blocked top-k of ``explorer.knn_core`` on the device of
the data (self excluded). ``overlap`` measures how much two representations of the same samples
agree on each sample's neighbourhood; ``label_overlap`` how much a neighbourhood agrees with the
labels.
"""

from __future__ import annotations

import numpy as np
import torch


def check_points(X, k: int | None = None, what: str = "data") -> torch.Tensor:
    """Validate [N, D] data for neighbourhood analyses; returns it as a 2-D tensor."""
    X = torch.as_tensor(X)
    if X.dim() != 2:
        X = X.reshape(len(X), -1)
    if not torch.isfinite(X).all():
        raise ValueError(f"{what} contains NaN or infinite values; neighbourhoods are undefined")
    n = X.shape[0]
    if n < 3 or (len(torch.unique(X[:1000], dim=0)) < 3 and len(torch.unique(X, dim=0)) < 3):
        raise ValueError(f"{what} needs at least 3 distinct points (got {n} rows)")
    if k is not None and not 1 <= k < n:
        raise ValueError(f"k must be between 1 and N - 1 = {n - 1} (got k={k} for N={n})")
    return X


def _reduce_rank(X: torch.Tensor) -> torch.Tensor:
    """Centred X (float64) in the basis of its principal directions, dropping directions of zero variance.

    Euclidean distances do not change under an orthogonal change of basis, and directions without
    variance add nothing to them, so neighbours are the same; the products get cheaper when the
    data has rank r < D (dead units, low-dimensional layers). Only done when D < N, where the
    D x D covariance costs little next to the N x N distances.
    """
    n, d = X.shape
    if d >= n or d < 16:
        return X
    w, V = torch.linalg.eigh(X.T @ X)
    keep = w > w.max() * 1e-12
    if int(keep.sum()) > 0.8 * d:
        return X
    return X @ V[:, keep]


def knn(
    X, k: int, chunk: int = 256, dtype: torch.dtype | None = None, distances: bool = True, check: bool = True, margin: int = 2
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """Exact k nearest neighbours of every row (self excluded): (float64 distances [N, k], indices [N, k]).

    Candidates come from the expansion |x|^2 + |y|^2 - 2 x.y on centred data (uncentred float32
    loses everything to cancellation), in ``dtype`` (default float32; float64 on request), by the
    blocked top-k of ``explorer.knn_core``; ``k + margin`` candidates per row are then re-ranked by
    their exact float64 distances, recomputed from the differences, so close pairs keep their true,
    non-zero distance and rounding in the expansion cannot swap the k-th neighbour with the next
    one. Ties keep the lower index first. ``distances=False`` returns only the indices;
    ``check=False`` skips the validation of data already checked by the caller.
    """
    X = check_points(X, k) if check else torch.as_tensor(X)
    X64 = as_float64(X)
    return knn_prepared(_reduce_rank(X64 - X64.mean(0, keepdim=True)), k, dtype, distances, chunk, margin)


def as_float64(X: torch.Tensor) -> torch.Tensor:
    """X in float64 (float32 on Apple's MPS, which has no float64)."""
    return X.to(torch.float32 if X.device.type == "mps" else torch.float64)


def knn_prepared(X64: torch.Tensor, k: int, dtype=None, distances: bool = True, chunk: int = 256, margin: int = 2):
    """``knn`` of data already validated, centred and rank-reduced in float64 (see ``knn``): a caller
    that takes many subsets of the same data prepares it once."""
    from explorer.knn_core import top_k

    Xw = X64.to(dtype or torch.float32)
    kc = min(k + margin, len(X64) - 1)
    _, cand = top_k(Xw, Xw, kc, bias=-(Xw * Xw).sum(1), exclude_self=True, alpha=2.0, rows=chunk, reduce=False)
    cand = cand.to(X64.device)
    exact = (X64.unsqueeze(1) - X64[cand]).norm(dim=2)  # [N, kc] in float64
    exact, order = exact.sort(dim=1, stable=True)
    idx = cand.gather(1, order[:, :k])
    return (exact[:, :k] if distances else None), idx


def overlap_of_indices(nx: torch.Tensor, ny: torch.Tensor) -> torch.Tensor:
    """Per-row fraction of shared entries of two neighbour-index tables [N, k]."""
    k = nx.shape[1]
    return (nx.unsqueeze(2) == ny.unsqueeze(1)).any(2).sum(1).double() / k


def overlap(X, Y, k: int = 10) -> float:
    """(1/N) sum_i |N_k^X(i) ∩ N_k^Y(i)| / k, neighbourhoods without the point itself.

    1 when X and Y order every neighbourhood alike (e.g. Y a rotation of X); about k/(N-1) when
    they are unrelated.
    """
    X, Y = torch.as_tensor(X), torch.as_tensor(Y)
    if len(X) != len(Y):
        raise ValueError(f"X and Y must describe the same samples (got {len(X)} and {len(Y)} rows)")
    _, nx = knn(X, k, distances=False)
    _, ny = knn(Y.to(X.device), k, distances=False)
    return float(overlap_of_indices(nx, ny).mean())


def label_overlap(X, labels, k: int = 10, class_weighted: bool = False) -> float:
    """Mean fraction of each sample's k neighbours that share its label.

    The plain mean over samples is the geometry talk's definition (Ansuini & Cazzaniga; Doimo et al.
    2020). ``class_weighted`` averages the per-class means instead, so each class counts equally:
    that is DADApy's default (``return_label_overlap(weighted=True)``, which weights each sample by
    1 / its class count). The two agree for balanced labels.
    """
    return label_overlap_of_indices(knn(X, k, distances=False)[1], labels, class_weighted)


def label_overlap_of_indices(nn: torch.Tensor, labels, class_weighted: bool = False) -> float:
    """``label_overlap`` from a neighbour-index table [N, k] already computed."""
    y = torch.as_tensor(np.asarray(labels), device=nn.device)
    if len(y) != len(nn):
        raise ValueError(f"{len(y)} labels for {len(nn)} samples")
    per = (y[nn] == y[:, None]).double().mean(1)
    if not class_weighted:
        return float(per.mean())
    return float(torch.stack([per[y == c].mean() for c in torch.unique(y)]).mean())

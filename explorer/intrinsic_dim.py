"""Intrinsic dimension by TwoNN (Facco et al., Sci. Rep. 2017) and its decimation (scale) analysis.

For each point, mu = r2 / r1 (second over first nearest-neighbour distance). Under local
uniformity mu follows a Pareto law with exponent d, so -log(1 - F(mu)) = d log(mu): the ID is the
slope of the line through the origin fitted to the sorted log mu against -log(1 - i/N), over the
first (1 - discard_fraction) N points (the largest mu are the least reliable). ``estimator="mle"``
gives the maximum-likelihood (N - 1) / sum(log mu) instead. Exact duplicate rows (r1 = 0) are
removed first and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from explorer.neighborhoods import _reduce_rank, as_float64, check_points, knn, knn_prepared


@dataclass(frozen=True)
class TwoNNResult:
    id: float
    n_used: int  # points in the fit
    n_points: int  # distinct points
    n_duplicates: int  # rows removed as exact duplicates
    mu: np.ndarray  # r2 / r1 per distinct point, in data order
    r2_mean: float  # mean second-neighbour distance
    r_mean: float = float("nan")  # mean of the first and second neighbour distances: DADApy's scale

    @property
    def stderr(self) -> float:
        """Asymptotic standard error of the estimate, id / sqrt(n_used)."""
        return self.id / np.sqrt(self.n_used)


def deduplicate(X: torch.Tensor) -> tuple[torch.Tensor, int]:
    """X without exact duplicate rows (first occurrences kept, order preserved) and how many went."""
    uniq, inverse = torch.unique(X, dim=0, return_inverse=True)
    if len(uniq) == len(X):
        return X, 0
    first = torch.full((len(uniq),), len(X), dtype=torch.long, device=X.device)
    first.scatter_reduce_(0, inverse, torch.arange(len(X), device=X.device), reduce="amin")
    return X[first.sort().values], len(X) - len(uniq)


def fit_twonn(mu: np.ndarray, discard_fraction: float = 0.1, estimator: str = "fit") -> tuple[float, int]:
    """(ID, points used) from the ratios mu (float64 arithmetic)."""
    mu = np.asarray(mu, dtype=np.float64)
    n = len(mu)
    logmu = np.log(mu)
    if estimator == "mle":
        return float((n - 1) / logmu.sum()), n
    if estimator != "fit":
        raise ValueError(f"estimator must be 'fit' or 'mle', not {estimator!r}")
    if not 0 < discard_fraction < 1:  # with nothing discarded the last point has -log(1 - N/N) = inf
        raise ValueError(f"discard_fraction must be in (0, 1), got {discard_fraction}")
    n_used = int(n * (1 - discard_fraction))
    x = np.sort(logmu)[:n_used]
    y = -np.log(1 - np.arange(1, n_used + 1) / n)
    return float((x @ y) / (x @ x)), n_used


def _ratios(X: torch.Tensor, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    d, _ = knn(X, 2, dtype=dtype, check=False)
    return d[:, 0], d[:, 1]


def _twonn_prepared(X64: torch.Tensor, discard_fraction: float, dtype) -> tuple[float, float]:
    """(ID, scale) of distinct points already centred and rank-reduced (``knn_prepared``)."""
    d, _ = knn_prepared(X64, 2, dtype)
    r1, r2 = d[:, 0], d[:, 1]
    if not bool((r1 > 0).all()):  # the points are distinct, so only the precision can give r1 = 0 (as in twonn)
        raise ValueError("some points are closer than the precision of the distances; retry with dtype=torch.float64")
    return fit_twonn((r2 / r1).cpu().numpy(), discard_fraction)[0], float((r1.mean() + r2.mean()) / 2)


def _twonn_checked(X: torch.Tensor, discard_fraction: float, estimator: str, dtype) -> TwoNNResult:
    """TwoNN of validated data: duplicates show up as r1 = 0 and are removed before a second pass."""
    dups = 0
    r1, r2 = _ratios(X, dtype)
    if bool((r1 <= 0).any()):
        X, dups = deduplicate(X)
        if len(X) < 3:
            raise ValueError(f"fewer than 3 distinct points remain after removing {dups} duplicates")
        r1, r2 = _ratios(X, dtype)
        if bool((r1 <= 0).any()):
            raise ValueError("some points are closer than the precision of the distances; retry with dtype=torch.float64")
    mu = (r2 / r1).cpu().numpy()
    ident, n_used = fit_twonn(mu, discard_fraction, estimator)
    return TwoNNResult(ident, n_used, len(X), dups, mu, float(r2.mean()), float((r1.mean() + r2.mean()) / 2))


def twonn(X, discard_fraction: float = 0.1, estimator: str = "fit", dtype: torch.dtype | None = None) -> TwoNNResult:
    """TwoNN intrinsic dimension of the rows of ``X`` [N, D] (on X's device; see the module doc)."""
    return _twonn_checked(check_points(X, what="the data"), discard_fraction, estimator, dtype)


@dataclass(frozen=True)
class ScalingResult:
    """ID against scale, as DADApy's ``return_id_scaling_2NN``: level i draws 2^i random subsets."""

    n_parts: np.ndarray  # round(N / size) subsets at level i: 2^i, or close to it
    n_per_part: np.ndarray  # round(N / 2^i) points each
    id_mean: np.ndarray  # the mean ID over the subsets
    id_error: np.ndarray  # std of the IDs (ddof 0) / sqrt(number of subsets); 0 at the full data
    scale: np.ndarray  # the mean over subsets of the mean first and second neighbour distance

    def frame(self):
        import pandas as pd

        return pd.DataFrame({"parts": self.n_parts, "points per part": self.n_per_part, "id": self.id_mean,
                             "id error": self.id_error, "scale": self.scale})


def twonn_scaling(X, n_min: int = 10, discard_fraction: float = 0.1, seed: int = 0, dtype: torch.dtype | None = None) -> ScalingResult:
    """The decimation analysis of DADApy 0.3.4 (``IdEstimation.return_id_scaling_2NN``,
    ``dadapy/id_estimation.py`` L254-333 with ``compute_id_2NN`` L104-203): at level i the data is
    sampled into round(N / size) (about 2^i) subsets of size = round(N / 2^i) points, each drawn independently without
    replacement (subsets may overlap), for every level whose subsets have more than ``n_min``
    points; the ID is the mean over the subsets, its error std / sqrt(2^i), its scale the mean of
    the first and second neighbour distances. Subsets come from ``numpy.random.default_rng(seed)``,
    level by level and subset by subset (the full data at level 0 draws nothing).

    Fewer points per subset means larger neighbour distances, so the ID is read at coarser scales;
    a plateau across scales is the trustworthy ID.
    """
    X, _ = deduplicate(check_points(X, what="the data"))
    n = len(X)
    sizes = [int(s) for s in np.rint(n / 2 ** np.arange(max(int(np.log2(n)) - 1, 1))) if s > n_min]
    if not sizes:
        raise ValueError(f"decimation needs more than {n_min} distinct points, got {n}: use a larger probe")
    rng = np.random.default_rng(seed)
    X64 = as_float64(X)
    X64 = _reduce_rank(X64 - X64.mean(0, keepdim=True))  # once for every subset: distances are unchanged
    rows = []
    for size in sizes:
        parts = int(np.rint(n / size))  # DADApy's rint(1 / data_fraction): about 2^level
        if parts == 1:
            ident, scale = _twonn_prepared(X64, discard_fraction, dtype)
            rows.append((1, size, ident, 0.0, scale))
            continue
        subsets = torch.from_numpy(np.stack([rng.choice(n, size, replace=False) for _ in range(parts)])).to(X.device)
        if size <= BATCH_MAX_SIZE:
            ids, scales = _twonn_parts(X64, subsets, discard_fraction, dtype)
        else:
            ids, scales = np.array([_twonn_prepared(X64[idx], discard_fraction, dtype) for idx in subsets]).T
        rows.append((parts, size, ids.mean(), float(ids.std(ddof=0) / np.sqrt(parts)), scales.mean()))
    a = np.array(rows)
    return ScalingResult(a[:, 0].astype(int), a[:, 1].astype(int), a[:, 2], a[:, 3], a[:, 4])


BATCH_MAX_SIZE = 2048  # subsets up to this size go through one batched product per group of subsets
_BATCH_SCORES = 1 << 23  # scores per batched product (32 MB in float32)


def _twonn_parts(X64: torch.Tensor, subsets: torch.Tensor, discard_fraction: float, dtype) -> tuple[np.ndarray, np.ndarray]:
    """(ID, scale) of each subset X[subsets[q]] of distinct points, all of a level at once: the
    batched product and selection of ``knn_core.top_k_batched``, candidates re-ranked by exact
    float64 distances as in ``knn``, and the TwoNN fit vectorised over subsets."""
    from explorer.knn_core import top_k_batched

    p, s = subsets.shape
    kc = min(4, s - 1)
    r1, r2 = torch.empty(p, s, dtype=X64.dtype, device=X64.device), torch.empty(p, s, dtype=X64.dtype, device=X64.device)
    step = max(1, _BATCH_SCORES // (s * s))
    for g in range(0, p, step):
        P64 = X64[subsets[g : g + step]]  # [g, s, r]
        P = P64.to(dtype or torch.float32)
        cand = top_k_batched(P, kc, alpha=2.0, bias=-(P * P).sum(2)).to(P64.device)
        nb = torch.gather(P64, 1, cand.reshape(len(P64), -1, 1).expand(-1, -1, P64.shape[2])).reshape(*cand.shape, -1)
        d = (P64.unsqueeze(2) - nb).norm(dim=3).sort(dim=2, stable=True).values
        r1[g : g + step], r2[g : g + step] = d[:, :, 0], d[:, :, 1]
    if not bool((r1 > 0).all()):  # the points are distinct, so only the precision can give r1 = 0 (as in twonn)
        raise ValueError("some points are closer than the precision of the distances; retry with dtype=torch.float64")
    ids = fit_twonn_rows((r2 / r1).cpu().numpy(), discard_fraction)
    return ids, ((r1.mean(1) + r2.mean(1)) / 2).cpu().numpy()


def fit_twonn_rows(mu: np.ndarray, discard_fraction: float = 0.1) -> np.ndarray:
    """``fit_twonn`` of each row of mu [p, s] (every row the same length), vectorised."""
    p, n = mu.shape
    if not 0 < discard_fraction < 1:
        raise ValueError(f"discard_fraction must be in (0, 1), got {discard_fraction}")
    n_used = int(n * (1 - discard_fraction))
    x = np.sort(np.log(mu), axis=1)[:, :n_used]
    y = -np.log(1 - np.arange(1, n_used + 1) / n)
    return (x @ y) / np.einsum("ij,ij->i", x, x)

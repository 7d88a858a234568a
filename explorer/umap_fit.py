"""UMAP's fit, in a module that imports neither torch nor the rest of the library: the worker process
that runs it (``explorer.workers``) then holds numpy, numba and UMAP only (measured: see README)."""

from __future__ import annotations

import numpy as np


def fit(X, seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """UMAP coordinates [N, 2] of ``X`` [N, D] (float32), seeded."""
    import umap  # imported late: its numba compilation costs seconds on the first call

    X = np.asarray(X, dtype=np.float32)
    return umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, len(X) - 1), random_state=seed).fit_transform(X)

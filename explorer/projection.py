"""2-D views of a representation: native coordinates, PCA, or UMAP."""

from __future__ import annotations

import numpy as np
import torch

METHODS = ("native", "pca", "umap")


def pca_2d(X: torch.Tensor, basis_from: torch.Tensor | None = None) -> torch.Tensor:
    """First two principal components of ``X`` (fitted on ``basis_from`` when given, for shared axes).

    Signs are fixed so that the largest-magnitude loading of each axis is positive: the same data
    always gives the same picture.
    """
    X = torch.as_tensor(X).float()
    fit = X if basis_from is None else torch.as_tensor(basis_from).float().to(X.device)
    mu = fit.mean(0, keepdim=True)
    if fit.shape[1] == 1:
        return torch.cat([X - mu, torch.zeros_like(X)], 1)
    _, _, V = torch.linalg.svd(fit - mu, full_matrices=False)
    V = V[:2].T  # [D, 2]
    sign = torch.sign(V.gather(0, V.abs().argmax(0, keepdim=True)))
    return (X - mu) @ (V * sign)


def umap_2d(X, seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    from explorer.umap_fit import fit

    return fit(np.asarray(torch.as_tensor(X).float().cpu()), seed, n_neighbors)


def project_2d(X, method: str = "pca", seed: int = 0, poll=None) -> tuple[np.ndarray, str]:
    """(coordinates [N, 2], the method actually used). ``native`` needs exactly 2 columns, else PCA.

    With ``poll``, UMAP runs in a worker process (``explorer.workers``) and ``poll()`` is called
    while it works; when ``poll`` raises (a Cancel), the worker is killed and the fit stops at once.
    """
    X = torch.as_tensor(X)
    if method not in METHODS:
        raise ValueError(f"unknown 2-D view {method!r}; choose one of {', '.join(METHODS)}")
    if not torch.isfinite(X).all():
        raise ValueError("the representation contains NaN or infinite values; it cannot be drawn")
    if method == "native":
        if X.shape[1] == 2:
            return X.float().cpu().numpy(), "native"
        method = "pca"
    if method == "umap":
        if poll is not None:
            from explorer.umap_fit import fit
            from explorer.workers import run_stoppable

            return run_stoppable(fit, np.asarray(X.float().cpu()), seed, poll=poll), "umap"
        return umap_2d(X, seed), "umap"
    return pca_2d(X).cpu().numpy(), "pca"


_WARM = {"started": False}


def warm_umap() -> bool:
    """Compile UMAP in the worker process now, in the background, once per server process: its first fit
    costs ~20 s of numba compilation (measured: 19-22 s even with numba's disk cache, as most of UMAP's and
    pynndescent's functions are not cached), and afterwards a 300-point fit takes 0.4 s. Called when a page
    that offers UMAP is first opened, so that choosing UMAP later is quick.

    On by default where there are at least 4 cores (a laptop); with fewer, the compilation would take half
    of a 2-core machine for 20 s while the page is in use, so it is off unless ``EXPLORER_UMAP_WARMUP=1``
    (``0`` turns it off everywhere; the test suite does). True if this call started it."""
    import os
    import threading

    setting = os.environ.get("EXPLORER_UMAP_WARMUP", "")
    wanted = setting == "1" or (setting != "0" and (os.cpu_count() or 1) >= 4)
    if _WARM["started"] or not wanted:
        return False
    _WARM["started"] = True

    def warm():
        from explorer.umap_fit import fit
        from explorer.workers import run_stoppable

        try:
            run_stoppable(fit, np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32))
        except Exception:  # noqa: BLE001  a warm-up that fails (a Cancel killed the worker) costs only its time
            _WARM["started"] = False

    threading.Thread(target=warm, daemon=True, name="UMAP warm-up").start()
    return True

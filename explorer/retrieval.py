"""Cross-space agreement: Jaccard@k, MRR and cosine between two views of the same samples.

Protocol (Moschella et al. 2023, Table 1): row i of ``A`` and row i of ``B`` are the same sample
seen by two spaces of equal width. For each row ``A[i]``, the rows of ``B`` are ranked by cosine
similarity to ``A[i]``:

- Jaccard@k = |S ∩ T| / |S ∪ T|, S = the k rows of B nearest to A[i], T = the k rows of B nearest
  to B[i] (B[i] itself included);
- MRR = 1 / rank of B[i] in that ranking (rank 1 = nearest), 0 when B[i] is not within the top k;
- cosine = cos(A[i], B[i]).

Each is averaged over rows. Identical spaces give 1 / 1 / 1; unrelated spaces give about
k / (2N - k), about (1/N) sum_{r<=k} 1/r, and about 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from explorer.knn_core import top_k


def _check(A: torch.Tensor, B: torch.Tensor, k: int) -> None:
    if A.dim() != 2 or A.shape != B.shape:
        raise ValueError(f"A {tuple(A.shape)} and B {tuple(B.shape)} must both be [N, D] with the same N and D")
    n = A.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k must be between 1 and N - 1 = {n - 1} (got k={k} for N={n} samples)")
    for name, X in (("A", A), ("B", B)):
        if not torch.isfinite(X).all():
            raise ValueError(f"{name} contains NaN or infinite values; agreement cannot be measured")


def _top(Q: torch.Tensor, R: torch.Tensor, k: int, chunk: int, tick=None) -> torch.Tensor:
    """The k rows of R most cosine-similar to each row of Q (both unit rows): ``knn_core.top_k``."""
    return top_k(Q, R, k, rows=chunk, tick=tick)[1].to(Q.device)


def _summarise(An, Bn, S, T, k) -> dict[str, float]:
    n = len(S)
    rows = torch.arange(n, device=S.device)
    inter = (S.unsqueeze(2) == T.unsqueeze(1)).any(2).sum(1).double()
    hit = S == rows.unsqueeze(1)
    rank = hit.double().argmax(1) + 1
    mrr = torch.where(hit.any(1), 1.0 / rank, torch.zeros_like(rank))
    return {
        "jaccard": float((inter / (2 * k - inter)).mean()),
        "mrr": float(mrr.mean()),
        "cosine": float((An * Bn).sum(1).double().mean()),
    }


def retrieval_metrics(A, B, k: int = 10, chunk: int = 256) -> dict[str, float]:
    """Mean Jaccard@k, MRR (cut at k) and cosine of row-aligned spaces A and B (see module doc)."""
    return retrieval_metrics_both(A, B, k, chunk, both=False)[0]


def retrieval_metrics_both(A, B, k: int = 10, chunk: int = 256, both: bool = True, tick=None):
    """(metrics A→B, metrics B→A): four top-k problems of ``explorer.knn_core`` (A in B, B in B, and
    for B→A, B in A and A in A), each a blocked product with a fused partial top-k. ``tick()`` is
    called while they run (a point where long work can be stopped). ``chunk`` is the block height.
    """
    A = torch.as_tensor(A).float()
    B = torch.as_tensor(B).to(A.device).float()
    _check(A, B, k)
    An, Bn = F.normalize(A, dim=1), F.normalize(B, dim=1)
    ab = _summarise(An, Bn, _top(An, Bn, k, chunk, tick), _top(Bn, Bn, k, chunk, tick), k)
    if not both:
        return ab, None
    return ab, _summarise(Bn, An, _top(Bn, An, k, chunk, tick), _top(An, An, k, chunk, tick), k)


def pad_to_same_width(A: torch.Tensor, B: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Zero-pad the narrower of A and B on the right; returns both and how many columns were added."""
    da, db = A.shape[1], B.shape[1]
    if da < db:
        return F.pad(A, (0, db - da)), B, db - da
    if db < da:
        return A, F.pad(B, (0, da - db)), da - db
    return A, B, 0


def agreement(ZA, ZB, anchor_idx, similarity: str = "cosine", center: bool = False, k: int = 10):
    """Agreement of two models on the same samples, absolute vs relative, both directions.

    Absolute spaces of unequal width are zero-padded to the wider one. The relative spaces use the
    same anchor samples in each model. Returns a DataFrame with one row per (space, direction).
    """
    import pandas as pd

    from explorer.relative import relative_projection

    ZA, ZB = torch.as_tensor(ZA).float(), torch.as_tensor(ZB).float()
    idx = torch.as_tensor(anchor_idx, device=ZA.device)
    a, b, padded = pad_to_same_width(ZA, ZB.to(ZA.device))
    RA = relative_projection(ZA, ZA[idx], similarity, center)
    RB = relative_projection(ZB, ZB[idx.to(ZB.device)], similarity, center).to(ZA.device)
    rows = []
    for space, (X, Y) in (("absolute", (a, b)), ("relative", (RA, RB))):
        fwd, bwd = retrieval_metrics_both(X, Y, k)
        rows.append({"space": space, "direction": "A → B", **fwd})
        rows.append({"space": space, "direction": "B → A", **bwd})
    df = pd.DataFrame(rows)
    df.attrs["padded_columns"] = padded
    return df


def anchor_sweep(ZA, ZB, X_select, counts, strategy="random", labels=None, similarity="cosine", center=False, k=10, seed=0,
                 progress=None):
    """Relative agreement (A → B) against the number of anchors, plus the absolute baseline; ``progress(fraction,
    text)`` before each count."""
    import pandas as pd

    from explorer.relative import relative_projection, select_anchors

    ZA, ZB = torch.as_tensor(ZA).float(), torch.as_tensor(ZB).float()
    rows = []
    a, b, _ = pad_to_same_width(ZA, ZB.to(ZA.device))
    base = retrieval_metrics(a, b, k)
    for i, n in enumerate(counts):
        if progress is not None:
            progress(i / len(counts), f"{n} anchors")
        idx = select_anchors(X_select, int(n), strategy, labels, seed).to(ZA.device)
        m = retrieval_metrics(relative_projection(ZA, ZA[idx], similarity, center), relative_projection(ZB, ZB[idx.to(ZB.device)], similarity, center), k)
        rows.extend({"anchors": int(n), "metric": key, "value": v, "space": "relative"} for key, v in m.items())
        rows.extend({"anchors": int(n), "metric": key, "value": v, "space": "absolute"} for key, v in base.items())
    return pd.DataFrame(rows)

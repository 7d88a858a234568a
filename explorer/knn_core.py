"""The one exact top-k core behind every neighbourhood in the app.

``top_k(Q, R, k)`` returns, for every row of Q, the k rows of R with the largest score
q.r + bias[r] (sorted, best first). Exact k-nearest neighbours, cosine retrieval and anchors are
all this one problem: Euclidean neighbours maximise 2 q.r - |r|^2.

How it is fast: the scores are computed in blocks of ``rows x cols`` (a few MB, so a block stays in
cache) by the BLAS product of torch, and each block is consumed at once by a partial top-k that keeps
only the k best per row. On the CPU that selection is a small compiled loop (numba, parallel over
rows): one comparison per score against the row's current k-th best, an insertion only when it
wins, so a 20k x 20k problem never writes its 400M scores to memory and never sorts them. The
number of candidates is 2 to 30 where ``torch.topk`` would partially sort 20k columns per row.
On CUDA or MPS the same blocks go to ``torch.topk`` and a running merge on the device.

Ties: on the CPU, among equal scores the lower column index comes first (columns are visited in
order and a score must beat the current k-th strictly), which is what a stable descending sort
gives; ``torch.topk`` leaves the order of ties unspecified.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np
import torch

_LOCK = threading.Lock()  # one top-k at a time per process: it already uses every core it is given
_POOL = None


def _kernels():
    """The compiled selections (numba; compiled once, then loaded from numba's disk cache)."""
    from explorer import knn_kernel

    return knn_kernel


_WARMING = None


def warm_up_in_background() -> threading.Thread:
    """``warm_up`` once per process, in a daemon thread (the app calls it at start: importing numba
    and loading the compiled selection costs about a second, which the first neighbourhood would
    otherwise pay)."""
    global _WARMING
    with _LOCK:
        if _WARMING is None:
            _WARMING = threading.Thread(target=warm_up, name="explorer-knn-warmup", daemon=True)
            _WARMING.start()
    return _WARMING


def warm_up() -> None:
    """Import numba and load (or compile) the selections for float32 and float64, e.g. in a
    background thread at app start, so that the first neighbourhood a person asks for does not pay it."""
    for dtype in (torch.float32, torch.float64):
        x = torch.arange(12, dtype=dtype).reshape(6, 2)
        top_k(x, x, 2, exclude_self=True)
        top_k_batched(x.reshape(2, 3, 2), 1)


def workers_for(n_scores: int) -> int:
    """How many threads share a top-k of ``n_scores`` scores: torch's thread count, capped by
    ``EXPLORER_KNN_THREADS`` when set; one below 2M scores, where a second thread costs more than it saves."""
    n = torch.get_num_threads()
    if env := os.environ.get("EXPLORER_KNN_THREADS"):
        n = min(n, max(1, int(env)))
    return 1 if n_scores < 2_000_000 else max(1, n)


def _run_tasks(tasks: list, work, workers: int, tick=None) -> None:
    """``work(task, buffer_slot)`` for every task, shared out dynamically among ``workers`` threads.

    Why not torch's own threads: its OpenMP GEMM splits each product evenly, so when another
    process keeps one core busy every product waits for the slow half (measured: 2 threads 1.8x
    slower than 1 with a core busy). Here each product runs on one thread and an idle thread takes
    the next block, so a busy core only means that it takes fewer blocks. torch is held to one
    intra-op thread meanwhile (restored after).
    """
    global _POOL
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if workers == 1:
            for t in tasks:
                work(t, 0)
                if tick is not None:
                    tick()
            return
        if _POOL is None or _POOL._max_workers < workers:
            _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="explorer-topk")
        if tick is not None:  # in the caller's thread only (a tick may draw progress)
            tick()
        queue = list(reversed(tasks))
        take = threading.Lock()
        stop = threading.Event()

        def loop(slot):
            while not stop.is_set():
                with take:
                    if not queue:
                        return
                    t = queue.pop()
                try:
                    work(t, slot)
                except BaseException:
                    stop.set()
                    raise

        futures = [_POOL.submit(loop, slot) for slot in range(workers)]
        try:
            while wait(futures, timeout=0.05).not_done:
                if tick is not None:
                    tick()
        finally:  # on a tick's exception the workers stop after their current block
            stop.set()
            wait(futures)
        for f in futures:
            if f.exception() is not None:
                raise f.exception()
    finally:
        torch.set_num_threads(before)


def top_k(Q, R, k: int, bias=None, exclude_self: bool = False, alpha: float = 1.0, rows: int = 256, cols: int | None = None,
          tick=None, reduce: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(scores [M, k], indices [M, k]) of the k largest alpha * Q[i].R[j] + bias[j] for each row i.

    ``exclude_self`` skips j == i (Q and R the same rows). Q, R and bias stay on their device and in
    their dtype (float32 or float64). Blocks are ``rows`` x ``cols`` scores (default: whole rows up to
    8192 columns, else 2048: measured best on this 2-core machine at 5k and 20k). ``reduce``: when
    the rows of Q and R span fewer than 80% of their D dimensions (a relative space of 300 anchors
    over a 64-wide latent has rank 64), both are first written in an orthonormal basis of that span
    (``reduce_rank``): the products are the same and cost r/D as much. ``tick()`` is called in the
    caller's thread before and while the blocks run (a point where long work can be stopped: what
    it raises stops the work and comes out of ``top_k``).
    """
    Q, R = torch.as_tensor(Q), torch.as_tensor(R)
    m, n = len(Q), len(R)
    if not 1 <= k <= n - int(exclude_self):
        raise ValueError(f"k must be between 1 and {n - int(exclude_self)} (got k={k})")
    bias = torch.zeros(n, dtype=Q.dtype, device=Q.device) if bias is None else torch.as_tensor(bias).to(Q)
    if reduce:
        Q, R = reduce_rank(Q, R)
    RT = R.T.contiguous()
    cols = cols or (n if n <= 8192 else 2048)
    if Q.device.type != "cpu":
        return _top_k_torch(Q, RT, bias, k, exclude_self, alpha, rows, cols, tick)
    merge = _kernels().merge_block
    best_v = np.full((m, k), -np.inf, dtype=np.float32 if Q.dtype == torch.float32 else np.float64)
    best_i = np.full((m, k), -1, dtype=np.int64)
    workers = workers_for(m * n)
    bufs = [torch.empty(min(rows, m), min(cols, n), dtype=Q.dtype) for _ in range(workers)]
    bias_row = bias.unsqueeze(0)

    def work(r0, slot):
        r1 = min(m, r0 + rows)
        for c0 in range(0, n, cols):
            c1 = min(n, c0 + cols)
            block = bufs[slot][: r1 - r0, : c1 - c0]
            torch.addmm(bias_row[:, c0:c1], Q[r0:r1], RT[:, c0:c1], alpha=alpha, out=block)
            merge(block.numpy(), best_v, best_i, r0, c0, exclude_self)

    with _LOCK:
        _run_tasks(list(range(0, m, rows)), work, workers, tick)
    return torch.from_numpy(best_v), torch.from_numpy(best_i)


def reduce_rank(Q: torch.Tensor, R: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(Q V, R V) with V an orthonormal basis of the span of the rows of Q and R, when that span
    has fewer than 80% of the D dimensions (else Q and R unchanged). Q V (R V)^T = Q R^T, since
    every row lies in the span. From the eigenvectors of Q^T Q + R^T R in float64 (D x D, cheap
    next to the M x N products; only tried for 16 <= D < the number of rows)."""
    d = Q.shape[1]
    if d < 16 or d >= min(len(Q), len(R)) or Q.device.type == "mps":
        return Q, R
    Q64, R64 = Q.double(), R.double()
    G = Q64.T @ Q64 if R is Q else Q64.T @ Q64 + R64.T @ R64
    w, V = torch.linalg.eigh(G)
    keep = w > w.max() * 1e-12
    if int(keep.sum()) > 0.8 * d:
        return Q, R
    V = V[:, keep]
    Qr = (Q64 @ V).to(Q.dtype)
    return Qr, (Qr if R is Q else (R64 @ V).to(R.dtype))


def _top_k_torch(Q, RT, bias, k, exclude_self, alpha, rows, cols, tick):
    """The device path: blocks of whole rows, each reduced by ``torch.topk`` on the device (a GPU
    holds rows x N scores easily; ``cols`` is for the CPU's caches)."""
    m = len(Q)
    vals, idxs = [], []
    for r0 in range(0, m, rows):
        r1 = min(m, r0 + rows)
        S = torch.addmm(bias.unsqueeze(0), Q[r0:r1], RT, alpha=alpha)
        if exclude_self:
            diag = torch.arange(r0, r1, device=Q.device)
            S[diag - r0, diag] = -float("inf")
        v, i = S.topk(k, dim=1)
        vals.append(v)
        idxs.append(i)
        if tick is not None:
            tick()
    return torch.cat(vals), torch.cat(idxs)


def top_k_batched(P, k: int, alpha: float = 1.0, bias=None) -> torch.Tensor:
    """Indices [p, s, k] of the k largest alpha * P[q, i].P[q, j] + bias[q, j] over j != i, for a
    batch of p independent point sets P [p, s, d] (batched products over runs of subsets, each
    followed by its selection; used by the decimation, whose levels hold up to thousands of small subsets)."""
    p, s, _ = P.shape
    if not 1 <= k <= s - 1:
        raise ValueError(f"k must be between 1 and {s - 1} (got k={k})")
    bias = torch.zeros(p, s, dtype=P.dtype, device=P.device) if bias is None else bias
    if P.device.type != "cpu":
        S = torch.baddbmm(bias.unsqueeze(1), P, P.transpose(1, 2), alpha=alpha)
        diag = torch.arange(s, device=P.device)
        S[:, diag, diag] = -float("inf")
        return S.topk(k, dim=2).indices
    best_v = np.full((p, s, k), -np.inf, dtype=np.float32 if P.dtype == torch.float32 else np.float64)
    best_i = np.full((p, s, k), -1, dtype=np.int64)
    merge = _kernels().merge_batched
    workers = workers_for(p * s * s)
    step = max(1, -(-p // (8 * workers)))  # a few runs of whole subsets per thread

    def work(q0, slot):
        q1 = min(p, q0 + step)
        S = torch.baddbmm(bias[q0:q1].unsqueeze(1), P[q0:q1], P[q0:q1].transpose(1, 2), alpha=alpha)
        merge(S.numpy(), best_v[q0:q1], best_i[q0:q1])

    with _LOCK:
        _run_tasks(list(range(0, p, step)), work, workers)
    return torch.from_numpy(best_i)

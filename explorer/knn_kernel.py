"""The compiled partial top-k of ``explorer.knn_core`` (numba; imported only when a CPU top-k runs).

``merge_block(S, best_v, best_i, row0, col0, exclude_self)`` folds a block of scores S [r, c]
(rows row0.., columns col0..) into each row's running k best (best_v descending, best_i their
columns). Each score is compared with the row's current k-th best; only a winner is inserted, after
the scores equal to it, so ties keep the lower column first. Compiled once per dtype and kept in
numba's disk cache. Serial and free of the GIL: ``knn_core`` shares the blocks out among threads.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True, boundscheck=False)
def merge_block(S, best_v, best_i, row0, col0, exclude_self):  # pragma: no cover - compiled
    r, c = S.shape
    k = best_v.shape[1]
    for a in range(r):
        row = row0 + a
        bv = best_v[row]
        bi = best_i[row]
        s = S[a]
        thr = bv[k - 1]
        for b in range(c):
            v = s[b]
            if v > thr:
                j = col0 + b
                if exclude_self and j == row:
                    continue
                p = k - 1
                while p > 0 and bv[p - 1] < v:
                    bv[p] = bv[p - 1]
                    bi[p] = bi[p - 1]
                    p -= 1
                bv[p] = v
                bi[p] = j
                thr = bv[k - 1]


@njit(cache=True, nogil=True, boundscheck=False)
def merge_batched(S, best_v, best_i):  # pragma: no cover - compiled
    """The same selection for a batch of independent square blocks S [p, s, s] (row i of part q
    against every other point of part q, itself excluded): best_v/best_i [p, s, k], in place."""
    p, s, _ = S.shape
    k = best_v.shape[2]
    for t in range(p * s):
        q = t // s
        row = t - q * s
        bv = best_v[q, row]
        bi = best_i[q, row]
        sc = S[q, row]
        thr = bv[k - 1]
        for j in range(s):
            v = sc[j]
            if v > thr and j != row:
                m = k - 1
                while m > 0 and bv[m - 1] < v:
                    bv[m] = bv[m - 1]
                    bi[m] = bi[m - 1]
                    m -= 1
                bv[m] = v
                bi[m] = j
                thr = bv[k - 1]

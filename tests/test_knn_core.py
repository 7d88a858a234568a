"""The one top-k core: equal to torch.topk (ties and duplicates included), every path of it, and the
batched decimation equal to the per-subset loop."""

import numpy as np
import pytest
import torch

import explorer.intrinsic_dim as idm
from explorer import knn_core
from explorer.knn_core import reduce_rank, top_k, top_k_batched
from explorer.retrieval import retrieval_metrics_both


def stable_reference(S: torch.Tensor, k: int):
    """Top k per row by a stable descending sort: among equal scores the lower column first."""
    order = torch.sort(-S, dim=1, stable=True).indices[:, :k]
    return S.gather(1, order), order


def test_top_k_equals_torch_topk_on_ties_and_duplicates():
    g = torch.Generator().manual_seed(0)
    # small integers: every product is exact in float32, so the scores are exactly torch's, and many tie
    Q = torch.randint(-2, 3, (300, 6), generator=g).float()
    R = torch.cat([Q[:100], Q[:100], torch.randint(-2, 3, (150, 6), generator=g).float()])  # duplicated rows
    bias = torch.randint(-3, 4, (len(R),), generator=g).float()
    S = Q @ R.T + bias
    for k in (1, 5, 30):
        v, i = top_k(Q, R, k, bias=bias, rows=64, cols=128)  # several blocks in both directions
        tv, _ = torch.topk(S, k, dim=1)
        assert torch.equal(v, tv)  # the same scores as torch.topk
        assert torch.equal(S.gather(1, i), v)  # each index carries its score
        assert torch.equal(i, stable_reference(S, k)[1])  # ties: the lower column first
        assert bool((S.gather(1, i)[:, :-1] >= S.gather(1, i)[:, 1:]).all())
    assert int((S == S.max(1, keepdim=True).values).sum(1).max()) > 1  # the data really has ties


def test_top_k_excludes_self_and_scales_by_alpha():
    g = torch.Generator().manual_seed(1)
    X = torch.randn(500, 8, generator=g, dtype=torch.float64)
    _, i = top_k(X, X, 4, bias=-(X * X).sum(1), exclude_self=True, alpha=2.0, rows=100, cols=200)
    D = torch.cdist(X, X)
    D.fill_diagonal_(float("inf"))
    assert torch.equal(i, D.topk(4, dim=1, largest=False).indices)
    assert not bool((i == torch.arange(500)[:, None]).any())


def test_one_and_two_threads_and_a_tick_that_stops(monkeypatch):
    g = torch.Generator().manual_seed(2)
    Q, R = torch.randn(2000, 16, generator=g), torch.randn(1500, 16, generator=g)  # 3M scores: two threads
    assert knn_core.workers_for(len(Q) * len(R)) == min(2, torch.get_num_threads())
    two = top_k(Q, R, 7, rows=128)
    monkeypatch.setenv("EXPLORER_KNN_THREADS", "1")
    assert knn_core.workers_for(len(Q) * len(R)) == 1
    one = top_k(Q, R, 7, rows=128)
    assert torch.equal(one[1], two[1]) and torch.equal(one[0], two[0])
    monkeypatch.delenv("EXPLORER_KNN_THREADS")

    class Stop(Exception):
        pass

    def tick():
        raise Stop

    threads = torch.get_num_threads()
    with pytest.raises(Stop):
        top_k(Q, R, 7, rows=128, tick=tick)
    assert torch.get_num_threads() == threads  # restored after the stop
    assert top_k(Q, R, 7, rows=128)[1].equal(two[1])  # and the core still works


def test_the_device_path_gives_the_same_neighbours():
    """The CUDA/MPS branch (torch.topk on the device) run on the CPU: the same answer as the compiled one."""
    g = torch.Generator().manual_seed(3)
    X = torch.randn(700, 12, generator=g, dtype=torch.float64)
    b = -(X * X).sum(1)
    ref = top_k(X, X, 5, bias=b, exclude_self=True, alpha=2.0)
    dev = knn_core._top_k_torch(X, X.T.contiguous(), b, 5, True, 2.0, 128, None, None)
    assert torch.equal(dev[1], ref[1]) and torch.allclose(dev[0], ref[0])
    P = X[:600].reshape(6, 100, 12)
    assert torch.equal(top_k_batched(P, 3, alpha=2.0, bias=-(P * P).sum(2)),
                       torch.stack([torch.cdist(p, p).fill_diagonal_(float("inf")).topk(3, largest=False).indices for p in P]))


def test_reduce_rank_keeps_every_product():
    g = torch.Generator().manual_seed(4)
    Z, anchors = torch.randn(400, 20, generator=g, dtype=torch.float64), torch.randn(120, 20, generator=g, dtype=torch.float64)
    Rel = torch.nn.functional.normalize(Z @ anchors.T, dim=1)  # a relative space: 120 columns, rank 20
    Qr, Rr = reduce_rank(Rel, Rel)
    assert Qr.shape == (400, 20) and Qr is Rr
    assert torch.allclose(Qr @ Rr.T, Rel @ Rel.T, atol=1e-12)
    full = torch.randn(400, 30, generator=g)
    assert reduce_rank(full, full)[0] is full  # full rank: unchanged


def test_retrieval_through_the_core_equals_a_dense_reference():
    g = torch.Generator().manual_seed(5)
    A = torch.randn(600, 24, generator=g)
    B = A + 0.3 * torch.randn(600, 24, generator=g)
    fwd, bwd = retrieval_metrics_both(A, B, 10, chunk=64)
    An, Bn = torch.nn.functional.normalize(A, dim=1), torch.nn.functional.normalize(B, dim=1)

    def jaccard(X, Y):
        S = (X @ Y.T).topk(10, dim=1).indices
        T = (Y @ Y.T).topk(10, dim=1).indices
        inter = np.array([len(set(s.tolist()) & set(t.tolist())) for s, t in zip(S, T)])
        return float(np.mean(inter / (20 - inter)))

    assert fwd["jaccard"] == pytest.approx(jaccard(An, Bn), abs=1e-12)
    assert bwd["jaccard"] == pytest.approx(jaccard(Bn, An), abs=1e-12)


def test_batched_decimation_equals_the_per_subset_loop(monkeypatch):
    rng = np.random.default_rng(6)
    X = torch.from_numpy(rng.standard_normal((3000, 6)) @ rng.standard_normal((6, 40)))
    batched = idm.twonn_scaling(X, seed=42)
    monkeypatch.setattr(idm, "BATCH_MAX_SIZE", 0)  # every subset through the one-at-a-time path
    loop = idm.twonn_scaling(X, seed=42)
    assert list(batched.n_parts) == list(loop.n_parts) == [1, 2, 4, 8, 16, 32, 64, 130, 250]  # rint(N / size), as DADApy
    np.testing.assert_allclose(batched.id_mean, loop.id_mean, rtol=0, atol=1e-12)
    np.testing.assert_allclose(batched.id_error, loop.id_error, rtol=0, atol=1e-12)
    np.testing.assert_allclose(batched.scale, loop.scale, rtol=0, atol=1e-12)
    # and each level is the mean of twonn over the same subsets drawn by hand (numpy's rng, level by level)
    draw = np.random.default_rng(42)
    for level, (parts, size) in enumerate(zip(batched.n_parts, batched.n_per_part)):
        if parts == 1:
            assert batched.id_mean[0] == pytest.approx(idm.twonn(X).id, abs=1e-12)
            continue
        ids = [idm.twonn(X[torch.from_numpy(draw.choice(len(X), size, replace=False))]).id for _ in range(parts)]
        assert batched.id_mean[level] == pytest.approx(np.mean(ids), abs=1e-9)

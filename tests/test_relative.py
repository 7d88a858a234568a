import numpy as np
import pytest
import torch

from explorer.relative import ANCHOR_STRATEGIES, invariance_check, random_orthogonal, relative_projection, select_anchors
from explorer.retrieval import agreement, retrieval_metrics, retrieval_metrics_both


def _gauss(n=400, d=16, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("similarity", ["cosine", "angular"])
def test_relative_projection_is_invariant_to_rotation_and_rescaling(similarity):
    Z = _gauss().double()  # arccos near 1 (a sample against itself) needs float64 for 1e-5
    Q = random_orthogonal(16, seed=3, dtype=torch.float64)
    idx = torch.arange(0, 400, 7)
    moved = 2.5 * Z @ Q
    r1 = relative_projection(Z, Z[idx], similarity)
    r2 = relative_projection(moved, moved[idx], similarity)
    assert torch.allclose(r1, r2, atol=1e-5)
    assert (moved - Z).abs().max() > 1  # the absolute space did move


def test_centring_adds_translation_invariance_and_euclidean_is_not_scale_invariant():
    Z = _gauss()
    idx = torch.arange(50)
    shifted = Z @ random_orthogonal(16, 1) + 3.0
    assert torch.allclose(relative_projection(Z, Z[idx], center=True), relative_projection(shifted, shifted[idx], center=True), atol=1e-5)
    assert not torch.allclose(relative_projection(Z, Z[idx]), relative_projection(shifted, shifted[idx]), atol=1e-2)
    e1 = relative_projection(Z, Z[idx], "euclidean")
    assert torch.allclose(e1, -torch.cdist(Z, Z[idx]), atol=1e-5)
    assert torch.allclose(relative_projection(2 * Z, 2 * Z[idx], "euclidean"), 2 * e1, atol=1e-4)
    assert torch.allclose(relative_projection(Z, Z[idx], "l1"), -torch.cdist(Z, Z[idx], p=1), atol=1e-4)


def test_relative_projection_is_batched_and_differentiable():
    Z = _gauss().requires_grad_(True)
    r = relative_projection(Z, Z[:10], batch_size=64)
    assert torch.allclose(r, relative_projection(Z, Z[:10]), atol=1e-6)
    r.sum().backward()
    assert Z.grad is not None and torch.isfinite(Z.grad).all()


def test_invariance_check_reports_movement_only_for_absolute():
    out = invariance_check(_gauss(), torch.arange(30))
    assert out["absolute"] > 1.0
    assert out["relative (centred)"] < 1e-6 and out["relative (no centring, rotation + scale only)"] < 1e-6


@pytest.mark.parametrize("strategy", ANCHOR_STRATEGIES)
def test_anchor_strategies_return_distinct_valid_indices(strategy):
    X = _gauss(300, 8)
    labels = torch.arange(300) % 5
    idx = select_anchors(X, 40, strategy, labels=labels, seed=1)
    assert idx.dtype == torch.long and len(idx) == 40 and len(set(idx.tolist())) == 40
    assert int(idx.min()) >= 0 and int(idx.max()) < 300
    assert torch.equal(idx, select_anchors(X, 40, strategy, labels=labels, seed=1))


def test_per_class_is_balanced_and_fps_spreads_out():
    labels = np.repeat(np.arange(4), [100, 50, 30, 20])
    idx = select_anchors(_gauss(200, 3), 40, "per_class", labels=labels)
    assert np.bincount(labels[idx.numpy()]).tolist() == [10, 10, 10, 10]
    counts = np.bincount(labels[select_anchors(_gauss(200, 3), 90, "per_class", labels=labels).numpy()])
    assert counts[3] == 20 and counts.sum() == 90 and counts[:3].max() - counts[:3].min() <= 1  # the class of 20 ran out
    X = torch.cat([torch.zeros(100, 2), torch.tensor([[10.0, 0], [0, 10.0], [-10.0, 0]])])
    picked = set(select_anchors(X, 4, "fps", seed=0).tolist())
    assert {100, 101, 102} <= picked  # the three far points are always picked


@pytest.mark.parametrize(
    "n, strategy, labels, msg",
    [(301, "random", None, "only 300 samples"), (0, "random", None, "at least 1"), (5, "per_class", None, "needs labels"), (5, "magic", None, "unknown anchor strategy")],
)
def test_anchor_errors_are_clear(n, strategy, labels, msg):
    with pytest.raises(ValueError, match=msg):
        select_anchors(_gauss(300, 4), n, strategy, labels=labels)


def _reference(A, B, k):
    """A plain float64 loop over rows, written from the protocol."""
    A, B = A.double().numpy(), B.double().numpy()
    An = A / np.linalg.norm(A, axis=1, keepdims=True)
    Bn = B / np.linalg.norm(B, axis=1, keepdims=True)
    jac, mrr = [], []
    for i in range(len(A)):
        order = np.argsort(-(Bn @ An[i]), kind="stable")
        S, T = set(order[:k]), set(np.argsort(-(Bn @ Bn[i]), kind="stable")[:k])
        jac.append(len(S & T) / len(S | T))
        r = int(np.flatnonzero(order == i)[0]) + 1
        mrr.append(1 / r if r <= k else 0.0)
    return {"jaccard": np.mean(jac), "mrr": np.mean(mrr), "cosine": float(np.mean((An * Bn).sum(1)))}


def test_retrieval_metrics_match_a_plain_reference_and_known_values():
    A = _gauss(300, 12, 0)
    B = A @ torch.randn(12, 12, generator=torch.Generator().manual_seed(1)) * 0.5 + _gauss(300, 12, 2)
    got, ref = retrieval_metrics(A, B, 10, chunk=64), _reference(A, B, 10)
    assert all(abs(got[m] - ref[m]) < 1e-6 for m in ref)
    fwd, bwd = retrieval_metrics_both(A, B, 10, chunk=64)
    assert fwd == pytest.approx(got, abs=1e-9) and bwd == pytest.approx(_reference(B, A, 10), abs=1e-6)
    same = retrieval_metrics(A, A, 10)
    assert same == pytest.approx({"jaccard": 1.0, "mrr": 1.0, "cosine": 1.0}, abs=1e-6)
    rnd = retrieval_metrics(_gauss(2000, 32, 5), _gauss(2000, 32, 6), 10)
    chance_jac, chance_mrr = 10 / (2 * 2000 - 10), sum(1 / r for r in range(1, 11)) / 2000
    assert rnd["jaccard"] < 5 * chance_jac and rnd["mrr"] < 5 * chance_mrr and abs(rnd["cosine"]) < 0.02


def test_retrieval_and_projection_refuse_bad_input():
    Z = _gauss(20, 4)
    with pytest.raises(ValueError, match="k must be between 1 and N - 1"):
        retrieval_metrics(Z, Z, k=20)
    bad = Z.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        retrieval_metrics(bad, Z, k=5)
    with pytest.raises(ValueError, match="NaN or infinite"):
        relative_projection(bad, Z[:5])
    with pytest.raises(ValueError, match="same N and D"):
        retrieval_metrics(Z, _gauss(20, 5), k=5)


def test_two_trainings_agree_relatively_not_absolutely():
    from explorer.activations import extract_activations
    from explorer.checkpoint import load_checkpoint
    from explorer.data import load_probe
    from explorer.zoo import ZOO_DIR

    p = load_probe("digits", 359)
    Z = [extract_activations(load_checkpoint(ZOO_DIR / f"digits-mlp_ae-l16-s{s}.json")[0], p.x)["encoder.latent"] for s in (0, 1)]
    table = agreement(Z[0], Z[1], select_anchors(p.x.flatten(1), 150, "random", seed=0), center=True).set_index(["space", "direction"])
    rel, ab = table.loc[("relative", "A → B")], table.loc[("absolute", "A → B")]
    assert rel["jaccard"] > 0.6 and rel["mrr"] > 0.9 and ab["jaccard"] < 0.05 and ab["mrr"] < 0.05


def test_projections_native_pca_and_umap():
    from explorer.projection import pca_2d, project_2d

    X = torch.cat([_gauss(100, 5, 0), _gauss(100, 5, 1) + 8.0])
    xy, used = project_2d(X, "native")
    assert used == "pca" and xy.shape == (200, 2)  # 5 columns: native falls back to PCA
    assert project_2d(X[:, :2], "native")[1] == "native"
    # PCA axis 1 separates the two blobs and is deterministic
    assert abs(xy[:100, 0].mean() - xy[100:, 0].mean()) > 10 and np.array_equal(xy, pca_2d(X).numpy())
    u, used = project_2d(X, "umap")
    assert used == "umap" and u.shape == (200, 2) and np.isfinite(u).all()
    labels = np.repeat([0, 1], 100)
    centre = [u[labels == c].mean(0) for c in (0, 1)]
    spread = max(u[labels == c].std(0).max() for c in (0, 1))
    assert np.linalg.norm(centre[0] - centre[1]) > 2 * spread  # UMAP keeps the two blobs apart
    with pytest.raises(ValueError, match="unknown 2-D view"):
        project_2d(X, "tsne")


def test_umap_is_warmed_once_per_process_in_the_worker(monkeypatch):
    import threading

    from explorer import projection, workers

    calls, done = [], threading.Event()

    def fake_run(fn, *args, **kw):
        calls.append((fn, args[0].shape))
        done.set()

    monkeypatch.setattr(workers, "run_stoppable", fake_run)
    monkeypatch.setitem(projection._WARM, "started", False)
    monkeypatch.setenv("EXPLORER_UMAP_WARMUP", "1")
    assert projection.warm_umap() is True and done.wait(10)
    from explorer.umap_fit import fit

    assert calls == [(fit, (64, 4))]  # the torch-free fit, in the worker
    assert projection.warm_umap() is False and len(calls) == 1  # once per process
    monkeypatch.setitem(projection._WARM, "started", False)
    monkeypatch.setenv("EXPLORER_UMAP_WARMUP", "0")
    assert projection.warm_umap() is False  # turned off
    monkeypatch.delenv("EXPLORER_UMAP_WARMUP")
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert projection.warm_umap() is False  # by default not on a 2-core machine
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert projection.warm_umap() is True  # but on a laptop's 8

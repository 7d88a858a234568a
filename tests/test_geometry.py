import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from explorer.geometry import cross_overlap, layer_profile, neighbour_tables
from explorer.intrinsic_dim import fit_twonn, twonn, twonn_scaling
from explorer.neighborhoods import knn, label_overlap, overlap


def subspace(n, d, D=100, seed=0):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.standard_normal((n, d)) @ rng.standard_normal((d, D)))


def reference_twonn(X, discard=0.1, mle=False):
    """The formula in plain float64 numpy: r2/r1 from full distance matrices, line through the origin."""
    X = np.asarray(X, dtype=np.float64)
    D = cdist(X, X)
    np.fill_diagonal(D, np.inf)
    r = np.sort(D, axis=1)[:, :2]
    mu = r[:, 1] / r[:, 0]
    n = len(mu)
    if mle:
        return (n - 1) / np.log(mu).sum()
    m = int(n * (1 - discard))
    x = np.sort(np.log(mu))[:m]
    y = -np.log(1 - np.arange(1, m + 1) / n)
    return (x @ y) / (x @ x)


@pytest.mark.parametrize("d", [2, 5, 10])
def test_gaussian_on_a_linear_subspace(d):
    r = twonn(subspace(4000, d, seed=d))
    assert abs(r.id - d) / d < 0.05
    assert r.n_used == 3600 and r.n_points == 4000 and r.n_duplicates == 0


def test_swiss_roll_is_about_two():
    from sklearn.datasets import make_swiss_roll

    X, _ = make_swiss_roll(4000, random_state=0)
    assert abs(twonn(torch.from_numpy(X)).id - 2) < 0.15


def test_values_equal_a_float64_numpy_reference():
    X = subspace(1500, 7, D=40, seed=3)
    ref = reference_twonn(X.numpy())
    assert twonn(X, dtype=torch.float64).id == pytest.approx(ref, abs=1e-9)
    assert twonn(X).id == pytest.approx(ref, abs=1e-6)  # float32 products, exact distances
    assert twonn(X, estimator="mle").id == pytest.approx(reference_twonn(X.numpy(), mle=True), abs=1e-6)
    assert twonn(X, discard_fraction=0.3).id == pytest.approx(reference_twonn(X.numpy(), discard=0.3), abs=1e-6)
    with pytest.raises(ValueError, match="discard_fraction"):
        twonn(X, discard_fraction=0.0)


def test_duplicates_are_removed_and_counted():
    X = subspace(1000, 4, seed=1)
    Xd = torch.cat([X, X[:37], X[5:6], X[5:6]])
    r = twonn(Xd)
    assert r.n_duplicates == 39 and r.n_points == 1000
    assert r.id == pytest.approx(twonn(X).id, abs=1e-9)


def test_knn_matches_brute_force_in_all_regimes():
    for X in (subspace(700, 3, D=50), subspace(300, 60, D=500), torch.randn(500, 8, generator=torch.Generator().manual_seed(0))):
        d, i = knn(X, 5)
        D = cdist(X.numpy(), X.numpy())
        np.fill_diagonal(D, np.inf)
        ref_i = np.argsort(D, axis=1, kind="stable")[:, :5]
        assert np.allclose(d.numpy(), np.take_along_axis(D, ref_i, 1), rtol=1e-5, atol=1e-5)
        assert (i.numpy() == ref_i).mean() > 0.999


def test_overlaps_have_their_known_values():
    X = subspace(1000, 6, seed=2)
    assert overlap(X, X, 10) == 1.0
    Q, _ = torch.linalg.qr(torch.randn(100, 100, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    assert overlap(X, 3 * X @ Q + 1, 10) == pytest.approx(1.0, abs=1e-3)
    perm = torch.randperm(1000, generator=torch.Generator().manual_seed(0))
    assert overlap(X, X[perm], 10) == pytest.approx(10 / 999, abs=0.01)
    centres = torch.tensor([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]])
    labels = torch.arange(300) % 3
    clusters = centres[labels] + torch.randn(300, 2, generator=torch.Generator().manual_seed(2))
    assert label_overlap(clusters, labels, 10) == 1.0
    noisy = labels.clone()
    noisy[:30] = (noisy[:30] + 1) % 3
    assert label_overlap(clusters, noisy, 10) < 1.0


def test_class_weighted_label_overlap_counts_each_class_once():
    # a big well-separated class and a small class mixed into its neighbour: plain mean hides it
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (270, 2))
    b = rng.normal(50, 1, (25, 2))
    c = rng.normal(50, 1, (5, 2))
    X = torch.from_numpy(np.concatenate([a, b, c]))
    y = np.array([0] * 270 + [1] * 25 + [2] * 5)
    plain, weighted = label_overlap(X, y, 5), label_overlap(X, y, 5, class_weighted=True)
    assert plain > weighted
    assert plain == pytest.approx((270 + 25 * 0.8 + 5 * 0.05) / 300, abs=0.03)


@pytest.mark.parametrize(
    "X, k, msg",
    [
        (torch.zeros(50, 3), 5, "at least 3 distinct points"),
        (torch.randn(5, 3), 5, "k must be between 1 and N - 1"),
        (torch.tensor([[0.0, 1.0], [float("nan"), 0.0], [1.0, 1.0], [2.0, 0.0]]), 1, "NaN or infinite"),
    ],
)
def test_errors_are_clear(X, k, msg):
    with pytest.raises(ValueError, match=msg):
        knn(X, k)


def test_twonn_errors_and_fit_arguments():
    with pytest.raises(ValueError, match="at least 3 distinct"):
        twonn(torch.ones(10, 4))
    with pytest.raises(ValueError, match="estimator"):
        fit_twonn(np.array([1.5, 2.0, 3.0]), estimator="mean")


def test_decimation_levels():
    X = subspace(2000, 5, seed=4)
    s = twonn_scaling(X, n_min=20)
    assert s.n_parts.tolist() == [1, 2, 4, 8, 16, 32, 65]  # DADApy: rint(N / size), size = rint(N / 2^i)
    assert s.id_mean[0] == pytest.approx(twonn(X).id) and s.id_error[0] == 0
    assert np.all(np.diff(s.scale) > 0)  # fewer points per part: larger neighbour distances
    assert np.all(np.abs(s.id_mean[:4] - 5) < 0.6)


def test_layer_profile_and_cross_overlap_on_a_zoo_model():
    from explorer.activations import extract_activations
    from explorer.checkpoint import load_checkpoint
    from explorer.data import load_probe
    from explorer.zoo import ZOO_DIR

    p = load_probe("digits", 300)
    acts = extract_activations(load_checkpoint(ZOO_DIR / "digits-mlp_clf-s0.json")[0], p.x, include_input=True)
    prof = layer_profile(acts, p.y, k=10)
    assert prof["layer"].tolist() == ["input", "body.relu1", "body.relu2", "body.relu3", "head"]
    assert prof["id"].iloc[0] == pytest.approx(twonn(acts["input"]).id)
    # a trained classifier separates the classes more with depth
    assert prof["label overlap"].iloc[-1] > prof["label overlap"].iloc[0] + 0.05 and prof["label overlap"].iloc[-1] > 0.9
    t = neighbour_tables(acts, 10)
    cross = cross_overlap(t, t)
    assert len(cross) == 25 and (cross[cross["depth A"] == cross["depth B"]]["overlap"] == 1.0).all()

"""Representation similarity: known answers, a plain float64 numpy reference, degenerate inputs."""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.stats import ortho_group

from explorer.similarity import (
    CKA_MEASURES,
    MEASURES,
    UNBIASED_ONLY,
    check_gram_memory,
    cka,
    corresponding_layers,
    procrustes,
    relu_cka,
    relu_procrustes,
    similarity,
    similarity_matrix,
)


def gauss(n, d, seed):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def relu_layer(n, d, seed):
    """Activations of a random ReLU layer: non-negative, with a few dead-ish units."""
    g = torch.Generator().manual_seed(seed)
    return torch.relu(torch.randn(n, 24, generator=g) @ torch.randn(24, d, generator=g) + 0.3)


# ------------------------------------------------------------------ a plain float64 numpy reference


def np_hsic(K, L, debiased):
    n = len(K)
    if not debiased:
        H = np.eye(n) - 1.0 / n
        return np.trace(K @ H @ L @ H) / (n - 1) ** 2
    K, L = K.copy(), L.copy()
    np.fill_diagonal(K, 0)
    np.fill_diagonal(L, 0)
    one = np.ones(n)
    # Song et al. (2012), Theorem 2
    return (np.trace(K @ L) + (one @ K @ one) * (one @ L @ one) / ((n - 1) * (n - 2))
            - 2.0 / (n - 2) * (one @ K @ L @ one)) / (n * (n - 3))


def np_cka_from_grams(K, L, debiased):
    return np_hsic(K, L, debiased) / math.sqrt(np_hsic(K, K, debiased) * np_hsic(L, L, debiased))


def np_unit_columns(X):
    Xc = X - X.mean(0)
    norms = np.linalg.norm(Xc, axis=0)
    return np.where(norms > 0, Xc / np.where(norms > 0, norms, 1), 0)


def np_gram(X, measure, fraction=1.0):
    if measure == "cka_linear":
        return X @ X.T
    if measure == "cka_rbf":
        d2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
        return np.exp(-d2 / (2 * fraction**2 * np.median(d2)))
    U = np_unit_columns(X)
    if measure == "relu_cka":
        return (U[:, None, :] * U[None, :, :]).max(-1)
    d1 = np.abs(U[:, None, :] - U[None, :, :]).sum(-1)
    return np.exp(-d1 / (fraction * np.median(d1)))


def np_procrustes(X, Y):
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Xc, Yc = Xc / np.linalg.norm(Xc), Yc / np.linalg.norm(Yc)
    return np.linalg.svd(Xc.T @ Yc, compute_uv=False).sum()


def np_relu_procrustes(X, Y):
    """Godfrey et al.'s G_ReLU-Procrustes of dense layers, by brute force over every one-to-one matching
    of units (no assignment solver): units scaled to norm 1 (no centring), the narrower layer padded
    with zero units, 1 - sqrt((|X|^2 + |Y|^2 - 2 matched) / 4C)."""
    U = X / np.where(np.linalg.norm(X, axis=0) > 0, np.linalg.norm(X, axis=0), 1)
    V = Y / np.where(np.linalg.norm(Y, axis=0) > 0, np.linalg.norm(Y, axis=0), 1)
    C = U.T @ V
    if C.shape[0] > C.shape[1]:
        C = C.T
    best = max(sum(C[i, p[i]] for i in range(C.shape[0])) for p in itertools.permutations(range(C.shape[1]), C.shape[0]))
    d2 = (U**2).sum() + (V**2).sum() - 2 * best
    return 1 - math.sqrt(max(d2, 0) / (4 * max(X.shape[1], Y.shape[1])))


@pytest.mark.parametrize("measure", CKA_MEASURES)
@pytest.mark.parametrize("debiased", [False, True])
def test_cka_family_equals_numpy_float64(measure, debiased):
    X = relu_layer(150, 20, 0)
    Y = X[:, 8:] * torch.linspace(0.5, 2, 12) + 0.7 * relu_layer(150, 12, 1)  # related, not equal
    debiased = debiased or measure in UNBIASED_ONLY  # Godfrey et al.'s CKA is unbiased only
    want = np_cka_from_grams(np_gram(X.double().numpy(), measure, 0.8), np_gram(Y.double().numpy(), measure, 0.8), debiased)
    got = similarity(X, Y, measure, debiased, fraction=0.8)  # float32 input, as activations are
    assert abs(got - want) < 1e-6
    assert 0.05 < abs(want) < 0.999  # a value that says something


def test_procrustes_measures_equal_numpy_float64():
    X = relu_layer(300, 6, 2)
    Y = X[:, [4, 0, 5, 2, 1]] * torch.tensor([1.0, 3.0, 0.5, 2.0, 1.5]) + 2.0 * relu_layer(300, 5, 3)
    Xn, Yn = X.double().numpy(), Y.double().numpy()
    assert abs(procrustes(X, Y) - np_procrustes(Xn, Yn)) < 1e-6
    assert abs(relu_procrustes(X, Y) - np_relu_procrustes(Xn, Yn)) < 1e-6
    assert abs(relu_procrustes(Y, X) - relu_procrustes(X, Y)) < 1e-6  # widths differ, matching is symmetric
    assert 0.3 < relu_procrustes(X, Y) < 0.99


def test_float32_linear_cka_on_10k_by_512_matches_float64():
    g = torch.Generator().manual_seed(4)
    X = torch.relu(torch.randn(10000, 512, generator=g))
    Y = torch.relu(X @ torch.randn(512, 512, generator=g) / 20 + torch.randn(10000, 512, generator=g))
    for debiased in (False, True):
        assert abs(cka(X, Y, debiased=debiased) - cka(X.double(), Y.double(), debiased=debiased)) < 1e-6


# ------------------------------------------------------------------ invariances


def test_cka_and_procrustes_are_one_under_rotation_and_isotropic_scaling():
    X = gauss(300, 40, 5)
    Q = torch.from_numpy(ortho_group.rvs(40, random_state=0)).float()
    Y = 3.7 * X @ Q + 2.0  # rotation, isotropic scaling, translation
    for kernel in ("linear", "rbf"):
        for debiased in (False, True):
            assert cka(X, Y, kernel, debiased) == pytest.approx(1.0, abs=1e-6)
    assert procrustes(X, Y) == pytest.approx(1.0, abs=1e-6)
    assert procrustes(X, Y, form="distance") == pytest.approx(0.0, abs=1e-6)
    assert procrustes(X, Y, form="angle") < 2e-3
    # but not under a general linear map, nor for unrelated data
    A = torch.randn(40, 40, generator=torch.Generator().manual_seed(1))
    assert cka(X, X @ A) < 0.9 and procrustes(X, X @ A) < 0.9
    assert procrustes(X, gauss(300, 40, 6)) < 0.5


def test_relu_measures_are_one_under_permutation_and_positive_scaling_and_drop_under_rotation():
    X = relu_layer(400, 32, 7)
    g = torch.Generator().manual_seed(8)
    perm, scale = torch.randperm(32, generator=g), torch.rand(32, generator=g) * 5 + 0.1
    Y = X[:, perm] * scale
    Q = torch.from_numpy(ortho_group.rvs(32, random_state=1)).float()
    R = X @ Q
    values = {
        "relu_procrustes": (relu_procrustes(X, Y), relu_procrustes(X, R)),
        "relu_cka max": (relu_cka(X, Y), relu_cka(X, R)),
        "relu_cka laplace": (relu_cka(X, Y, "laplace"), relu_cka(X, R, "laplace")),
    }
    for name, (same, rotated) in values.items():
        assert same == pytest.approx(1.0, abs=1e-6), name
        assert rotated < same - 0.05, name
    assert values["relu_procrustes"][1] < 0.6 and values["relu_cka max"][1] < 0.6
    # the rotation-invariant measures cannot tell the rotation apart
    assert cka(X, R) == pytest.approx(1.0, abs=1e-6)
    # a negative scaling is not in the group
    assert relu_procrustes(X, -X) < 0.5


def test_debiased_cka_of_independent_gaussians_is_about_zero():
    X, Y = gauss(200, 512, 0), gauss(200, 512, 1)
    biased, unbiased = cka(X, Y), cka(X, Y, debiased=True)
    assert 0.65 < biased < 0.78  # the biased estimator sees similarity where there is none
    assert abs(unbiased) < 0.03
    assert abs(cka(X, Y, "rbf", debiased=True)) < 0.03


# ------------------------------------------------------------------ degenerate inputs


@pytest.mark.parametrize(
    "X, Y, kwargs, message",
    [
        (gauss(3, 5, 0), gauss(3, 5, 1), {"measure": "cka_linear", "debiased": True}, "at least 4 samples"),
        (torch.ones(50, 4), gauss(50, 4, 1), {"measure": "cka_linear"}, "constant over the samples"),
        (torch.full((50, 4), float("nan")), gauss(50, 4, 1), {"measure": "procrustes"}, "NaN"),
        (gauss(50, 4, 0), gauss(40, 4, 1), {"measure": "cka_rbf"}, "same samples"),
        (gauss(50, 4, 0), gauss(50, 4, 1), {"measure": "procrustes", "debiased": True}, "CKA measures"),
        (gauss(50, 4, 0), gauss(50, 4, 1), {"measure": "nope"}, "unknown measure"),
        (gauss(50, 4, 0), gauss(50, 4, 1), {"measure": "cka_rbf", "fraction": 0.0}, "must be positive"),
        (torch.zeros(50, 4).index_fill_(0, torch.tensor([0]), 1.0), gauss(50, 4, 1), {"measure": "cka_rbf"}, "bandwidth"),
    ],
)
def test_degenerate_inputs_give_clear_messages(X, Y, kwargs, message):
    with pytest.raises(ValueError, match=message):
        similarity(X, Y, **kwargs)


def test_dead_units_and_memory_guard():
    X = relu_layer(100, 10, 9)
    X[:, 3] = 0.0  # a dead unit: ignored, never a NaN
    assert relu_procrustes(X, X) == pytest.approx(1.0, abs=1e-6)
    assert relu_cka(X, X[:, torch.randperm(10)]) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="at most"):
        check_gram_memory(40000, 10)
    check_gram_memory(2000, 10)


# ------------------------------------------------------------------ all layer pairs


def _net(seed, n=300):
    g = torch.Generator().manual_seed(seed)
    h = gauss(n, 16, 0)  # the same inputs for every model
    out = {"input": h}
    for i in range(3):
        h = torch.relu(h @ torch.randn(h.shape[1], 24, generator=g) / 4)
        out[f"relu{i}"] = h
    return out


@pytest.mark.parametrize("measure", list(MEASURES))
def test_matrix_equals_pairwise_values(measure):
    A, B = _net(0), _net(1)
    df = similarity_matrix(A, B, measure)
    assert len(df) == 16 and df["note"].eq("").all()
    for _, r in df.sample(5, random_state=0).iterrows():
        assert r["similarity"] == pytest.approx(similarity(A[r["layer A"]], B[r["layer B"]], measure), abs=1e-9)
    same = similarity_matrix(A, None, measure).pivot(index="layer A", columns="layer B", values="similarity").to_numpy()
    assert np.allclose(np.diag(same), 1.0, atol=1e-6) and np.allclose(same, same.T)


def test_matrix_marks_an_undefined_layer_and_reports_progress():
    A, B = _net(0), _net(1)
    B = {**B, "relu1": torch.zeros(300, 24)}
    seen = []
    df = similarity_matrix(A, B, "cka_linear", progress=lambda f, text: seen.append(f))
    bad = df[df["layer B"] == "relu1"]
    assert bad["similarity"].isna().all() and bad["note"].str.contains("constant").all()
    assert df[df["layer B"] != "relu1"]["similarity"].notna().all()
    assert seen[-1] == pytest.approx(1.0) and seen == sorted(seen)
    with pytest.raises(ValueError, match="same samples"):
        similarity_matrix(A, {"x": gauss(10, 3, 0)}, "cka_linear")


def test_corresponding_layers():
    A, B = _net(0), _net(1)
    df = similarity_matrix(A, B, "cka_linear")
    fraction, table = corresponding_layers(df)
    assert list(table["layer A"]) == ["relu0", "relu1", "relu2"]  # the input, identical in both, is left out
    assert fraction == pytest.approx(table["same depth"].mean())
    # a frame where the best match of relu0 is relu1: 2 of 3 layers pass
    rows = [{"layer A": a, "layer B": b, "similarity": 1.0 if a == b else 0.5} for a in A for b in A]
    rows[5]["similarity"], rows[6]["similarity"] = 0.1, 2.0  # relu0 vs relu0 low, relu0 vs relu1 high
    import pandas as pd

    fraction, table = corresponding_layers(pd.DataFrame(rows))
    assert fraction == pytest.approx(2 / 3) and table.iloc[0]["most similar layer of B"] == "relu1"
    with pytest.raises(ValueError, match="same layers"):
        corresponding_layers(similarity_matrix(A, {"input": A["input"], "other": B["relu0"]}, "cka_linear"))

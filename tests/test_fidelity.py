"""Published names compute what their sources define. Each expected value is computed here from the
definition, in float64 numpy with explicit loops where that is clearest (sources in README and in the
docstrings of explorer/similarity.py, stitching.py, interpolation.py, intrinsic_dim.py, words.py)."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from explorer.similarity import godfrey_procrustes, relu_cka, relu_procrustes, similarity_matrix


def _relu_conv(n=60, c=6, h=5, w=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.relu(torch.randn(n, c, h, w, generator=g, dtype=torch.float64))


# ---------------------------------------------------------------- 1-3. Godfrey et al.'s measures


def _procrustes_reference(X, Y):
    """G_ReLU-Procrustes as modelsym's wreath_procrustes: pad channels, per-channel norm over (N, H, W),
    M = sum over n, h, w, LSA on M, d^2 = |X|^2 + |Y|^2 - 2 matched, 1 - sqrt(d^2 / 4C)."""
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    if X.shape[-1] != Y.shape[-1]:  # nearest-neighbour upsampling of the smaller map
        small, big = (X, Y) if X.shape[-1] < Y.shape[-1] else (Y, X)
        f = big.shape[-1] // small.shape[-1]
        up = np.zeros(small.shape[:2] + big.shape[2:])
        for hh in range(big.shape[2]):
            for ww in range(big.shape[3]):
                up[:, :, hh, ww] = small[:, :, hh // f, ww // f]
        X, Y = (up, big) if small is X else (big, up)
    C = max(X.shape[1], Y.shape[1])
    X = np.concatenate([X, np.zeros((X.shape[0], C - X.shape[1]) + X.shape[2:])], 1)
    Y = np.concatenate([Y, np.zeros((Y.shape[0], C - Y.shape[1]) + Y.shape[2:])], 1)
    for Z in (X, Y):
        for c in range(C):
            norm = np.sqrt((Z[:, c] ** 2).sum())
            if norm > 0:
                Z[:, c] /= norm
    M = np.zeros((C, C))
    for i in range(C):
        for j in range(C):
            M[i, j] = (X[:, i] * Y[:, j]).sum()
    r, cidx = linear_sum_assignment(M, maximize=True)
    d2 = (X**2).sum() + (Y**2).sum() - 2 * M[r, cidx].sum()
    return 1 - math.sqrt(max(d2, 0) / (4 * C))


def test_relu_procrustes_is_one_for_a_channel_permutation_times_positive_scaling_of_a_conv_layer():
    X = _relu_conv()
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(1))
    scale = torch.rand(6, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 5 + 0.1
    Y = X[:, perm] * scale[None, :, None, None]
    assert relu_procrustes(X, Y) == pytest.approx(1.0, abs=1e-7)
    assert relu_cka(X, Y) == pytest.approx(1.0, abs=1e-7)


def test_per_position_scalings_and_mirrors_are_not_in_g_relu():
    X = _relu_conv()
    pos = torch.rand(1, 1, 5, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 10 + 0.1
    scaled = X * pos  # a different positive scale at each position: not a channel symmetry
    assert relu_procrustes(X, scaled) < 0.97
    assert relu_cka(X, scaled) < 0.97
    mirrored = X.flip(-1)  # every channel mirrored left-right
    assert relu_procrustes(X, mirrored) < 0.97
    # G_ReLU-CKA sums each channel over positions before the max, so a mirror of every channel keeps it at 1
    assert relu_cka(X, mirrored) == pytest.approx(1.0, abs=1e-9)


def test_relu_procrustes_equals_the_authors_formula_on_random_layers_of_unequal_shape():
    X, Y = _relu_conv(c=6, seed=4), _relu_conv(c=4, h=5, w=5, seed=5)
    assert relu_procrustes(X, Y) == pytest.approx(_procrustes_reference(X, Y), abs=1e-9)
    Xd = torch.relu(torch.randn(60, 7, generator=torch.Generator().manual_seed(6), dtype=torch.float64))
    Z = _relu_conv(c=5, h=10, w=10, seed=7)[:, :, :, :]
    Z10 = Z[:, :, :, :]
    assert relu_procrustes(Xd, Z10) == pytest.approx(_procrustes_reference(Xd[:, :, None, None], Z10), abs=1e-9)
    small = _relu_conv(c=5, h=5, w=5, seed=8)
    assert relu_procrustes(small, Z10) == pytest.approx(_procrustes_reference(small, Z10), abs=1e-9)


def _unbiased_hsic(K, L):
    n = len(K)
    K, L = K.copy(), L.copy()
    np.fill_diagonal(K, 0)
    np.fill_diagonal(L, 0)
    one = np.ones(n)
    return ((K * L).sum() + (one @ K @ one) * (one @ L @ one) / ((n - 1) * (n - 2))
            - 2 / (n - 2) * (K @ one) @ (L @ one)) / (n * (n - 3))


def _relu_cka_reference(X, Y):
    """modelsym's wreath_cka: centre and norm each channel over (N, H, W), K_ij = max_c sum_hw x_i x_j, unbiased HSIC."""
    def kernel(Z):
        Z = np.asarray(Z, dtype=np.float64).copy()
        for c in range(Z.shape[1]):
            Z[:, c] -= Z[:, c].mean()
            norm = np.sqrt((Z[:, c] ** 2).sum())
            if norm > 0:
                Z[:, c] /= norm
        n = len(Z)
        K = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                K[i, j] = max((Z[i, c] * Z[j, c]).sum() for c in range(Z.shape[1]))
        return K

    K, L = kernel(X), kernel(Y)
    return _unbiased_hsic(K, L) / math.sqrt(_unbiased_hsic(K, K) * _unbiased_hsic(L, L))


def test_relu_cka_is_the_unbiased_max_kernel_cka_of_the_authors():
    X, Y = _relu_conv(n=30, c=4, h=3, w=3, seed=9), _relu_conv(n=30, c=3, h=2, w=2, seed=10)
    assert relu_cka(X, Y) == pytest.approx(_relu_cka_reference(X, Y), abs=1e-9)
    Xd = torch.relu(torch.randn(30, 8, generator=torch.Generator().manual_seed(11), dtype=torch.float64))
    assert relu_cka(Xd, Y) == pytest.approx(_relu_cka_reference(Xd[:, :, None, None], Y), abs=1e-9)


def test_orthogonal_procrustes_in_godfreys_form():
    """Table 2's row: uncentred, unit Frobenius norm, channels as features, 1 - sqrt(2 - 2 |X^T Y|_*) / 2."""
    X, Y = _relu_conv(c=6, seed=12), _relu_conv(c=6, seed=13)
    x = X.numpy().transpose(0, 2, 3, 1).reshape(-1, 6)
    y = Y.numpy().transpose(0, 2, 3, 1).reshape(-1, 6)
    x, y = x / np.linalg.norm(x), y / np.linalg.norm(y)
    want = 1 - math.sqrt(max(2 - 2 * np.linalg.svd(x.T @ y, compute_uv=False).sum(), 0)) / 2
    assert godfrey_procrustes(X, Y) == pytest.approx(want, abs=1e-9)
    Q = torch.linalg.qr(torch.randn(6, 6, generator=torch.Generator().manual_seed(14), dtype=torch.float64))[0]
    rotated = torch.einsum("nchw,dc->ndhw", X, Q) * 3.0
    assert godfrey_procrustes(X, rotated) == pytest.approx(1.0, abs=1e-7)


def test_the_layer_matrix_keeps_channels_for_the_g_relu_measures():
    acts = {"conv": _relu_conv(c=4, seed=15).float(), "dense": torch.relu(torch.randn(60, 5, dtype=torch.float32))}
    mirrored = {"conv": acts["conv"].flip(-1), "dense": acts["dense"][:, [2, 0, 1, 4, 3]] * 2}
    frame = similarity_matrix(acts, mirrored, "relu_procrustes").set_index(["layer A", "layer B"])["similarity"]
    assert frame[("dense", "dense")] == pytest.approx(1.0, abs=1e-6)
    assert frame[("conv", "conv")] < 0.97  # flattened, a mirror would be a permutation of units: 1.000


# ---------------------------------------------------------------- 4-5. the stitch recipe and its penalty


def test_the_permutation_stitch_defaults_are_the_authors_recipe():
    from explorer.stitching import PERM_RECIPE

    assert PERM_RECIPE == {"init": "sinkhorn of uniform random", "init_sinkhorn_iters": 100, "sinkhorn_iters": 16,
                           "alpha": 0.1, "optimizer": "SGD", "momentum": 0.0, "lr": 1e-3, "batch": 32, "epochs": 20,
                           "scales_from_epoch": 0.5, "bias": False}


def test_the_stitching_penalty_is_the_mean_of_a_and_b_minus_the_stitched_accuracy():
    from explorer.stitching import penalty

    assert penalty(0.90, 0.80, 0.70) == pytest.approx(0.15)


def test_both_barriers_on_a_toy_curve():
    from explorer.interpolation import barriers

    alphas = np.linspace(0, 1, 5)
    loss = np.array([1.0, 2.0, 4.0, 2.5, 3.0])
    acc = np.array([0.9, 0.7, 0.4, 0.6, 0.5])
    b = barriers(pd.DataFrame({"alpha": alphas, "split": "test", "loss": loss, "accuracy": acc})).iloc[0]
    assert b["loss barrier (Git Re-Basin)"] == pytest.approx(4.0 - (1.0 + 3.0) / 2)
    assert b["loss barrier (Entezari et al.)"] == pytest.approx(max(loss - ((1 - alphas) * 1.0 + alphas * 3.0)))
    assert b["accuracy barrier (Git Re-Basin)"] == pytest.approx((0.9 + 0.5) / 2 - 0.4)
    assert b["accuracy barrier (Entezari et al.)"] == pytest.approx(max(((1 - alphas) * 0.9 + alphas * 0.5) - acc))


# ---------------------------------------------------------------- 7. decimation as DADApy


def test_decimation_levels_errors_and_scales_as_dadapy():
    from explorer.intrinsic_dim import twonn, twonn_scaling

    X = torch.randn(400, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    res = twonn_scaling(X, seed=3)
    assert list(res.n_per_part) == [400, 200, 100, 50, 25, 12]  # round(N / 2^i) while above 10 points
    assert list(res.n_parts) == [1, 2, 4, 8, 16, 33]  # DADApy: rint(N / size) subsets
    rng = np.random.default_rng(3)  # the same independent subsets, drawn as the library draws them
    for level, (parts, size) in enumerate(zip(res.n_parts, res.n_per_part)):
        if parts == 1:
            subsets = [np.arange(400)]
        else:
            subsets = [rng.choice(400, size, replace=False) for _ in range(parts)]
        fits = [twonn(X[torch.from_numpy(s)]) for s in subsets]
        ids = np.array([f.id for f in fits])
        assert res.id_mean[level] == pytest.approx(ids.mean(), abs=1e-9)
        assert res.id_error[level] == pytest.approx(ids.std(ddof=0) / math.sqrt(parts) if parts > 1 else 0.0, abs=1e-9)
        assert res.scale[level] == pytest.approx(np.mean([f.r_mean for f in fits]), abs=1e-9)


# ---------------------------------------------------------------- 8. the word table's protocol


def test_the_word_table_follows_relreps_by_default():
    import inspect

    from explorer.cli import build_parser
    from explorer.words import shared_vocabulary, word_table

    args = build_parser().parse_args(["words"])
    assert args.k == 5 and args.skip_top == 400
    assert inspect.signature(word_table).parameters["ddof"].default == 1
    first = shared_vocabulary(100, skip_top=400).words[0]
    assert first not in shared_vocabulary(100, skip_top=0).words[:5]


# ---------------------------------------------------------------- 9. latentis' translation


def test_anchor_translation_standardises_each_feature_as_latentis():
    from explorer.stitching import StitchData, fit_stitch

    g = torch.Generator().manual_seed(0)
    a = torch.randn(200, 5, generator=g, dtype=torch.float64) * torch.tensor([1.0, 2, 3, 4, 5], dtype=torch.float64) + 3
    b = torch.randn(200, 4, generator=g, dtype=torch.float64) * 2 - 1
    data = StitchData(a.float(), b.float(), torch.zeros(200, dtype=torch.long), a.float(), b.float())
    s = fit_stitch("translation (Procrustes, anchors)", data, back_b=None)
    # latentis: standardise with the anchors' mean and unbiased std, zero-pad, R = U V^T of x^T y, undo y's scaling
    an, bn = a.numpy(), b.numpy()
    xs = (an - an.mean(0)) / an.std(0, ddof=1)
    ys = (bn - bn.mean(0)) / bn.std(0, ddof=1)
    ys_pad = np.concatenate([ys, np.zeros((200, 1))], 1)
    U, _, Vt = np.linalg.svd(xs.T @ ys_pad)
    out = ((xs @ (U @ Vt))[:, :4]) * bn.std(0, ddof=1) + bn.mean(0)
    assert s(a.float()).double().numpy() == pytest.approx(out, abs=1e-4)


# ---------------------------------------------------------------- 10. label overlap, both ways


def test_label_overlap_plain_and_class_weighted():
    from explorer.neighborhoods import label_overlap_of_indices

    nn = torch.tensor([[1, 2], [0, 2], [0, 1], [0, 1]])
    y = np.array([0, 0, 0, 1])
    per = np.array([1.0, 1.0, 1.0, 0.0])
    assert label_overlap_of_indices(nn, y) == pytest.approx(per.mean())  # the talk's plain mean
    assert label_overlap_of_indices(nn, y, class_weighted=True) == pytest.approx((1.0 + 0.0) / 2)  # DADApy's default

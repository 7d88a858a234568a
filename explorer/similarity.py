"""Representation similarity of two layers seen on the same samples.

Every measure takes X [N, D1] and Y [N, D2] (rows are the same N samples, on CPU or CUDA) and
returns a similarity in [0, 1], 1 when Y equals X up to the measure's group of transformations:

* ``cka`` (Kornblith et al., ICML 2019): centred kernel alignment. ``kernel="linear"`` works in
  feature space, ``||X^T Y||_F^2 / (||X^T X||_F ||Y^T Y||_F)``, so it costs O(N D^2) rather than
  O(N^2 D); invariant to rotations and isotropic scaling. ``kernel="rbf"`` uses
  ``exp(-d^2 / (2 sigma^2))`` with ``sigma^2 = fraction^2 x median squared distance``.
  ``debiased=True`` replaces HSIC by its unbiased estimator (Song et al., JMLR 2012), written as
  the inner product of U-centred Gram matrices; it is about 0 for independent data, and can be
  slightly negative.
* ``procrustes`` (Williams et al. 2021, the shape metric): orthogonal Procrustes on centred,
  unit-Frobenius, flattened data, ``s = ||X^T Y||_*`` (the nuclear norm), 1 exactly when Y is a
  rotation of X up to scale; ``form="distance"`` gives ``1 - s``, ``form="angle"`` ``arccos(s)``.
* The measures of Godfrey et al. (NeurIPS 2022), on activations that keep their channel axis,
  X [N, C, H, W] (H = W = 1 for dense layers), as the authors' code does (pnnl/modelsym,
  ``model_symmetries/alignment/alignment.py``: ``wreath_procrustes`` L61-102, ``wreath_cka``
  L104-148, ``ortho_procrustes`` L150-189; appendix D.7). Layers of unequal shape are first made
  alike as there: the smaller feature map is upsampled by nearest neighbour (a whole-number factor),
  the layer with fewer channels is padded with zero channels, and C is the larger channel count.

  - ``relu_procrustes`` (Def. 5.2): no centring; each channel divided by its norm over (N, H, W);
    M = sum over n, h, w of X~[n, :, h, w] Y~[n, :, h, w]^T (C x C); the matching maximises the
    matched sum of M (``scipy.optimize.linear_sum_assignment``); d^2 = ||X~||^2 + ||Y~||^2 - 2 x
    matched sum, and the similarity is ``1 - sqrt(d^2 / (4 C))``. Invariant to permutations times
    positive scalings of channels (the ReLU intertwiner group), and not to rotations.
  - ``procrustes_godfrey`` (their Table 2 row, for comparison on the same scale): no centring, the
    whole tensor scaled to unit Frobenius norm, channels as the features: ``1 - sqrt(2 - 2 ||M||_*) / 2``.
  - ``relu_cka`` (Def. 5.3): each channel centred over (N, H, W) and divided by its norm there;
    the kernel is ``k(x, x') = max over channels c of sum over (h, w) of x[c, h, w] x'[c, h, w]``
    (not positive semi-definite, as the authors remark), with the unbiased HSIC (Nguyen, Raghu and
    Kornblith 2021, eq. 3): always debiased, as in the paper.
  - ``relu_cka_laplace`` (eq. 5.6): the positive-definite Laplace kernel ``exp(-||x - x'||_1 / sigma)``
    on the same per-channel normalisation, unbiased HSIC. The authors' code has no Laplace variant
    and the paper gives no bandwidth: ``sigma = fraction x the median L1 distance`` is ours.

Precision: data is centred first and products of centred float32 data stay float32 (they agree
with float64 to about 1e-8 here); every sum of squares, norm, Gram centring and final inner
product is float64. An uncentred float32 Gram matrix is what loses accuracy (0.3% of linear CKA on
our 10k x 512 benchmark pair, 2% in the issue's case). ``similarity_matrix`` compares every layer of one model with every
layer of another, preparing each layer once (centring, norms, Gram matrices) and reusing it for
every pair.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch
from scipy.optimize import linear_sum_assignment

# name -> (label, short description); the page's choices
MEASURES: dict[str, tuple[str, str]] = {
    "cka_linear": ("Linear CKA", "invariant to rotations and isotropic scaling"),
    "cka_rbf": ("RBF CKA", "Gaussian kernel, bandwidth from the median distance"),
    "procrustes": ("Procrustes shape (Williams et al.)", "nuclear norm of X^T Y on centred, unit-norm, flattened data"),
    "procrustes_godfrey": ("Orthogonal Procrustes (Godfrey et al.)",
                           "their Table 2 form: uncentred, channels as features, 1 - sqrt(2 - 2|X^T Y|_*)/2"),
    "relu_procrustes": ("G_ReLU Procrustes", "Godfrey et al. Def. 5.2: best matching of channels after removing their scale"),
    "relu_cka": ("G_ReLU CKA (max kernel)", "Godfrey et al. Def. 5.3: max over channels of the per-channel inner product"),
    "relu_cka_laplace": ("G_ReLU CKA (Laplace kernel)",
                         "Godfrey et al. eq. 5.6, exp(-|x - x'|_1 / sigma); the median bandwidth rule is ours"),
}
# the CKA family: these take ``debiased`` (the unbiased HSIC estimator)
CKA_MEASURES = ("cka_linear", "cka_rbf", "relu_cka", "relu_cka_laplace")
# Godfrey et al. define their CKA with the unbiased HSIC only
UNBIASED_ONLY = ("relu_cka", "relu_cka_laplace")
# measures that keep the channel axis of convolutional layers (the others flatten every layer)
CHANNEL_MEASURES = ("procrustes_godfrey", "relu_procrustes", "relu_cka", "relu_cka_laplace")
# measures that build an N x N Gram matrix per layer (memory and time grow as N^2)
GRAM_MEASURES = ("cka_rbf", "relu_cka", "relu_cka_laplace")
FORMS = ("similarity", "distance", "angle")


# ---------------------------------------------------------------- checks and preparation


def _as_2d(X, what: str) -> torch.Tensor:
    X = torch.as_tensor(X)
    if X.dim() == 1:
        X = X[:, None]
    elif X.dim() > 2:
        X = X.reshape(len(X), -1)
    if X.dim() != 2 or X.shape[1] == 0:
        raise ValueError(f"{what} must be a non-empty [N, D] array (got shape {tuple(X.shape)})")
    return _finite(X, what)


def _finite(X: torch.Tensor, what: str) -> torch.Tensor:
    """X itself, or a clear error naming how many samples hold NaN or infinite values."""
    if not torch.isfinite(X.sum()) and not torch.isfinite(X).all():
        bad = int((~torch.isfinite(X)).flatten(1).any(dim=1).sum())
        raise ValueError(f"{what} contains NaN or infinite values in {bad} samples; similarity is undefined")
    return X


def _as_4d(X, what: str) -> torch.Tensor:
    """[N, C, H, W]: dense [N, C] becomes [N, C, 1, 1], [N, C, L] becomes [N, C, L, 1]."""
    X = torch.as_tensor(X)
    X = X if X.dtype in (torch.float32, torch.float64) else X.float()
    if X.dim() == 1:
        X = X[:, None]
    while X.dim() < 4:
        X = X[..., None]
    if X.dim() != 4 or X.shape[1] == 0:
        raise ValueError(f"{what} must be [N, C] or [N, C, H, W] activations (got shape {tuple(X.shape)})")
    return _finite(X, what)


def _per_channel_unit(X: torch.Tensor) -> torch.Tensor:
    """Each channel of X [N, C, H, W] divided by its norm over (N, H, W); zero channels stay zero."""
    norms = torch.linalg.vector_norm(X, dim=(0, 2, 3), dtype=torch.float64)
    live = norms > 1e-12 * max(1.0, float(norms.max()))
    return X * torch.where(live, 1.0 / torch.where(live, norms, 1.0), 0.0).to(X.dtype)[None, :, None, None]


def _channel_cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """M [C_a, C_b] = sum over n, h, w of a[n, :, h, w] b[n, :, h, w]^T after the smaller map of the two is
    upsampled by nearest neighbour to the larger and normalised again (as modelsym does), in float64.

    a and b arrive normalised at their own size. Upsampling the small one by a factor f repeats each
    value f^2 times, so normalising it afterwards divides it by f; and summing it against the large one
    equals summing the small one against the large one sum-pooled over f x f blocks. So the large tensor
    is pooled (no memory for the repeated copy) and M divided by f."""
    (ha, wa), (hb, wb) = a.shape[2:], b.shape[2:]
    if (ha, wa) != (hb, wb):
        small, big = (a, b) if ha * wa < hb * wb else (b, a)
        (hs, ws), (hg, wg) = small.shape[2:], big.shape[2:]
        if hg % hs or wg % ws or hg // hs != wg // ws:
            raise ValueError(f"feature maps of {hs}x{ws} and {hg}x{wg} are not related by a whole-number upsampling")
        f = hg // hs
        # normalising after the upsampling divides the small tensor by f more (f^2 copies of each value)
        pooled = torch.nn.functional.avg_pool2d(big.double(), f) * (f * f)
        m = torch.einsum("nchw,ndhw->cd", small.double(), pooled) / f
        return m if small is a else m.T
    return torch.einsum("nchw,ndhw->cd", a.double(), b.double())


def _check_n(n: int, debiased: bool, what: str) -> None:
    need = 4 if debiased else 2
    if n < need:
        estimator = "the debiased (unbiased HSIC) estimator" if debiased else "a similarity"
        raise ValueError(f"{what}: {estimator} needs at least {need} samples, got {n}")


def _centred(X: torch.Tensor, what: str) -> torch.Tensor:
    """X minus its column means, in the working precision: float64 for float64 input, else float32."""
    X = X if X.dtype in (torch.float32, torch.float64) else X.float()
    lo, hi = X.amin(dim=0), X.amax(dim=0)
    scale = max(1.0, float(torch.maximum(hi.abs(), lo.abs()).max()))
    if float((hi - lo).max()) <= 1e-12 * scale:
        raise ValueError(f"{what} is constant over the samples (a dead or constant layer): no similarity is defined")
    return X - X.mean(dim=0, keepdim=True)  # torch sums float32 by cascades: accurate to float32 rounding


def _frobenius(X: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(X, dtype=torch.float64))


def _median(values: torch.Tensor) -> float:
    """numpy's median (the mean of the two middle values for an even count), on any device."""
    flat = values.reshape(-1)
    if flat.device.type == "cpu":
        return float(np.median(flat.numpy()))  # one selection pass; torch's kthvalue is slower on CPU
    m = flat.numel()
    lo = flat.kthvalue((m + 1) // 2).values
    if m % 2 or int((flat <= lo).sum()) > (m + 1) // 2:
        return float(lo)  # odd count, or the next order statistic is lo again
    return float((lo + torch.where(flat > lo, flat, torch.full_like(flat, float("inf"))).min()) / 2)


# ---------------------------------------------------------------- kernels (N x N)


def _sq_distances(Xc: torch.Tensor) -> torch.Tensor:
    r = (Xc * Xc).sum(dim=1, dtype=torch.float64)
    d2 = (Xc @ Xc.T).double().mul_(-2.0).add_(r[:, None]).add_(r[None, :])
    return d2.clamp_min_(0.0).fill_diagonal_(0.0)


def _rbf_gram(Xc: torch.Tensor, fraction: float, what: str) -> torch.Tensor:
    d2 = _sq_distances(Xc)
    med = _median(d2)  # over the whole matrix, diagonal included, as in Kornblith et al.'s code
    if med <= 1e-6 * float(d2.mean()):  # zero up to the rounding of the float32 product
        raise ValueError(f"{what}: more than half of the sample pairs coincide, so the RBF bandwidth (median distance) is 0")
    return d2.mul_(-1.0 / (2.0 * fraction**2 * med)).exp_()


def _pairwise(U: torch.Tensor, op: str, budget: int | None = None) -> torch.Tensor:
    """K[i, j] = max_u U[i, u] U[j, u] (``op="max"``) or sum_u |U[i, u] - U[j, u]| (``op="l1"``).

    No matrix product computes these, so they are built block by block, with blocks of about
    ``budget`` elements (on the CPU small enough to stay in cache; on a GPU large, for few launches),
    over the upper triangle only, then mirrored.
    """
    n, d = U.shape
    budget = budget or (1 << 18 if U.device.type == "cpu" else 1 << 26)
    K = torch.zeros((n, n), dtype=torch.float64, device=U.device)
    cols = min(n, max(1, budget // d))
    rows = max(1, budget // (cols * d))
    for i in range(0, n, rows):
        a = U[i : i + rows, None, :]
        for j in range((i // cols) * cols, n, cols):
            b = U[None, j : j + cols, :]
            K[i : i + rows, j : j + cols] = ((a * b).amax(dim=2) if op == "max" else (a - b).abs_().sum(dim=2)).double()
    upper = torch.triu(K, diagonal=1)
    return upper + upper.T + torch.diag(torch.diagonal(K))


def _laplace_gram(U: torch.Tensor, fraction: float, what: str) -> torch.Tensor:
    d1 = _pairwise(U, "l1")
    med = _median(d1)
    if med <= 1e-6 * float(d1.mean()):
        raise ValueError(f"{what}: more than half of the sample pairs coincide, so the Laplace bandwidth (median distance) is 0")
    return d1.mul_(-1.0 / (fraction * med)).exp_()


def _centre_gram(K: torch.Tensor, debiased: bool) -> torch.Tensor:
    """H K H (biased HSIC), or the U-centred K with zero diagonal (unbiased HSIC, Song et al. 2012).

    In both cases HSIC(K, L) is proportional to the Frobenius inner product of the centred
    matrices, with a factor that cancels in CKA.
    """
    n = K.shape[0]
    K = K.clone()
    if not debiased:
        K -= K.mean(dim=0, keepdim=True)
        K -= K.mean(dim=1, keepdim=True)
        return K
    K.fill_diagonal_(0.0)
    col = K.sum(dim=0) / (n - 2)
    col -= col.sum() / (2 * (n - 1))
    K -= col[None, :]
    K -= col[:, None]
    return K.fill_diagonal_(0.0)


# ---------------------------------------------------------------- prepared layers and pairs


@dataclass
class Prepared:
    """One layer made ready for one measure: what every pair involving it reuses."""

    n: int
    width: int
    mat: torch.Tensor  # centred features, normalised features, or a centred Gram matrix
    norm: float  # the self term that normalises the measure
    extra: tuple = ()  # per-sample terms of the debiased feature-space estimator


def _prepare(X, measure: str, debiased: bool, fraction: float, what: str) -> Prepared:
    if measure in CHANNEL_MEASURES:
        return _prepare_channels(X, measure, fraction, what)
    X = _as_2d(X, what)
    n, d = X.shape
    _check_n(n, debiased, what)
    Xc = _centred(X, what)
    if measure == "cka_linear" and not debiased:
        return Prepared(n, d, Xc, float(torch.linalg.matrix_norm((Xc.T @ Xc).double())))
    if measure == "cka_linear":
        # U-centred linear Gram in feature space: tr(K~L~), 1'K~1 and K~1 from X^T Y and row norms
        r = (Xc * Xc).sum(dim=1, dtype=torch.float64)
        s = Xc.sum(dim=0, dtype=torch.float64)
        p = Prepared(n, d, Xc, 0.0, (r, float(s @ s - r.sum()), Xc.double() @ s - r))
        p.norm = math.sqrt(max(_hsic_u(p, p), 0.0))
        return p
    if measure == "procrustes":
        return Prepared(n, d, Xc / _frobenius(Xc), 1.0)
    K = _centre_gram(_rbf_gram(Xc, fraction, what), debiased)  # cka_rbf
    return Prepared(n, d, K, float(torch.linalg.matrix_norm(K)))


def _max_kernel(U: torch.Tensor) -> torch.Tensor:
    """K[i, j] = max over channels c of sum over (h, w) of U[i, c, h, w] U[j, c, h, w] (float64)."""
    n, c, h, w = U.shape
    if h * w == 1:
        return _pairwise(U.reshape(n, c), "max")
    K = torch.full((n, n), -float("inf"), dtype=torch.float64, device=U.device)
    for ch in range(c):
        Uc = U[:, ch].reshape(n, h * w)
        torch.maximum(K, (Uc @ Uc.T).double(), out=K)
    return K


def _prepare_channels(X, measure: str, fraction: float, what: str) -> Prepared:
    """Godfrey et al.'s measures: the layer as [N, C, H, W], normalised as their code does."""
    X = _as_4d(X, what).double()  # float64: 1 - sqrt(d^2 / 4C) magnifies rounding near 1
    n, c = X.shape[:2]
    width = int(np.prod(X.shape[1:]))
    if measure in ("relu_procrustes", "procrustes_godfrey"):
        _check_n(n, False, what)
        total = _frobenius(X)
        if total <= 0:
            raise ValueError(f"{what} is zero for every sample (a dead layer): no similarity is defined")
        if measure == "procrustes_godfrey":
            return Prepared(n, width, X / total, 1.0, (c,))
        U = _per_channel_unit(X)
        return Prepared(n, width, U, float(_frobenius(U) ** 2), (c,))  # norm = ||X~||^2, the live channels
    _check_n(n, True, what)
    Xc = X - X.mean(dim=(0, 2, 3), keepdim=True)
    spread = Xc.abs().amax()
    if float(spread) <= 1e-12 * max(1.0, float(X.abs().amax())):
        raise ValueError(f"{what} is constant over the samples (a dead or constant layer): no similarity is defined")
    U = _per_channel_unit(Xc)
    K = _max_kernel(U) if measure == "relu_cka" else _laplace_gram(U.reshape(n, -1), fraction, what)
    K = _centre_gram(K, True)
    return Prepared(n, width, K, float(torch.linalg.matrix_norm(K)), (c,))


def check_measure(measure: str, debiased: bool, fraction: float) -> None:
    """A clear error for an unknown measure, ``debiased`` outside the CKA family, or a bad bandwidth."""
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; choose one of {', '.join(MEASURES)}")
    if debiased and measure not in CKA_MEASURES:
        raise ValueError(f"debiased applies to the CKA measures ({', '.join(CKA_MEASURES)}), not {measure}")
    if measure in UNBIASED_ONLY and not debiased:
        raise ValueError(f"{measure} is defined with the unbiased HSIC only (Godfrey et al. 2022): pass debiased=True")
    if measure in GRAM_MEASURES and not fraction > 0:
        raise ValueError(f"the kernel bandwidth fraction must be positive (got {fraction})")


def _hsic_u(a: Prepared, b: Prepared, cross: torch.Tensor | None = None) -> float:
    """n(n-3) x unbiased HSIC of two linear kernels, from features (never forming N x N)."""
    n = a.n
    ra, sa, ka = a.extra
    rb, sb, kb = b.extra
    cross = _cross(a, b) if cross is None else cross
    trace = float((cross * cross).sum() - (ra * rb).sum())
    return trace + sa * sb / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * float(ka @ kb)


def _cross(a: Prepared, b: Prepared) -> torch.Tensor:
    return (a.mat.T @ b.mat).double()


def _pair(a: Prepared, b: Prepared, measure: str, debiased: bool, cross: torch.Tensor | None = None) -> float:
    """The measure from two prepared layers of the same samples (the callers check the row counts);
    ``cross`` may bring their X^T Y (feature-space measures)."""
    if measure in GRAM_MEASURES:
        if a.norm <= 0 or b.norm <= 0:
            raise ValueError("a centred kernel matrix is zero: the layer is too degenerate for kernel CKA")
        return min(float((a.mat * b.mat).sum()) / (a.norm * b.norm), 1.0)
    if measure in ("relu_procrustes", "procrustes_godfrey"):
        M = _channel_cross(a.mat, b.mat)
        channels = max(a.extra[0], b.extra[0])
        if measure == "procrustes_godfrey":
            return 1.0 - math.sqrt(max(2.0 - 2.0 * float(torch.linalg.svdvals(M).sum()), 0.0)) / 2.0
        m = M.cpu().numpy()
        rows, cols = linear_sum_assignment(m, maximize=True)
        d2 = a.norm + b.norm - 2.0 * float(m[rows, cols].sum())
        return 1.0 - math.sqrt(max(d2, 0.0) / (4.0 * channels))
    cross = _cross(a, b) if cross is None else cross
    if measure == "cka_linear" and not debiased:
        value = float((cross * cross).sum()) / (a.norm * b.norm)
    elif measure == "cka_linear":
        if a.norm <= 0 or b.norm <= 0:
            raise ValueError("the unbiased HSIC of a layer with itself is 0: the layer is too degenerate for debiased CKA")
        value = _hsic_u(a, b, cross) / (a.norm * b.norm)
    else:  # procrustes
        value = float(torch.linalg.svdvals(cross).sum())
    return min(value, 1.0)  # rounding can overshoot 1 by an ulp


def _finish(value: float, form: str) -> float:
    if form not in FORMS:
        raise ValueError(f"form must be one of {', '.join(FORMS)} (got {form!r})")
    s = min(max(value, 0.0), 1.0)
    return value if form == "similarity" else 1.0 - s if form == "distance" else math.acos(s)


# ---------------------------------------------------------------- public measures


def similarity(X, Y, measure: str, debiased: bool = False, fraction: float = 1.0) -> float:
    """The similarity of X and Y under ``measure`` (a key of ``MEASURES``)."""
    debiased = debiased or measure in UNBIASED_ONLY
    check_measure(measure, debiased, fraction)
    if len(X) != len(Y):
        raise ValueError(f"X and Y must hold the same samples: {len(X)} rows vs {len(Y)}")
    return _pair(_prepare(X, measure, debiased, fraction, "X"), _prepare(Y, measure, debiased, fraction, "Y"), measure, debiased)


def cka(X, Y, kernel: str = "linear", debiased: bool = False, fraction: float = 1.0) -> float:
    """Centred kernel alignment with a ``"linear"`` or ``"rbf"`` kernel (``fraction`` sets the RBF bandwidth)."""
    if kernel not in ("linear", "rbf"):
        raise ValueError(f"kernel must be 'linear' or 'rbf' (got {kernel!r})")
    return similarity(X, Y, f"cka_{kernel}", debiased, fraction)


def procrustes(X, Y, form: str = "similarity") -> float:
    """Orthogonal Procrustes similarity ``||X^T Y||_*`` of centred, unit-Frobenius X and Y (or its distance forms)."""
    return _finish(similarity(X, Y, "procrustes"), form)


def relu_procrustes(X, Y) -> float:
    """G_ReLU-Procrustes similarity (Godfrey et al. 2022, Def. 5.2) of X and Y, [N, C] or [N, C, H, W]:
    1 when Y is X with its channels permuted and positively rescaled (see the module doc)."""
    return similarity(X, Y, "relu_procrustes")


def godfrey_procrustes(X, Y) -> float:
    """Orthogonal Procrustes in Godfrey et al.'s form (their Table 2): ``1 - sqrt(2 - 2 ||X^T Y||_*) / 2``."""
    return similarity(X, Y, "procrustes_godfrey")


def relu_cka(X, Y, kernel: str = "max", fraction: float = 1.0) -> float:
    """G_ReLU-CKA (Godfrey et al. 2022, Def. 5.3 and eq. 5.6) with the unbiased HSIC.

    ``kernel="max"``: ``max over channels of the per-channel inner product`` (not positive
    semi-definite: the value is a cosine of centred Gram matrices, in [-1, 1]); ``"laplace"``:
    ``exp(-||x - x'||_1 / sigma)``, sigma = fraction x the median L1 distance (our bandwidth rule).
    """
    if kernel not in ("max", "laplace"):
        raise ValueError(f"kernel must be 'max' or 'laplace' (got {kernel!r})")
    return similarity(X, Y, "relu_cka" if kernel == "max" else "relu_cka_laplace", True, fraction)


# ---------------------------------------------------------------- all layer pairs


def prepare(X, measure: str, debiased: bool = False, fraction: float = 1.0, what: str = "X") -> Prepared:
    """One layer made ready for ``measure`` once (netrep's ``partial_fit``): every pair with it then
    costs only ``compare``. ``X`` is [N, D], or [N, C, H, W] for the measures that keep channels."""
    debiased = debiased or measure in UNBIASED_ONLY
    check_measure(measure, debiased, fraction)
    return _prepare(X, measure, debiased, fraction, what)


def compare(a: Prepared, b: Prepared, measure: str, debiased: bool = False) -> float:
    """The similarity of two layers prepared for the same ``measure`` on the same samples."""
    if a.n != b.n:
        raise ValueError(f"the two layers must hold the same samples: {a.n} rows vs {b.n}")
    return _pair(a, b, measure, debiased or measure in UNBIASED_ONLY)


def similarity_matrix(
    acts_a: dict,
    acts_b: dict | None,
    measure: str,
    debiased: bool = False,
    fraction: float = 1.0,
    progress: Callable[[float, str], None] | None = None,
) -> pd.DataFrame:
    """Similarity of every layer of A with every layer of B (``acts_b=None``: A with itself).

    ``acts_*`` map layer names to [N, D] activations in depth order. Each layer is prepared once
    and reused for all its pairs; with A against itself only one triangle is computed. Returns one
    row per pair: depth A, layer A, width A, depth B, layer B, width B, similarity and a note; a
    layer where the measure is undefined (constant, NaN) gets NaN and the reason in ``note``.
    """
    debiased = debiased or measure in UNBIASED_ONLY
    check_measure(measure, debiased, fraction)
    same = acts_b is None or acts_b is acts_a
    acts_b = acts_a if same else acts_b
    sizes = {len(v) for v in (*acts_a.values(), *acts_b.values())}
    if len(sizes) > 1:
        raise ValueError(f"every layer must hold the same samples; got row counts {sorted(sizes)}")
    n = sizes.pop() if sizes else 0
    if measure in GRAM_MEASURES:
        check_gram_memory(n, len(acts_b) + (0 if same else 1))
    total = (0 if same else len(acts_a)) + len(acts_b) + len(acts_a) * len(acts_b)
    done = 0

    def tick(text: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done / total, text)

    def prep(X, model: str, name: str) -> Prepared | str:
        try:
            out = _prepare(X, measure, debiased, fraction, f"{model}, layer {name}")
        except ValueError as exc:
            out = str(exc)
        tick(f"layer {name} of {model}")
        return out

    # B's layers are kept; A's are prepared one at a time (an N x N Gram each for kernel measures)
    pb = {name: prep(X, "A" if same else "B", name) for name, X in acts_b.items()}
    # feature-space measures: one product of each layer of A with all of B's layers side by side
    usable = [b for b in pb.values() if not isinstance(b, str)]
    pairwise = measure in GRAM_MEASURES or measure in CHANNEL_MEASURES
    joint = torch.cat([b.mat for b in usable], dim=1) if not pairwise and usable else None
    rows, seen = [], {}
    for i, (la, Xa) in enumerate(acts_a.items()):
        a = pb[la] if same else prep(Xa, "A", la)
        # with A against itself only the pairs j >= i are computed: B's layers from i on
        needed = usable[sum(1 for b in list(pb.values())[:i] if not isinstance(b, str)):] if same else usable
        crosses = _split_cross(a, joint, usable, needed) if joint is not None and not isinstance(a, str) else {}
        for j, (lb, b) in enumerate(pb.items()):
            note, value = "", np.nan
            if isinstance(a, str) or isinstance(b, str):
                note = a if isinstance(a, str) else b
            elif same and (j, i) in seen:
                value = seen[(j, i)]
            else:
                try:
                    value = _pair(a, b, measure, debiased, crosses.get(id(b)))
                except ValueError as exc:
                    note = str(exc)
                seen[(i, j)] = value
            rows.append({"depth A": i, "layer A": la, "width A": _width(Xa), "depth B": j, "layer B": lb,
                         "width B": _width(acts_b[lb]), "similarity": value, "note": note})
            tick(f"{la} vs {lb}")
        del a, crosses
    return pd.DataFrame(rows)


def _split_cross(a: Prepared, joint: torch.Tensor, layers: list[Prepared], needed: list[Prepared]) -> dict[int, torch.Tensor]:
    """X_a^T Y for every layer in ``needed`` (a tail of ``layers``, whose features sit side by side in
    ``joint``) in one product, cut back into blocks keyed by the id of the layer."""
    if not needed:
        return {}
    start = sum(b.width for b in layers[: len(layers) - len(needed)])
    big = (a.mat.T @ joint[:, start:]).double()
    out, at = {}, 0
    for b in needed:
        out[id(b)] = big[:, at : at + b.width]
        at += b.width
    return out


GRAM_BUDGET = 8 << 30  # bytes of N x N float64 matrices a layer-pair matrix may hold at once


def check_gram_memory(n: int, grams: int, budget: int | None = None) -> None:
    """A clear error when ``grams`` N x N float64 matrices (plus work space) exceed the budget."""
    budget = GRAM_BUDGET if budget is None else budget
    need = (grams + 3) * n * n * 8
    if need > budget:
        most = int(math.sqrt(budget / (8 * (grams + 3))))
        raise ValueError(f"kernel measures keep an {n} x {n} matrix per layer ({need / 2**30:.1f} GiB here); "
                         f"use at most {most} samples, or a linear measure (linear CKA, Procrustes), which scale to any N")


def _width(X) -> int:
    shape = tuple(X.shape)
    return int(np.prod(shape[1:])) if len(shape) > 1 else 1


def corresponding_layers(frame: pd.DataFrame, skip: tuple[str, ...] = ("input",)) -> tuple[float, pd.DataFrame]:
    """Kornblith et al.'s test: for each layer of A, is the most similar layer of B the one at the same depth?

    Needs A and B of one architecture (the same layer names). Layers in ``skip`` (the input, which
    is identical in both) and layers without values are left out. Returns the fraction of layers
    that pass and one row per layer of A with its best match in B.
    """
    df = frame[~frame["layer A"].isin(skip) & ~frame["layer B"].isin(skip)].dropna(subset=["similarity"])
    if df.empty:
        raise ValueError("no layer pair has a similarity value")
    if list(dict.fromkeys(frame["layer A"])) != list(dict.fromkeys(frame["layer B"])):
        raise ValueError("the corresponding-layer test needs two models with the same layers (two seeds of one architecture)")
    best = df.loc[df.groupby("layer A", sort=False)["similarity"].idxmax()]
    out = pd.DataFrame({"layer A": best["layer A"].values, "most similar layer of B": best["layer B"].values,
                        "similarity": best["similarity"].values})
    out["same depth"] = out["layer A"] == out["most similar layer of B"]
    return float(out["same depth"].mean()), out

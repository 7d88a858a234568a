"""Model stitching: zero-shot through relative space, and trained stitching layers between two models.

Zero-shot (Moschella et al. 2023): the encoder of model i and the decoder/head of model j, joined
with no training: ``j.readout(i.embed(x))``. For relative models ``embed`` is the relative
projection against the anchors embedded by encoder i; for absolute models the latent goes
straight in.

Trained stitching (Bansal et al. 2021; Godfrey et al. 2022): model A up to layer l, a stitch S,
then model B after layer l, with A and B frozen. Families of S (acting on channels):
identity; affine; low-rank r; orthogonal (closed-form Procrustes on activations, optionally with
a scale); permutation x positive diagonal, the ReLU intertwiner group, trained by the authors' recipe
(``PERM_RECIPE``; Godfrey et al. 2022, appendix D.2 and D.2.1, and pnnl/modelsym
``model_symmetries/stitching/stitching.py`` class ``Birkhoff`` with the settings of
``stitch_Grelu.slurm``): on convolutional layers a 1x1 convolution P diag(d) without bias; P starts
as the Sinkhorn projection (100 iterations) of a uniform random matrix and d at 1; d is held at the
identity for the first half of the epochs; plain SGD without momentum (lr 1e-3, batch 32) on the
cross-entropy minus alpha ||P||_F with alpha = 0.1; after every step P <- Sinkhorn(ReLU(P)) (16
iterations) and d <- ReLU(d); P rounded to a permutation by the Hungarian algorithm for evaluation.
The authors evaluate the best test accuracy over epochs; we evaluate after the last epoch. The
same family warm-started from the correlation of the units' activations (activation matching in
disguise, so its penalties are not comparable with the paper's Fig. 1) is offered as its own,
labelled option. And latent-space translation fitted on the anchor samples only: least squares,
or latentis' standardised Procrustes (Maiorca et al. 2023; latentis
``transform/translate/aligner.py``: each feature standardised with the anchors' mean and unbiased
std, zero padding, R = U V^T, the target's anchor statistics restored).

Stitching penalty (Godfrey et al., eq. 4.3): the mean test accuracy of A and B minus the
stitched accuracy (``penalty``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import nn

from explorer.train import metrics_from_outputs

FAMILIES = ("identity", "affine", "low-rank", "orthogonal", "orthogonal + scale", "permutation x scale",
            "permutation x scale (warm start from activation matching)", "translation (LS, anchors)",
            "translation (Procrustes, anchors)")
WARM = "permutation x scale (warm start from activation matching)"
TRAINED = ("affine", "low-rank", "permutation x scale", WARM)
# The permutation x scaling stitch as Godfrey et al. train it (appendix D.2; modelsym stitch_Grelu.slurm).
PERM_RECIPE = {"init": "sinkhorn of uniform random", "init_sinkhorn_iters": 100, "sinkhorn_iters": 16, "alpha": 0.1,
               "optimizer": "SGD", "momentum": 0.0, "lr": 1e-3, "batch": 32, "epochs": 20, "scales_from_epoch": 0.5,
               "bias": False}


def penalty(acc_a: float, acc_b: float, acc_stitched: float) -> float:
    """Stitching penalty of Godfrey et al. (eq. 4.3): the mean accuracy of A and B minus the stitched one."""
    return (acc_a + acc_b) / 2 - acc_stitched


class StitchCancelled(RuntimeError):
    pass


# ---------------------------------------------------------------- zero-shot


def check_zero_shot(models: list, names: list[str]) -> None:
    kinds = {m.kind for m in models}
    if len(kinds) != 1:
        raise ValueError("zero-shot stitching joins models of one kind: all autoencoders or all classifiers")
    rel = {m.is_relative for m in models}
    if len(rel) != 1:
        raise ValueError("mix of relative and absolute models: stitch relative models with relative ones")
    if models[0].is_relative:
        ref = models[0].anchors.cpu()
        for m, n in zip(models, names):
            if m.n_anchors != len(ref) or not torch.equal(m.anchors.cpu(), ref):
                raise ValueError(f"{n} uses other anchors than {names[0]}: their relative spaces cannot be joined")


@torch.no_grad()
def stitched_outputs(enc, dec, x: torch.Tensor, batch: int = 2048) -> torch.Tensor:
    dev = next(enc.parameters()).device
    outs = []
    for i in range(0, len(x), batch):
        r = enc.embed(x[i : i + batch].to(dev))
        if r.shape[1] != _readout_width(dec):
            raise ValueError(f"the encoder gives {r.shape[1]} features but the decoder reads {_readout_width(dec)}")
        outs.append(dec.readout(r.to(next(dec.parameters()).device)).cpu())
    return torch.cat(outs)


def _readout_width(model) -> int:
    if model.is_relative:
        return model.n_anchors
    first = model.decoder[0] if model.kind == "ae" else model.head
    return first.in_features


def zero_shot_grid(models: list, names: list[str], x: torch.Tensor, y: torch.Tensor,
                   progress: Callable[[float], None] | None = None) -> pd.DataFrame:
    """Every encoder i with every decoder/head j: one row per pair with the test metrics."""
    check_zero_shot(models, names)
    rows = []
    for i, (ei, ni) in enumerate(zip(models, names)):
        for j, (dj, nj) in enumerate(zip(models, names)):
            m = metrics_from_outputs(dj.kind, stitched_outputs(ei, dj, x), x, y)
            rows.append({"encoder": ni, "decoder": nj, "stitched": i != j, **m})
            if progress:
                progress((i * len(models) + j + 1) / len(models) ** 2)
    return pd.DataFrame(rows)


def grid_summary(grid: pd.DataFrame, metric: str) -> dict[str, tuple[float, float]]:
    """Mean and std of ``metric`` on the diagonal (unstitched) and over all ordered pairs i != j."""
    out = {}
    for label, part in (("unstitched", grid[~grid["stitched"]]), ("stitched", grid[grid["stitched"]])):
        out[label] = (float(part[metric].mean()), float(part[metric].std(ddof=0)) if len(part) > 1 else 0.0)
    return out


# ---------------------------------------------------------------- trained stitching


def stitch_layers(model) -> list[str]:
    """The hidden layers of a classifier where a stitch can go (post-activation / post-pool outputs)."""
    if model.kind != "clf" or model.is_relative:
        raise ValueError("trained stitching joins two absolute classifiers (MLP or CNN)")
    return [n for n in model.layer_names if n.startswith("body.")]


def split_at(model, layer: str):
    """(front, back): front(x) = the output of ``layer``; back(h) = the logits from there on."""
    names = [n for n, _ in model.body.named_children()]
    cut = names.index(layer.split(".", 1)[1]) + 1
    is_mlp = model.arch == "mlp_clf"

    def front(x):
        h = model.norm(x)
        return model.body[:cut](h.flatten(1) if is_mlp else h)

    def back(h):
        return model.head(model.body[cut:](h))

    return front, back


def _rows(h: torch.Tensor) -> torch.Tensor:
    """Channels last, one row per (sample, position): [N, C] or [N*H*W, C]."""
    return h if h.dim() == 2 else h.movedim(1, -1).reshape(-1, h.shape[1])


class Stitch(nn.Module):
    """h -> scale * (h @ W^T) + b on the channel axis (2-D or 4-D activations)."""

    def __init__(self, W: torch.Tensor, b: torch.Tensor | None = None, trainable: bool = False):
        super().__init__()
        self.W = nn.Parameter(W.float().clone(), requires_grad=trainable)
        self.b = nn.Parameter((b if b is not None else torch.zeros(W.shape[0])).float().clone(), requires_grad=trainable)

    def matrix(self) -> torch.Tensor:
        return self.W

    def forward(self, h):
        W = self.matrix()
        if h.dim() == 2:
            return h @ W.T + self.b
        return (h.movedim(1, -1) @ W.T + self.b).movedim(-1, 1)


class LowRank(Stitch):
    def __init__(self, W: torch.Tensor, b: torch.Tensor, rank: int):
        U, S, Vh = torch.linalg.svd(W.double(), full_matrices=False)
        super().__init__(W, b, trainable=True)
        r = min(rank, len(S))
        self.W = None
        self.U = nn.Parameter((U[:, :r] * S[:r].sqrt()).float())
        self.V = nn.Parameter((S[:r].sqrt()[:, None] * Vh[:r]).float())

    def matrix(self):
        return self.U @ self.V


def sinkhorn(P: torch.Tensor, iters: int = 16) -> torch.Tensor:
    """Project a non-negative matrix (approximately) onto the doubly stochastic matrices: rows, then
    columns, scaled to sum 1, ``iters`` times (a row or column of zeros is left as it is)."""
    for _ in range(iters):
        P = P / torch.where(P.sum(1, keepdim=True) > 0, P.sum(1, keepdim=True), 1.0)
        P = P / torch.where(P.sum(0, keepdim=True) > 0, P.sum(0, keepdim=True), 1.0)
    return P


class PermScale(Stitch):
    """P diag(d), no bias: P doubly stochastic while training, a true permutation after ``harden``.

    ``warm=None`` (the authors' recipe): P0 = Sinkhorn(U[0, 1)) with 100 iterations, d0 = 1.
    ``warm=(A, B)``: P0 = Sinkhorn(exp(corr / tau)) from the correlation of A's and B's units on the
    training activations (a soft activation matching), d0 = the ratio of the units' spreads.
    ``use_scales`` False keeps d out of the forward pass (D = identity), as in the recipe's first half.
    """

    def __init__(self, n: int, warm: tuple | None = None, tau: float = 0.05, seed: int = 0):
        super().__init__(torch.eye(n))
        self.W = None
        self.b.requires_grad_(False)
        if warm is None:
            g = torch.Generator().manual_seed(seed)
            P0 = sinkhorn(torch.rand(n, n, generator=g), PERM_RECIPE["init_sinkhorn_iters"])
            d0 = torch.ones(n)
        else:
            A, B = warm
            a = (A - A.mean(0)) / A.std(0).clamp_min(1e-6)
            b = (B - B.mean(0)) / B.std(0).clamp_min(1e-6)
            corr = (b.T @ a) / len(a)  # [n_B, n_A]
            P0 = sinkhorn(torch.exp((corr - corr.max()) / tau).clamp_min(1e-12), 20)
            d0 = (B.std(0)[P0.argmax(0)] / A.std(0).clamp_min(1e-6)).clamp(1e-2, 1e2)
        self.P = nn.Parameter(P0.float())
        self.d = nn.Parameter(d0.float())
        self.use_scales = True
        self.hard: torch.Tensor | None = None

    def matrix(self):
        P = self.hard if self.hard is not None else self.P
        return P * self.d[None, :] if self.use_scales else P

    @torch.no_grad()
    def project(self, iters: int = PERM_RECIPE["sinkhorn_iters"]):
        self.P.data = sinkhorn(self.P.data.clamp_min(0.0), iters)
        self.d.data.clamp_(min=0.0)

    @torch.no_grad()
    def harden(self) -> torch.Tensor:
        rows, cols = linear_sum_assignment(self.P.detach().cpu().numpy(), maximize=True)
        hard = torch.zeros_like(self.P)
        hard[torch.as_tensor(rows), torch.as_tensor(cols)] = 1.0
        self.hard = hard
        return torch.as_tensor(cols[np.argsort(rows)])


def _procrustes(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """R [C_B, C_A] with orthonormal rows or columns minimising ||A R^T - B||_F."""
    U, _, Vh = torch.linalg.svd(B.double().T @ A.double(), full_matrices=False)
    return (U @ Vh).float()


def _latentis_translation(A: torch.Tensor, B: torch.Tensor) -> Stitch:
    """latentis' Procrustes translation fitted on anchors A -> B, as one affine stitch.

    Each feature is standardised with the anchors' mean and unbiased std (a std below 10 eps counts
    as 1), the narrower side is zero-padded, R = U V^T from the SVD of x^T y, then the target's
    anchor statistics are restored: y = ((x - mu_x) / s_x) R[:d_x, :d_y] s_y + mu_y."""
    a, b = A.double(), B.double()
    eps = 10 * torch.finfo(torch.float32).eps
    ma, mb = a.mean(0), b.mean(0)
    sa, sb = a.std(0, unbiased=True), b.std(0, unbiased=True)
    sa, sb = torch.where(sa < eps, 1.0, sa), torch.where(sb < eps, 1.0, sb)
    x, y = (a - ma) / sa, (b - mb) / sb
    d = max(x.shape[1], y.shape[1])
    x, y = torch.nn.functional.pad(x, (0, d - x.shape[1])), torch.nn.functional.pad(y, (0, d - y.shape[1]))
    U, _, Vh = torch.linalg.svd(x.T @ y)
    R = (U @ Vh)[: a.shape[1], : b.shape[1]]
    Wt = (R / sa[:, None]) * sb[None, :]  # h @ Wt + b
    return Stitch(Wt.T.float(), (mb - ma @ Wt).float())


def _least_squares(A: torch.Tensor, B: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Affine W, b minimising ||A W^T + b - B||_F (ridge 1e-6 for rank-deficient layers)."""
    A1 = torch.cat([A.double(), torch.ones(len(A), 1, dtype=torch.float64)], 1)
    G = A1.T @ A1 + 1e-6 * torch.eye(A1.shape[1], dtype=torch.float64)
    sol = torch.linalg.solve(G, A1.T @ B.double())
    return sol[:-1].T.float(), sol[-1].float()


@dataclass
class StitchData:
    hA_train: torch.Tensor
    hB_train: torch.Tensor
    y_train: torch.Tensor
    hA_anchor: torch.Tensor
    hB_anchor: torch.Tensor


def fit_stitch(family: str, data: StitchData, back_b: Callable, rank: int = 4, epochs: int = 20, lr: float = 1e-2,
               alpha: float = PERM_RECIPE["alpha"], batch: int = 256, seed: int = 0,
               progress: Callable[[float], None] | None = None, should_stop: Callable[[], bool] | None = None) -> Stitch:
    """Fit one stitch between A's layer (``data.hA_*``) and B's (``data.hB_*``); B's remainder is frozen."""
    A, B = _rows(data.hA_train), _rows(data.hB_train)
    ca, cb = A.shape[1], B.shape[1]
    if family == "identity":
        if ca != cb:
            raise ValueError(f"identity cannot bridge {ca} to {cb} channels")
        return Stitch(torch.eye(ca))
    if family in ("orthogonal", "orthogonal + scale"):
        R = _procrustes(A, B)
        s = float((B.double() * (A.double() @ R.double().T)).sum() / (A.double() ** 2).sum()) if family.endswith("scale") else 1.0
        return Stitch(s * R)
    if family == "translation (LS, anchors)":
        return Stitch(*_least_squares(_rows(data.hA_anchor), _rows(data.hB_anchor)))
    if family == "translation (Procrustes, anchors)":
        return _latentis_translation(_rows(data.hA_anchor), _rows(data.hB_anchor))
    if family not in TRAINED:
        raise ValueError(f"unknown stitching family {family!r}; choose one of {', '.join(FAMILIES)}")
    torch.manual_seed(seed)
    recipe = family == "permutation x scale"
    if family in ("permutation x scale", WARM):
        if ca != cb:
            raise ValueError(f"a permutation cannot bridge {ca} to {cb} channels")
        stitch = PermScale(ca, None if recipe else (A, B), seed=seed)
    else:
        W, b = _least_squares(A, B)
        stitch = Stitch(W, b, trainable=True) if family == "affine" else LowRank(W, b, rank)
    if recipe:  # Godfrey et al.: plain SGD, no momentum, on P and d; d held at 1 for the first half
        batch = PERM_RECIPE["batch"]
        opts = [torch.optim.SGD([stitch.P, stitch.d], lr=PERM_RECIPE["lr"], momentum=PERM_RECIPE["momentum"])]
        stitch.use_scales = False
    elif isinstance(stitch, PermScale):
        # our warm start: plain SGD on P (Adam's per-entry normalisation spreads P over the polytope)
        opts = [torch.optim.SGD([stitch.P], lr=0.5, momentum=0.9), torch.optim.Adam([stitch.d], lr=lr)]
    else:
        opts = [torch.optim.Adam([p for p in stitch.parameters() if p.requires_grad], lr=lr)]
    gen = torch.Generator().manual_seed(seed)
    n = len(data.hA_train)
    steps = epochs * ((n + batch - 1) // batch)
    step = 0
    for epoch in range(epochs):
        if recipe and epoch >= epochs * PERM_RECIPE["scales_from_epoch"]:
            stitch.use_scales = True
        for idx in torch.randperm(n, generator=gen).split(batch):
            if should_stop is not None and should_stop():
                raise StitchCancelled("stitch training cancelled")
            loss = F.cross_entropy(back_b(stitch(data.hA_train[idx])), data.y_train[idx])
            if isinstance(stitch, PermScale):
                loss = loss - alpha * stitch.P.norm()
            for opt in opts:
                opt.zero_grad(set_to_none=True)
            loss.backward()
            for opt in opts:
                opt.step()
            if isinstance(stitch, PermScale):
                stitch.project()
            step += 1
            if progress and step % 10 == 0:
                progress(step / steps)
    if isinstance(stitch, PermScale):
        stitch.use_scales = True
        stitch.harden()
    return stitch


def n_params(family: str, stitch: Stitch) -> int:
    """Free parameters of the family at these widths (a permutation counts its scales only)."""
    if family == "identity":
        return 0
    if isinstance(stitch, PermScale):
        return stitch.d.numel()
    if isinstance(stitch, LowRank):
        return stitch.U.numel() + stitch.V.numel() + stitch.b.numel()
    if family.startswith("orthogonal") or family == "translation (Procrustes, anchors)":
        r = min(stitch.W.shape)
        dof = stitch.W.numel() - r * (r + 1) // 2  # a matrix with orthonormal rows or columns
        if family == "translation (Procrustes, anchors)":
            return dof + sum(stitch.W.shape) + stitch.b.numel()  # rotation, a scale per feature on each side, a shift
        return dof + (1 if family.endswith("scale") else 0)
    return stitch.W.numel() + stitch.b.numel()


@torch.no_grad()
def stitched_accuracy(stitch, front_a, back_b, x, y, batch: int = 2048) -> float:
    correct = 0
    for i in range(0, len(x), batch):
        correct += int((back_b(stitch(front_a(x[i : i + batch]))).argmax(1) == y[i : i + batch]).sum())
    return correct / len(x)


def stitching_penalties(model_a, model_b, train: tuple, test: tuple, anchor_x: torch.Tensor, families=FAMILIES,
                        layers: list[str] | None = None, rank: int = 4, epochs: int = 20,
                        progress: Callable[[float, str], None] | None = None,
                        should_stop: Callable[[], bool] | None = None) -> pd.DataFrame:
    """Penalty (accuracy(A) + accuracy(B)) / 2 - accuracy(stitched) per (layer, family) (Godfrey et al. eq. 4.3);
    a family that cannot bridge a layer is skipped.

    ``train`` = (x, y) the trained families fit on; ``anchor_x`` = the anchor inputs the translation
    families fit on; ``test`` = (x, y) for the accuracies.
    """
    if model_a.arch != model_b.arch:
        raise ValueError(f"stitch two models of one architecture (A is {model_a.arch}, B is {model_b.arch})")
    layers = layers or stitch_layers(model_a)
    (xtr, ytr), (xte, yte) = train, test
    with torch.no_grad():
        acc_a = stitched_accuracy(nn.Identity(), *split_at(model_a, layers[0]), xte, yte)
        acc_b = stitched_accuracy(nn.Identity(), *split_at(model_b, layers[0]), xte, yte)
    rows, total, done = [], len(layers) * len(families), 0
    for layer in layers:
        front_a, _ = split_at(model_a, layer)
        front_b, back_b = split_at(model_b, layer)
        with torch.no_grad():
            data = StitchData(front_a(xtr), front_b(xtr), ytr, front_a(anchor_x), front_b(anchor_x))
        for fam in families:
            def sub(f, _done=done, _fam=fam, _layer=layer):
                if progress:
                    progress((_done + f) / total, f"{_layer}: {_fam}")
            try:
                s = fit_stitch(fam, data, back_b, rank=rank, epochs=epochs, progress=sub, should_stop=should_stop)
            except ValueError as exc:
                rows.append({"layer": layer, "family": fam, "parameters": np.nan, "accuracy A": acc_a, "accuracy B": acc_b,
                             "accuracy stitched": np.nan, "penalty": np.nan, "note": str(exc)})
            else:
                acc = stitched_accuracy(s, front_a, back_b, xte, yte)
                rows.append({"layer": layer, "family": fam, "parameters": n_params(fam, s), "accuracy A": acc_a,
                             "accuracy B": acc_b, "accuracy stitched": acc, "penalty": penalty(acc_a, acc_b, acc),
                             "note": ""})
            done += 1
            if progress:
                progress(done / total, f"{layer}: {fam}")
    return pd.DataFrame(rows)

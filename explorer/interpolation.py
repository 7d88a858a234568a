"""Interpolation: between latents (linear, spherical) and between weights (mode connectivity).

Weight interpolation: theta(a) = (1 - a) theta_A + a theta_B. Along the path, loss and accuracy,
and two published barriers (``barriers``), each named by its paper:

- Git Re-Basin (Ainsworth et al. 2022; samuela/git-re-basin ``src/mnist_barrier_vs_epoch_plot.py``
  L21-27): ``max_a L(a) - (L(0) + L(1)) / 2``, the end points' mean;
- Entezari et al. (2022): ``max_a [L(a) - ((1 - a) L(0) + a L(1))]``, the straight line between
  the end points' losses.

They agree when the end points have equal loss. For the accuracy, the same with the signs turned:
the largest drop below the end points' mean, or below the straight line. Aligning B onto A by a
permutation of its hidden units first (``explorer.alignment``) removes most of the barrier
between two trainings.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from explorer.train import predict


def lerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """[steps, D]: z0 to z1 on a straight line, end points included."""
    t = torch.linspace(0, 1, steps, dtype=z0.dtype, device=z0.device)[:, None]
    return (1 - t) * z0[None] + t * z1[None]


def slerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """[steps, D]: spherical interpolation (angle and norm interpolated); linear when z0 ∥ z1."""
    t = torch.linspace(0, 1, steps, dtype=z0.dtype, device=z0.device)[:, None]
    n0, n1 = z0.norm(), z1.norm()
    u0, u1 = z0 / n0.clamp_min(1e-12), z1 / n1.clamp_min(1e-12)
    omega = torch.arccos((u0 @ u1).clamp(-1, 1))
    if float(omega) < 1e-6:
        return lerp(z0, z1, steps)
    direction = (torch.sin((1 - t) * omega) * u0 + torch.sin(t * omega) * u1) / torch.sin(omega)
    return direction * ((1 - t) * n0 + t * n1)


def interpolate_states(sa: dict, sb: dict, alpha: float) -> dict:
    if sa.keys() != sb.keys() or any(sa[k].shape != sb[k].shape for k in sa):
        raise ValueError("the two models do not have the same parameters: interpolate models of one architecture")
    return {k: ((1 - alpha) * sa[k].double() + alpha * sb[k].double()).to(sa[k].dtype) if sa[k].is_floating_point() else sa[k] for k in sa}


def _evaluate(model, x, y) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of a classifier on (x, y)."""
    out = predict(model, x).double()
    y = y.to(out.device)
    return float(F.cross_entropy(out, y)), float((out.argmax(1) == y).double().mean())


def path_curve(
    model,
    sa: dict,
    sb: dict,
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]],
    alphas,
    progress: Callable[[float], None] | None = None,
) -> pd.DataFrame:
    """Loss and accuracy of theta(a) on each split, one row per (alpha, split)."""
    m = copy.deepcopy(model).eval()
    rows = []
    for i, a in enumerate(alphas):
        m.load_state_dict(interpolate_states(sa, sb, float(a)))
        for split, (x, y) in splits.items():
            loss, acc = _evaluate(m, x, y)
            rows.append({"alpha": float(a), "split": split, "loss": loss, "accuracy": acc})
        if progress:
            progress((i + 1) / len(alphas))
    return pd.DataFrame(rows)


BARRIERS = {"Git Re-Basin": "max L(α) − (L(0) + L(1)) / 2 (Ainsworth et al. 2022)",
            "Entezari et al.": "max [L(α) − ((1 − α) L(0) + α L(1))] (Entezari et al. 2022)"}


def barriers(curve: pd.DataFrame) -> pd.DataFrame:
    """Loss and accuracy barriers per split (and per path, when the curve has a ``path`` column), under
    both definitions: columns ``loss barrier (Git Re-Basin)``, ``loss barrier (Entezari et al.)`` and
    the same for the accuracy (a drop, so positive when the path is worse)."""
    keys = [c for c in ("path", "split") if c in curve.columns]
    rows = []
    for key, g in curve.groupby(keys, sort=False):
        g = g.sort_values("alpha")
        a = g["alpha"].to_numpy()
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        for metric, sign in (("loss", 1), ("accuracy", -1)):
            v = g[metric].to_numpy()
            row[f"{metric} barrier (Git Re-Basin)"] = float(np.max(sign * (v - (v[0] + v[-1]) / 2)))
            row[f"{metric} barrier (Entezari et al.)"] = float(np.max(sign * (v - ((1 - a) * v[0] + a * v[-1]))))
        rows.append(row)
    return pd.DataFrame(rows)


@torch.no_grad()
def path_latents(model, sa: dict, sb: dict, x: torch.Tensor, layer: str, alphas) -> np.ndarray:
    """[len(alphas), N, D]: the activations of ``layer`` on ``x`` for each theta(a) along the path."""
    from explorer.activations import extract_activations

    m = copy.deepcopy(model).eval()
    frames = []
    for a in alphas:
        m.load_state_dict(interpolate_states(sa, sb, float(a)))
        frames.append(extract_activations(m, x, [layer])[layer].flatten(1).cpu().numpy())
    return np.stack(frames)


def frames_2d(latents: np.ndarray) -> np.ndarray:
    """[T, N, 2]: every frame placed by the PCA basis fitted once on frame 0, so frames share axes."""
    from explorer.projection import pca_2d

    first = torch.from_numpy(latents[0]).double()
    if latents.shape[2] == 2:
        return latents.astype(np.float64)
    return np.stack([pca_2d(torch.from_numpy(f).double(), basis_from=first).numpy() for f in latents])


@torch.no_grad()
def latent_strips(model_a, x0: torch.Tensor, x1: torch.Tensor, steps: int, model_b=None) -> dict[str, torch.Tensor]:
    """Decoded images [steps, C, H, W] along the path between two samples' representations.

    ``linear`` and ``spherical`` interpolate in the representation model A's decoder reads (the
    latent, or the relative vector for a relative AE). With ``model_b`` (a relative AE sharing A's
    anchors) also ``A → B``: encode with A, interpolate in relative space, decode with B.
    """
    if model_a.kind != "ae":
        raise ValueError("latent interpolation needs an autoencoder as model A")
    dev = next(model_a.parameters()).device
    r = model_a.embed(torch.stack([x0, x1]).to(dev))
    out = {"linear": model_a.readout(lerp(r[0], r[1], steps)), "spherical": model_a.readout(slerp(r[0], r[1], steps))}
    if model_b is not None:
        if not (model_a.is_relative and model_b.is_relative and model_b.kind == "ae"):
            raise ValueError("decoding A's path with B needs two relative autoencoders")
        if model_a.n_anchors != model_b.n_anchors or not torch.equal(model_a.anchors.cpu(), model_b.anchors.cpu()):
            raise ValueError("A and B use different anchors: their relative spaces do not match")
        out["A → B (relative)"] = model_b.readout(lerp(r[0], r[1], steps).to(next(model_b.parameters()).device))
    return {k: v.cpu() for k, v in out.items()}


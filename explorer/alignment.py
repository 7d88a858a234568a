"""Permutation symmetries of ReLU networks and aligning two trainings (Ainsworth et al., Git Re-Basin, 2022).

Reordering the hidden units of a layer, together with the matching rows of its weights and
columns of the next layer's, leaves the function unchanged. A *permutation spec* says, for every
parameter, which permutation acts on which axis. ``weight_matching`` finds the permutations that
bring model B closest to model A in weight space: per hidden layer a linear assignment problem
(``scipy.optimize.linear_sum_assignment``), alternating over the layers in random order until no
permutation changes. ``activation_matching`` assigns units by the correlation of their
activations on a set of samples instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

SUPPORTED = ("mlp_clf", "cnn_clf")


def check_pair(ck_a, ck_b, purpose: str) -> None:
    """A clear error unless checkpoints A and B are two seeds of one supported classifier on one dataset
    (what weight interpolation and trained stitching both need)."""
    if ck_a is None or ck_b is None:
        raise ValueError("pick model A and model B")
    if ck_a.dataset != ck_b.dataset:
        raise ValueError(f"A is trained on {ck_a.dataset} and B on {ck_b.dataset}: pick two models of one dataset")
    if ck_a.arch != ck_b.arch or ck_a.arch not in SUPPORTED:
        differ = "they differ in architecture; " if ck_a.arch != ck_b.arch else ""
        raise ValueError(f"{purpose} joins two absolute classifiers of one architecture (it supports {', '.join(SUPPORTED)}); "
                         f"{differ}A is {ck_a.arch} and B is {ck_b.arch}")
    if ck_a.meta["hparams"] != ck_b.meta["hparams"]:
        raise ValueError("A and B differ in architecture (their hyperparameters): pick two seeds of one architecture")


def joinable_pair(checkpoints) -> tuple | None:
    """The first two checkpoints that ``check_pair`` accepts (two seeds of one supported classifier, MLP
    first), or None: what a page shows when the picked A and B cannot be joined layer by layer."""
    order = sorted(checkpoints, key=lambda c: (c.arch not in SUPPORTED, SUPPORTED.index(c.arch) if c.arch in SUPPORTED else 0, c.name))
    for i, a in enumerate(order):
        for b in order[i + 1:]:
            try:
                check_pair(a, b, "")
            except ValueError:
                continue
            return a, b
    return None


@dataclass(frozen=True)
class Axis:
    perm: str
    block: int = 1  # a flattened axis where each unit spans `block` consecutive entries (conv -> linear)


@dataclass(frozen=True)
class PermSpec:
    """``axes[param] = (axis spec or None per dimension)``; ``sizes[perm]`` = number of units;
    ``acts[perm]`` = the module whose output those units are (for activation matching)."""

    axes: dict[str, tuple[Axis | None, ...]]
    sizes: dict[str, int]
    acts: dict[str, str]


def perm_spec(model) -> PermSpec:
    """The permutation spec of an MLP or CNN classifier of the zoo (no batch norm)."""
    arch = getattr(model, "arch", None)
    if arch not in SUPPORTED:
        raise ValueError(f"weight alignment supports {', '.join(SUPPORTED)} models, not {arch!r}")
    axes: dict[str, tuple] = {}
    sizes: dict[str, int] = {}
    acts: dict[str, str] = {}
    prev: Axis | None = None
    for name, mod in model.body.named_children():
        if isinstance(mod, (torch.nn.Linear, torch.nn.Conv2d)):
            p = f"P_{name}"
            sizes[p] = mod.weight.shape[0]
            extra = (None,) * (mod.weight.dim() - 2)
            axes[f"body.{name}.weight"] = (Axis(p), prev, *extra)
            axes[f"body.{name}.bias"] = (Axis(p),)
            current = Axis(p)
        elif isinstance(mod, torch.nn.ReLU):
            acts[current.perm] = f"body.{name}"
            prev = current
        elif isinstance(mod, torch.nn.Flatten) and prev is not None:
            # channels become blocks of h*w consecutive features
            following = dict(model.body.named_children())
            fc = next(m for m in following.values() if isinstance(m, torch.nn.Linear))
            prev = Axis(prev.perm, fc.weight.shape[1] // sizes[prev.perm])
    axes["head.weight"] = (None, prev)
    axes["head.bias"] = (None,)
    return PermSpec(axes, sizes, acts)


def _index(axis: Axis, perm: torch.Tensor) -> torch.Tensor:
    if axis.block == 1:
        return perm
    return (perm[:, None] * axis.block + torch.arange(axis.block, device=perm.device)[None, :]).reshape(-1)


def apply_permutation(state: dict, spec: PermSpec, perms: dict[str, torch.Tensor]) -> dict:
    """A new state dict with every permuted axis reordered (``perms[p][i]`` = old unit at new place i)."""
    out = {}
    for name, value in state.items():
        w = value
        for dim, axis in enumerate(spec.axes.get(name, ())):
            if axis is not None and axis.perm in perms:
                w = torch.index_select(w, dim, _index(axis, perms[axis.perm].to(w.device)))
        out[name] = w
    return out


def _along(w: torch.Tensor, dim: int, axis: Axis) -> torch.Tensor:
    """``w`` with the units of ``axis`` (on ``dim``) as rows and everything else flattened as columns."""
    w = w.movedim(dim, 0)
    if axis.block > 1:
        w = w.reshape(w.shape[0] // axis.block, axis.block, *w.shape[1:])
    return w.reshape(w.shape[0], -1)


def weight_matching(state_a: dict, state_b: dict, spec: PermSpec, max_iter: int = 100, seed: int = 0) -> dict[str, torch.Tensor]:
    """Permutations of B's units that maximise sum <W_A, P W_B> over all weights (coordinate ascent)."""
    rng = np.random.default_rng(seed)
    a = {k: v.detach().double().cpu() for k, v in state_a.items()}
    b = {k: v.detach().double().cpu() for k, v in state_b.items()}
    perms = {p: torch.arange(n) for p, n in spec.sizes.items()}
    names = list(spec.sizes)
    for _ in range(max_iter):
        changed = False
        for p in rng.permutation(names):
            cost = torch.zeros(spec.sizes[p], spec.sizes[p], dtype=torch.float64)
            for name, axes in spec.axes.items():
                for dim, axis in enumerate(axes):
                    if axis is None or axis.perm != p:
                        continue
                    # B with every *other* permutation applied
                    others = {q: perms[q] for q in perms if q != p}
                    wb = apply_permutation({name: b[name]}, spec, others)[name]
                    cost += _along(a[name], dim, axis) @ _along(wb, dim, axis).T
            rows, cols = linear_sum_assignment(cost.numpy(), maximize=True)
            new = torch.from_numpy(cols[np.argsort(rows)]).long()
            if not torch.equal(new, perms[p]):
                perms[p], changed = new, True
        if not changed:
            break
    return perms


def activation_matching(model_a, model_b, x: torch.Tensor, spec: PermSpec) -> dict[str, torch.Tensor]:
    """Permutations of B's units maximising the correlation of their activations with A's on ``x``.

    Conv channels use every spatial position as a sample. Each layer is matched independently.
    """
    from explorer.activations import extract_activations

    layers = list(spec.acts.values())
    ha = extract_activations(model_a, x, layers)
    hb = extract_activations(model_b, x, layers)
    perms = {}
    for p, layer in spec.acts.items():
        n = spec.sizes[p]
        ua = ha[layer].double().reshape(len(x), n, -1).transpose(1, 2).reshape(-1, n)
        ub = hb[layer].double().reshape(len(x), n, -1).transpose(1, 2).reshape(-1, n)
        ua = (ua - ua.mean(0)) / ua.std(0).clamp_min(1e-8)
        ub = (ub - ub.mean(0)) / ub.std(0).clamp_min(1e-8)
        corr = (ua.T @ ub / len(ua)).cpu().numpy()
        rows, cols = linear_sum_assignment(corr, maximize=True)
        perms[p] = torch.from_numpy(cols[np.argsort(rows)]).long()
    return perms

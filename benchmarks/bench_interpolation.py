"""Interpolation benchmark: weight matching, the barrier curve, and the animation frames (cold vs cached).

Run: `python benchmarks/bench_interpolation.py` (needs MNIST under EXPLORER_DATA_DIR).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import timed  # noqa: E402
from explorer.alignment import apply_permutation, perm_spec, weight_matching  # noqa: E402
from explorer.cache import DiskCache  # noqa: E402
from explorer.checkpoint import load_checkpoint  # noqa: E402
from explorer.data import load_probe, load_split  # noqa: E402
from explorer.interpolation import barriers, frames_2d, path_curve, path_latents  # noqa: E402
from explorer.zoo import ZOO_DIR  # noqa: E402




def main():
    torch.set_num_threads(2)
    a, ck_a = load_checkpoint(ZOO_DIR / "mnist-mlp_clf-s0.json")
    b, ck_b = load_checkpoint(ZOO_DIR / "mnist-mlp_clf-s1.json")
    spec = perm_spec(a)
    t_wm, perms = timed(lambda: weight_matching(a.state_dict(), b.state_dict(), spec))
    aligned = apply_permutation(b.state_dict(), spec, perms)
    te = load_split("mnist", "test")
    alphas = np.linspace(0, 1, 25)
    t_curve, naive = timed(lambda: path_curve(a, a.state_dict(), b.state_dict(), {"test": (te.x, te.y)}, alphas))
    good = path_curve(a, a.state_dict(), aligned, {"test": (te.x, te.y)}, alphas)
    probe = load_probe("mnist", 1000)
    with tempfile.TemporaryDirectory() as d:
        parts = {"a": ck_a.sha256, "b": ck_b.sha256, "alphas": alphas}
        compute = lambda: {"xy": frames_2d(path_latents(a, a.state_dict(), aligned, probe.x, "body.relu3", alphas))}  # noqa: E731
        t_cold, _ = timed(lambda: DiskCache(d).memoize("frames", parts, compute))
        t_warm, _ = timed(lambda: DiskCache(d).memoize("frames", parts, compute))
    rows = [
        ("weight matching, MNIST MLP 784-512-512-512-10", t_wm, "target < 2 s"),
        ("barrier curve, 25 points on the 10k test set (one path)", t_curve, "target < 10 s"),
        ("animation frames, 25 x 1000 probe samples, cold", t_cold, ""),
        ("animation frames from the disk cache", t_warm, ""),
    ]
    for name, t, note in rows:
        print(f"{name:60s} {t:7.3f} s  {note}")
    nb, gb = barriers(naive).iloc[0], barriers(good).iloc[0]
    for name in ("Git Re-Basin", "Entezari et al."):
        print(f"test loss barrier ({name}): naive {nb[f'loss barrier ({name})']:.4f}, weight matching "
              f"{gb[f'loss barrier ({name})']:.4f}; accuracy barrier: naive {nb[f'accuracy barrier ({name})']:.4f}, "
              f"weight matching {gb[f'accuracy barrier ({name})']:.4f}")


if __name__ == "__main__":
    main()

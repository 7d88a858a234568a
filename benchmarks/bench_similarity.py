"""Similarity benchmark: our measures against plain numpy and the torch-cka package, in one run.

1. One pair of 10000 x 512 ReLU activations: time and value of every measure, ours against a plain
   numpy implementation (written here) and torch-cka's unbiased HSIC (in the peers' venv, `make
   bench-peers`, on the same arrays; only its computation is timed).
2. The full 8 x 8 layer-pair matrix of two 8-layer networks on 10000 samples, against one pair
   (target: at most 16x).
3. The shipped MNIST zoo: two seeds of the MLP and of the CNN, same-depth similarity per measure
   and Kornblith et al.'s corresponding-layer test.

Run: `make bench-peers && .venv/bin/python benchmarks/bench_similarity.py [--n 10000] [--zoo-n 2000]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from common import timed  # noqa: E402
from explorer import similarity as S  # noqa: E402

PEER_PY = Path(os.environ.get("BENCH_VENV", ROOT / ".venv-bench")) / "bin" / "python"
PEER = r"""
import math, sys, time, types, numpy as np, torch
from torch_cka import CKA
torch.set_num_threads(int(sys.argv[3]))
X, Y = torch.from_numpy(np.load(sys.argv[1])), torch.from_numpy(np.load(sys.argv[2]))
t = time.perf_counter()
K, L = (X @ X.T).fill_diagonal_(0.0), (Y @ Y.T).fill_diagonal_(0.0)  # as CKA.compare does
me = types.SimpleNamespace(device="cpu")
v = float(CKA._HSIC(me, K, L)) / math.sqrt(float(CKA._HSIC(me, K, K)) * float(CKA._HSIC(me, L, L)))
print(float(v), time.perf_counter() - t)
"""


# ---------------------------------------------------------------- plain numpy (the usual way to write each)


def np_linear_cka(X, Y):
    """Feature-space linear CKA in the input's dtype."""
    X, Y = X - X.mean(0), Y - Y.mean(0)
    return float(np.linalg.norm(X.T @ Y) ** 2 / (np.linalg.norm(X.T @ X) * np.linalg.norm(Y.T @ Y)))


def np_gram_cka(K, L, debiased):
    """CKA from two Gram matrices: centring by means (biased) or U-centring (unbiased HSIC)."""
    def centre(G):
        G = G.copy()
        n = len(G)
        if not debiased:
            G -= G.mean(0, keepdims=True)
            G -= G.mean(1, keepdims=True)
            return G
        np.fill_diagonal(G, 0)
        m = G.sum(0) / (n - 2)
        m -= m.sum() / (2 * (n - 1))
        G -= m[:, None]
        G -= m[None, :]
        np.fill_diagonal(G, 0)
        return G

    Kc, Lc = centre(K), centre(L)
    return float((Kc * Lc).sum() / (np.linalg.norm(Kc) * np.linalg.norm(Lc)))


def np_rbf(X):
    sq = (X * X).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * X @ X.T, 0)
    return np.exp(-d2 / (2 * np.median(d2)))


def np_procrustes(X, Y):
    X, Y = X - X.mean(0), Y - Y.mean(0)
    X, Y = X / np.linalg.norm(X), Y / np.linalg.norm(Y)
    return float(np.linalg.svd(X.T @ Y, compute_uv=False).sum())


def np_relu_procrustes(X, Y):
    """Godfrey et al.'s G_ReLU-Procrustes of two dense layers (modelsym's wreath_procrustes)."""
    def unit(M):
        n = np.linalg.norm(M, axis=0)
        return np.where(n > 0, M / np.where(n > 0, n, 1), 0)

    U, V = unit(X), unit(Y)
    C = U.T @ V
    r, c = linear_sum_assignment(C, maximize=True)
    d2 = (U * U).sum() + (V * V).sum() - 2 * C[r, c].sum()
    return 1 - float(np.sqrt(max(d2, 0) / (4 * max(X.shape[1], Y.shape[1]))))


# ---------------------------------------------------------------- 1. one pair


def pair_table(n: int) -> None:
    g = torch.Generator().manual_seed(0)
    X = torch.relu(torch.randn(n, 512, generator=g))
    Y = torch.relu(X @ torch.randn(512, 512, generator=g) / 20 + torch.randn(n, 512, generator=g))
    Xn, Yn = X.numpy(), Y.numpy()
    X64, Y64 = Xn.astype(np.float64), Yn.astype(np.float64)
    print(f"\n## One pair, {n} x 512 ReLU activations (float32), 2 CPU threads\n")
    print("| measure | ours (s) | value | plain numpy (s) | its value | numpy / ours |")
    print("|---|---|---|---|---|---|")
    rows = [
        ("linear CKA", lambda: S.cka(X, Y), lambda: np_linear_cka(Xn, Yn), "numpy float32 feature space"),
        ("linear CKA, debiased", lambda: S.cka(X, Y, debiased=True), lambda: np_gram_cka(X64 @ X64.T, Y64 @ Y64.T, True), "numpy float64 Gram"),
        ("RBF CKA", lambda: S.cka(X, Y, "rbf"), lambda: np_gram_cka(np_rbf(X64), np_rbf(Y64), False), "numpy float64 Gram"),
        ("RBF CKA, debiased", lambda: S.cka(X, Y, "rbf", True), lambda: np_gram_cka(np_rbf(X64), np_rbf(Y64), True), "numpy float64 Gram"),
        ("orthogonal Procrustes", lambda: S.procrustes(X, Y), lambda: np_procrustes(Xn, Yn), "numpy float32"),
        ("G_ReLU Procrustes", lambda: S.relu_procrustes(X, Y), lambda: np_relu_procrustes(Xn, Yn), "numpy float32 + scipy LAP"),
        ("G_ReLU CKA, max kernel", lambda: S.relu_cka(X, Y), None, ""),
        ("G_ReLU CKA, Laplace kernel", lambda: S.relu_cka(X, Y, "laplace"), None, ""),
    ]
    for name, ours, peer, how in rows:
        t, v = timed(ours, 3 if "G_ReLU CKA" not in name else 1)  # best of 3 where a run is short
        if peer is None:
            print(f"| {name} | {t:.3f} | {v:.6f} | – | – | – |")
            continue
        tp, vp = timed(peer, 3 if "Gram" not in how else 1)
        print(f"| {name} | {t:.3f} | {v:.6f} | {tp:.3f} ({how}) | {vp:.6f} | {tp / t:.2f}x |")
    exact = S.cka(X.double(), Y.double())
    gram32 = np_gram_cka(Xn @ Xn.T, Yn @ Yn.T, False)
    print(f"\nlinear CKA, float64: {exact:.9f}; ours (float32 input) is off by {abs(S.cka(X, Y) - exact):.1e}; "
          f"a float32 Gram-based CKA by {abs(gram32 - exact):.1e} ({abs(gram32 - exact) / exact:.1%})")
    if PEER_PY.exists():
        with tempfile.TemporaryDirectory() as d:
            np.save(f"{d}/x.npy", Xn)
            np.save(f"{d}/y.npy", Yn)
            out = subprocess.run([str(PEER_PY), "-c", PEER, f"{d}/x.npy", f"{d}/y.npy", "2"], capture_output=True, text=True)
        if out.returncode == 0:
            v, tp = map(float, out.stdout.split())
            ours, _ = timed(lambda: S.cka(X, Y, debiased=True))
            print(f"torch-cka 0.21 unbiased HSIC (linear kernel, N x N): {tp:.1f} s, value {v:.6f}; "
                  f"ours debiased {ours:.3f} s: {tp / ours:.0f}x faster")
        else:
            print("torch-cka failed:", out.stderr.strip().splitlines()[-1:])
    else:
        print(f"torch-cka: no peers venv at {PEER_PY} (make bench-peers)")


# ---------------------------------------------------------------- 2. the 8 x 8 matrix


def network(n: int, seed: int, layers: int = 8, width: int = 512) -> dict:
    x = torch.randn(n, width, generator=torch.Generator().manual_seed(0))  # the same samples for both models
    g = torch.Generator().manual_seed(seed)
    out = {}
    for i in range(layers):
        x = torch.relu(x @ (torch.randn(width, width, generator=g) * 1.4 / width**0.5))
        out[f"relu{i}"] = x
    return out


def matrix_table(n: int) -> None:
    A, B = network(n, 1), network(n, 2)
    S.GRAM_BUDGET = 20 << 30  # 8 + 1 kernel matrices of 10k x 10k (0.8 GB each) on this 24 GiB machine
    a, b = torch.randn(512, n), torch.randn(n, 512)
    t_mm, _ = timed(lambda: a @ b, 5)
    rate = 2 * n * 512 * 512 / t_mm
    # the feature-space matrix cannot do less than 64 cross products X_a^T Y_b and 16 self products (N x 512 x 512)
    limit = 80 * 2 * n * 512 * 512 / rate
    print(f"\n## 8 x 8 layer-pair matrix of two 8-layer networks, {n} samples x 512 units (target: at most 16x one pair)\n")
    print(f"float32 GEMM rate here: {rate / 1e9:.0f} GFLOP/s, so the 80 products of 512 x {n} x 512 that a feature-space "
          f"matrix needs take {limit:.2f} s at best ('vs limit' = matrix time / that)\n")
    print("| measure | one pair (s) | 8 x 8 matrix (s) | ratio | vs limit |")
    print("|---|---|---|---|---|")
    for m in S.MEASURES:
        for debiased in ((False, True) if m == "cka_linear" else (False,)):
            t1, _ = timed(lambda: S.similarity(A["relu3"], B["relu3"], m, debiased), 3 if m not in S.GRAM_MEASURES else 1)
            t64, _ = timed(lambda: S.similarity_matrix(A, B, m, debiased))
            vs = f"{t64 / limit:.2f}" if m in ("cka_linear", "procrustes") else "(N x N kernels)" if m in S.GRAM_MEASURES else ""
            print(f"| {S.MEASURES[m][0]}{', debiased' if debiased else ''} | {t1:.2f} | {t64:.2f} | {t64 / t1:.1f}x | {vs} |", flush=True)


# ---------------------------------------------------------------- 3. the zoo


def zoo_table(n: int) -> None:
    from explorer.activations import extract_activations
    from explorer.checkpoint import load_checkpoint
    from explorer.data import load_probe
    from explorer.zoo import all_checkpoints

    cks = {c.name: c for c in all_checkpoints("mnist")[0]}
    probe = load_probe("mnist", n)
    print(f"\n## MNIST zoo, two seeds, {n} test samples: same-depth similarity per layer, and the corresponding-layer test\n")
    for arch in ("mlp_clf", "cnn_clf"):
        acts = []
        for seed in (0, 1):
            model, _ = load_checkpoint(cks[f"mnist-{arch}-s{seed}"], "cpu")
            acts.append(extract_activations(model, probe.x, include_input=True))
        names = [k for k in acts[0] if k != "input"]
        print(f"**{arch}** (layers and their channels: {', '.join(f'{k} ({acts[0][k].shape[1]})' for k in names)})\n")
        print("| measure | " + " | ".join(names) + " | corresponding layers | time (s) |")
        print("|---|" + "---|" * (len(names) + 2))
        for m in S.MEASURES:
            for debiased in ((False, True) if m == "cka_linear" else (m in S.UNBIASED_ONLY,)):
                t, df = timed(lambda: S.similarity_matrix(acts[0], acts[1], m, debiased))
                same = df[(df["depth A"] == df["depth B"])].set_index("layer A")["similarity"]
                frac, _ = S.corresponding_layers(df)
                print(f"| {S.MEASURES[m][0]}{', debiased' if debiased else ''} | "
                      + " | ".join(f"{same[k]:.3f}" for k in names) + f" | {frac:.0%} | {t:.1f} |", flush=True)
        print()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--zoo-n", type=int, default=2000)
    ap.add_argument("--only", choices=["pair", "matrix", "zoo"])
    args = ap.parse_args()
    torch.set_num_threads(2)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads()}))
    if args.only in (None, "pair"):
        pair_table(args.n)
    if args.only in (None, "matrix"):
        matrix_table(args.n)
    if args.only in (None, "zoo"):
        zoo_table(args.zoo_n)

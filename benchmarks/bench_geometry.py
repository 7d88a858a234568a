"""Geometry benchmark: our TwoNN, decimation and overlap against DADApy and scikit-dimension, in one run.

The peers need numpy<2, so they live in their own venv (`make bench-peers` makes .venv-bench).
The same arrays are saved to disk; each peer runs in a subprocess that loads them, and only the
computation inside each process is timed. Run: `make bench-peers && python benchmarks/bench_geometry.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from common import timed  # noqa: E402
from explorer.intrinsic_dim import twonn, twonn_scaling  # noqa: E402
from explorer.neighborhoods import overlap  # noqa: E402

PEER_PY = Path(os.environ.get("BENCH_VENV", ROOT / ".venv-bench")) / "bin" / "python"

PEER = r"""
import json, sys, time, numpy as np
what, path, extra, repeat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

def run():
    if what == "dadapy_id":
        from dadapy import Data
        ident, err, scale = Data(X, maxk=3).compute_id_2NN()
        return {"id": float(ident)}
    if what == "dadapy_scaling":
        from dadapy import Data
        ids, errs, rs = Data(X, maxk=3).return_id_scaling_2NN()
        return {"ids": [float(v) for v in ids]}
    if what == "dadapy_overlap":
        from dadapy import Data
        return {"overlap": float(Data(X, maxk=10).return_data_overlap(Y, k=10))}
    import skdim
    return {"id": float(skdim.id.TwoNN().fit(X).dimension_)}

X = np.load(path)
Y = np.load(extra) if extra else None
best = float("inf")
for _ in range(repeat):  # the best of `repeat` runs, the same rule as for our code
    t = time.perf_counter(); out = run(); best = min(best, time.perf_counter() - t)
out["t"] = best
print(json.dumps(out))
"""


def peer(what: str, path: Path, extra: Path | None = None, repeat: int = 3) -> dict | None:
    if not PEER_PY.exists():
        return None
    r = subprocess.run([str(PEER_PY), "-c", PEER, what, str(path), str(extra or ""), str(repeat)], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"  {what} failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}", file=sys.stderr)
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])




def gaussian(n: int, d: int = 10, D: int = 100, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)) @ rng.standard_normal((d, D))).astype(np.float64)


def main(sizes=(5000, 10000, 20000), skdim_max: int = 20000):
    torch.set_num_threads(2)
    if not PEER_PY.exists():
        print(f"(peers not installed at {PEER_PY}: run `make bench-peers`; only our timings are shown)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            X = gaussian(n)
            p = Path(tmp) / f"x{n}.npy"
            np.save(p, X)
            ours_t, ours = timed(lambda: twonn(torch.from_numpy(X)))
            ours64_t, ours64 = timed(lambda: twonn(torch.from_numpy(X), dtype=torch.float64))
            da = peer("dadapy_id", p)
            sk = peer("skdim_id", p, repeat=1) if n <= skdim_max else None
            rows.append(("TwoNN", n, ours_t, ours.id, da, "id"))
            rows.append(("TwoNN float64", n, ours64_t, ours64.id, da, "id"))
            if sk:
                rows.append(("TwoNN vs scikit-dimension", n, ours_t, ours.id, sk, "id"))
        n = sizes[-1]
        X = gaussian(n)
        p = Path(tmp) / "scaling.npy"
        np.save(p, X)
        sc_t, sc = timed(lambda: twonn_scaling(torch.from_numpy(X), n_min=10))
        rows.append(("decimation (ID vs scale)", n, sc_t, float(sc.id_mean[0]), peer("dadapy_scaling", p), None))
        A, B = gaussian(5000, seed=1), gaussian(5000, seed=1) + 0.05 * gaussian(5000, seed=2)
        pa, pb = Path(tmp) / "a.npy", Path(tmp) / "b.npy"
        np.save(pa, A)
        np.save(pb, B)
        ov_t, ov = timed(lambda: overlap(torch.from_numpy(A), torch.from_numpy(B), k=10))
        rows.append(("overlap of two 5000x100 sets, k=10", 5000, ov_t, ov, peer("dadapy_overlap", pa, pb), "overlap"))

    print("10-D Gaussian in R^100; times are the best of 3 runs (scikit-dimension: 1), computation only")
    print(f"{'what':38s} {'N':>6s} {'ours s':>8s} {'peer s':>8s} {'ratio':>6s}  {'ours value':>12s} {'peer value':>12s} {'|diff|':>8s}")
    for name, n, t, val, pr, key in rows:
        pt = pr["t"] if pr else float("nan")
        pv = pr.get(key) if (pr and key) else float("nan")
        ratio = t / pt if pr else float("nan")
        print(f"{name:38s} {n:6d} {t:8.3f} {pt:8.3f} {ratio:6.2f}  {val:12.7f} {pv:12.7f} {abs(val - pv):8.1e}")


if __name__ == "__main__":
    main()

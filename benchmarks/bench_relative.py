"""Relative-representation benchmark: projection speed, the word table, UMAP cold vs cached.

Run: `python benchmarks/bench_relative.py` (the word table takes about 3 minutes on 2 cores).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import timed  # noqa: E402
from explorer.relative import relative_projection  # noqa: E402
from explorer.words import word_table  # noqa: E402




UMAP_SNIPPET = """
import sys, time, numpy as np
sys.path.insert(0, {root!r})
from explorer.cache import DiskCache
from explorer.projection import project_2d
X = np.random.default_rng(0).standard_normal((5000, 64)).astype(np.float32)
c = DiskCache({cache!r})
t = time.perf_counter()
c.memoize("umap", {{"x": X}}, lambda: {{"xy": project_2d(X, "umap")[0]}})
print(time.perf_counter() - t)
"""


def main(words: bool = True):
    torch.set_num_threads(2)
    rows = []
    g = torch.Generator().manual_seed(0)
    X = torch.randn(70000, 256, generator=g)
    A = torch.randn(500, 256, generator=g)
    relative_projection(X[:1000], A)
    t, _ = timed(lambda: relative_projection(X, A), repeat=5)
    rows.append(("relative projection 70000x256 vs 500 anchors (cosine)", t, "target < 0.2 s"))
    with tempfile.TemporaryDirectory() as d:
        code = UMAP_SNIPPET.format(root=str(Path(__file__).resolve().parent.parent), cache=d)
        cold = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        warm = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    rows.append(("UMAP of 5000 points, new process, cold (numba compile + fit)", cold, ""))
    rows.append(("UMAP of 5000 points, new process, from the disk cache", warm, f"{cold / warm:.0f}x faster"))
    if words:
        t, df = timed(lambda: word_table(20000, 300, 10, 10))
        rows.append(("word table: 20k words, 300 anchors, 10 seeds, both directions, plain + centred", t, ""))
    w = max(len(r[0]) for r in rows)
    for name, t, note in rows:
        print(f"{name:{w}s}  {t:8.3f} s  {note}")
    if words:
        print(df.round(3).to_string(index=False))


if __name__ == "__main__":
    main(words="--no-words" not in sys.argv)

"""Stitching benchmark: one trained stitch on digits, the 3x3 zero-shot grid on MNIST, a warm page rerun.

Run: `python benchmarks/bench_stitching.py` (needs MNIST under EXPLORER_DATA_DIR).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from common import timed  # noqa: E402
from explorer.checkpoint import load_checkpoint  # noqa: E402
from explorer.data import load_split  # noqa: E402
from explorer.stitching import StitchData, fit_stitch, grid_summary, split_at, zero_shot_grid  # noqa: E402
from explorer.zoo import ZOO_DIR  # noqa: E402




def warm_rerun() -> float:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    at.run()
    at.switch_page("app_pages/stitching.py").run()
    t, _ = timed(at.run)
    return t


def main():
    torch.set_num_threads(2)
    load = lambda n: load_checkpoint(ZOO_DIR / f"{n}.json")[0]  # noqa: E731
    tr = load_split("digits", "train")
    a, b = load("digits-mlp_clf-s0"), load("digits-mlp_clf-s1")
    fa, _ = split_at(a, "body.relu2")
    fb, bb = split_at(b, "body.relu2")
    with torch.no_grad():
        data = StitchData(fa(tr.x), fb(tr.x), tr.y, fa(tr.x[:300]), fb(tr.x[:300]))
    rows = []
    for fam in ("affine", "permutation x scale"):
        t, _ = timed(lambda: fit_stitch(fam, data, bb, epochs=20))
        rows.append((f"one trained stitch on digits ({fam}, 20 epochs, 512 units)", t, "target < 5 s"))
    te = load_split("mnist", "test")
    for arch, metric in (("rel_ae-l64", "mse"), ("mlp_ae-l64", "mse"), ("rel_clf", "accuracy"), ("mlp_clf", "accuracy")):
        names = [f"mnist-{arch}-s{i}" for i in range(3)]
        models = [load(n) for n in names]
        t, g = timed(lambda: zero_shot_grid(models, names, te.x, te.y))
        s = grid_summary(g, metric)
        rows.append((f"3x3 zero-shot grid, MNIST test 10k, {arch}", t,
                     f"target < 5 s; {metric} unstitched {s['unstitched'][0]:.4f} ± {s['unstitched'][1]:.4f}, "
                     f"stitched {s['stitched'][0]:.4f} ± {s['stitched'][1]:.4f}"))
    rows.append(("Stitching page, warm rerun (AppTest, digits defaults)", warm_rerun(), "target < 0.3 s"))
    for name, t, note in rows:
        print(f"{name:62s} {t:7.3f} s  {note}")


if __name__ == "__main__":
    main()

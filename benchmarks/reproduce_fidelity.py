"""The README's reproduced numbers under the published definitions (issue: fidelity), in one run.

Run: `python benchmarks/reproduce_fidelity.py` (needs MNIST under EXPLORER_DATA_DIR; about 5 minutes on 2 cores).
Prints three markdown tables: barriers (Git Re-Basin and Entezari et al.) naive vs weight matching for every seed
pair of the shipped MLP classifiers; trained stitching penalties (Godfrey et al. eq. 4.3) on digits MLP seeds 0
and 1; DADApy's decimation of the MNIST test set.
"""

from __future__ import annotations

import sys
from itertools import combinations
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from explorer.alignment import apply_permutation, perm_spec, weight_matching  # noqa: E402
from explorer.checkpoint import load_checkpoint  # noqa: E402
from explorer.data import load_split  # noqa: E402
from explorer.intrinsic_dim import twonn_scaling  # noqa: E402
from explorer.interpolation import barriers, path_curve  # noqa: E402
from explorer.stitching import FAMILIES, stitching_penalties  # noqa: E402
from explorer.zoo import ZOO_DIR  # noqa: E402


def _model(name):
    return load_checkpoint(ZOO_DIR / f"{name}.json")[0]


def barrier_table() -> None:
    print("| model | pair | loss barrier GRB naive | GRB aligned | loss barrier Entezari naive | Entezari aligned "
          "| acc. barrier GRB naive | GRB aligned | acc. barrier Entezari naive | Entezari aligned |")
    print("|---|---|" + "---|" * 8)
    alphas = np.linspace(0, 1, 25)
    for dataset in ("digits", "mnist"):
        te = load_split(dataset, "test")
        for i, j in combinations(range(3), 2):
            a, b = _model(f"{dataset}-mlp_clf-s{i}"), _model(f"{dataset}-mlp_clf-s{j}")
            spec = perm_spec(a)
            aligned = apply_permutation(b.state_dict(), spec, weight_matching(a.state_dict(), b.state_dict(), spec))
            naive = barriers(path_curve(a, a.state_dict(), b.state_dict(), {"test": (te.x, te.y)}, alphas)).iloc[0]
            good = barriers(path_curve(a, a.state_dict(), aligned, {"test": (te.x, te.y)}, alphas)).iloc[0]
            cells = [f"{v[f'{m} barrier ({d})']:.3f}" for m in ("loss", "accuracy") for d in ("Git Re-Basin", "Entezari et al.")
                     for v in (naive, good)]
            print(f"| {dataset} MLP | {i}-{j} | " + " | ".join(cells) + " |", flush=True)


def stitch_table() -> None:
    tr, te = load_split("digits", "train"), load_split("digits", "test")
    from explorer.train import anchor_indices_for

    anchors = tr.x[torch.tensor(anchor_indices_for("digits", 300))]
    pen = stitching_penalties(_model("digits-mlp_clf-s0"), _model("digits-mlp_clf-s1"), (tr.x, tr.y), (te.x, te.y), anchors,
                              FAMILIES, rank=4, epochs=20)
    table = pen.pivot_table(index="family", columns="layer", values="penalty", sort=False)
    print("\n| family | " + " | ".join(table.columns) + " | parameters (relu1) |")
    print("|---|" + "---|" * (len(table.columns) + 1))
    params = pen[pen["layer"] == "body.relu1"].set_index("family")["parameters"]
    for fam, row in table.iterrows():
        print(f"| {fam} | " + " | ".join(f"{v:.3f}" for v in row) + f" | {int(params[fam])} |")
    print(f"\naccuracy A {pen['accuracy A'].iloc[0]:.4f}, accuracy B {pen['accuracy B'].iloc[0]:.4f}")


def decimation_table() -> None:
    X = load_split("mnist", "test").x.flatten(1)
    res = twonn_scaling(X, seed=0)
    print("\n| points per subset | subsets | ID | error | scale |")
    print("|---|---|---|---|---|")
    for row in res.frame().itertuples(index=False):
        print(f"| {row[1]} | {row[0]} | {row[2]:.2f} | {row[3]:.2f} | {row[4]:.3f} |")


if __name__ == "__main__":
    torch.set_num_threads(2)
    barrier_table()
    stitch_table()
    decimation_table()

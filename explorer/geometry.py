"""Layer geometry of a network: intrinsic dimension and neighbourhood overlaps, layer by layer.

The input is ``{layer: [N, D]}`` in depth order (the input itself first, as layer 0). Each
layer's neighbour table is computed once and shared by every overlap that needs it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from explorer.intrinsic_dim import twonn
from explorer.neighborhoods import check_points, knn, overlap_of_indices


def neighbour_tables(layers: dict, k: int) -> dict[str, torch.Tensor]:
    return {name: knn(check_points(v, k, f"layer {name}"), k, distances=False, check=False)[1] for name, v in layers.items()}


def layer_profile(layers: dict, labels, k: int = 10, tables: dict | None = None) -> pd.DataFrame:
    """One row per layer: depth, width, TwoNN ID with its standard error, duplicates removed,
    overlap of the neighbourhoods with the labels, and with the previous layer's neighbourhoods."""
    tables = tables or neighbour_tables(layers, k)
    y = torch.as_tensor(np.asarray(labels))
    rows, prev = [], None
    for depth, (name, X) in enumerate(layers.items()):
        X = torch.as_tensor(X)
        r = twonn(X)
        nn = tables[name]
        rows.append(
            {
                "depth": depth,
                "layer": name,
                "width": int(X.reshape(len(X), -1).shape[1]),
                "id": r.id,
                "id stderr": r.stderr,
                "duplicates": r.n_duplicates,
                "label overlap": float((y.to(nn.device)[nn] == y.to(nn.device)[:, None]).double().mean()),
                "overlap with previous": float(overlap_of_indices(prev, nn).mean()) if prev is not None else np.nan,
            }
        )
        prev = nn
    return pd.DataFrame(rows)


def cross_overlap(tables_a: dict, tables_b: dict) -> pd.DataFrame:
    """Neighbourhood overlap of every layer of A with every layer of B (long format)."""
    rows = []
    for i, (la, na) in enumerate(tables_a.items()):
        for j, (lb, nb) in enumerate(tables_b.items()):
            rows.append({"depth A": i, "layer A": la, "depth B": j, "layer B": lb, "overlap": float(overlap_of_indices(na, nb.to(na.device)).mean())})
    return pd.DataFrame(rows)

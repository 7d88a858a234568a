"""Layer geometry of a network: intrinsic dimension and neighbourhood overlaps, layer by layer.

The input is ``{layer: [N, D]}`` in depth order (the input itself first, as layer 0). Each
layer's neighbour table is computed once and shared by every overlap that needs it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from explorer.intrinsic_dim import twonn
from explorer.neighborhoods import check_points, knn, label_overlap_of_indices, overlap_of_indices


def neighbour_tables(layers: dict, k: int) -> dict[str, torch.Tensor | None]:
    """Each layer's k-NN index table; None for a layer where neighbourhoods are undefined."""
    out = {}
    for name, v in layers.items():
        try:
            out[name] = knn(check_points(v, k, f"layer {name}"), k, distances=False, check=False)[1]
        except ValueError:
            out[name] = None
    return out


def layer_profile(layers: dict, labels, k: int = 10, tables: dict | None = None) -> pd.DataFrame:
    """One row per layer: depth, width, TwoNN ID with its standard error, duplicates removed,
    overlap of the neighbourhoods with the labels, and with the previous layer's neighbourhoods.

    ``label overlap`` is the plain mean over samples, as the geometry talk defines it (Doimo et al.);
    ``label overlap (class-weighted)`` averages each class's mean instead, DADApy's default
    (``return_label_overlap(weighted=True)``): the two differ when the classes are unbalanced.

    A layer where the analysis is undefined (NaN values, fewer than 3 distinct points) gets
    missing values and the reason in ``note``; the other layers are unaffected.
    """
    tables = tables or neighbour_tables(layers, k)
    rows, prev = [], None
    for depth, (name, X) in enumerate(layers.items()):
        X = torch.as_tensor(X)
        row = {"depth": depth, "layer": name, "width": int(X.reshape(len(X), -1).shape[1]), "id": np.nan, "id stderr": np.nan,
               "duplicates": np.nan, "label overlap": np.nan, "label overlap (class-weighted)": np.nan,
               "overlap with previous": np.nan, "note": ""}
        nn = tables[name]
        try:
            r = twonn(X)
            row.update({"id": r.id, "id stderr": r.stderr, "duplicates": r.n_duplicates})
        except ValueError as exc:
            row["note"] = str(exc)
        if nn is not None and labels is not None:  # a probe without labels (words, a file) has no label overlap
            row["label overlap"] = label_overlap_of_indices(nn, labels)
            row["label overlap (class-weighted)"] = label_overlap_of_indices(nn, labels, class_weighted=True)
        if nn is not None:
            if prev is not None:
                row["overlap with previous"] = float(overlap_of_indices(prev, nn).mean())
        rows.append(row)
        prev = nn
    return pd.DataFrame(rows)


def cross_overlap(tables_a: dict, tables_b: dict) -> pd.DataFrame:
    """Neighbourhood overlap of every layer of A with every layer of B (long format)."""
    rows = []
    for i, (la, na) in enumerate(tables_a.items()):
        for j, (lb, nb) in enumerate(tables_b.items()):
            value = float(overlap_of_indices(na, nb.to(na.device)).mean()) if na is not None and nb is not None else np.nan
            rows.append({"depth A": i, "layer A": la, "depth B": j, "layer B": lb, "overlap": value})
    return pd.DataFrame(rows)

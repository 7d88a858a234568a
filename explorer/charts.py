"""DataFrames to Altair charts. Pure functions: testable without a browser."""

from __future__ import annotations

import altair as alt
import pandas as pd

CLASS_SCHEME = "category10"


def zoo_metrics(df: pd.DataFrame) -> alt.Chart:
    """Test metric of each model (MSE for autoencoders, accuracy for classifiers), grouped by architecture."""
    rows = []
    for _, r in df.iterrows():
        if pd.notna(r.get("test accuracy")):
            rows.append({"model": r["model"], "architecture": r["architecture"], "metric": "test accuracy", "value": r["test accuracy"]})
        elif pd.notna(r.get("test MSE")):
            rows.append({"model": r["model"], "architecture": r["architecture"], "metric": "test MSE", "value": r["test MSE"]})
    long = pd.DataFrame(rows, columns=["model", "architecture", "metric", "value"])
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("value:Q", title=None),
            y=alt.Y("model:N", sort=None, title=None),
            color=alt.Color("architecture:N", legend=alt.Legend(orient="bottom", columns=3)),
            tooltip=["model", "architecture", "metric", alt.Tooltip("value:Q", format=".4f")],
        )
        .properties(width=300)
        .facet(column=alt.Column("metric:N", title=None))
        .resolve_scale(x="independent", y="independent")
    )


def image_strip(images) -> list:
    """Images [N, C, H, W] in [0, 1] to a list of HxW(xC) uint8 arrays for st.image."""
    import numpy as np

    out = []
    for img in images:
        a = np.asarray(img.detach().cpu() if hasattr(img, "detach") else img)
        a = np.clip(a, 0, 1)
        a = a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)
        out.append((a * 255).astype("uint8"))
    return out

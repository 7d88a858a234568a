"""Charts are built from DataFrames without a browser; their specs say what a person will see."""

import numpy as np
import pandas as pd
import vl_convert

from explorer import charts


def _views(n=30):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"id": np.arange(n), "class": np.arange(n) % 3, "anchor": np.arange(n) < 5})
    for k in ("a", "b", "c", "d"):
        df[f"{k}_x"], df[f"{k}_y"] = rng.normal(size=n), rng.normal(size=n)
    return df


def test_linked_views_share_brushes_across_four_panels_and_render_to_svg():
    spec = charts.linked_views(_views(), [("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")]).to_dict()
    panels = [c for row in spec["vconcat"] for c in row["hconcat"]]
    assert len(panels) == 4
    brushes = {p["name"]: p["views"] for p in spec["params"]}  # Altair lifts each brush to the top, bound to a view
    names = set(brushes)
    assert names == {"brush_a", "brush_b", "brush_c", "brush_d"}
    assert sorted(v for views in brushes.values() for v in views) == sorted(p["name"] for p in panels)
    cond = panels[0]["encoding"]["color"]["condition"]["test"]
    assert all(n in str(cond) for n in names)  # each panel's colour depends on all four brushes
    svg = vl_convert.vegalite_to_svg(spec)
    assert svg.startswith("<svg") and svg.count("<path") > 20


def test_image_tooltips_are_png_data_urls():
    imgs = np.zeros((2, 1, 8, 8), dtype=np.float32)
    imgs[1, 0, 2, 3] = 1.0
    urls = charts.image_data_urls(imgs, size=16)
    assert all(u.startswith("data:image/png;base64,") for u in urls) and urls[0] != urls[1]


def test_depth_curves_drop_undefined_values_and_heatmap_is_bounded():
    df = pd.DataFrame({"depth": [0, 1, 2], "layer": ["input", "l1", "l2"], "id": [5.0, np.nan, 3.0], "id stderr": [0.1, np.nan, 0.2], "model": "A"})
    spec = charts.depth_curves(df, "id", "ID", err="id stderr", color="model").to_dict()
    datasets = list(spec["datasets"].values())
    assert all(len(d) == 2 for d in datasets)  # the NaN layer is left out, never drawn
    cross = pd.DataFrame({"layer A": ["x", "y", "x"], "layer B": ["x", "y", "y"], "overlap": [1.0, 0.4, np.nan]})
    h = charts.layer_heatmap(cross).to_dict()
    rect, text = h["layer"]
    assert rect["encoding"]["color"]["scale"] == {"domain": [0, 1], "scheme": "viridis", "clamp": True}
    assert text["encoding"]["text"]["field"] == "overlap"
    assert len(list(h["datasets"].values())[0]) == 2  # the pair without a value is blank, not NaN
    sim = cross.rename(columns={"overlap": "similarity"})
    s = charts.layer_heatmap(sim, "similarity", title="Linear CKA").to_dict()
    assert s["title"] == "Linear CKA" and s["layer"][0]["encoding"]["color"]["field"] == "similarity"


def test_penalty_and_path_charts_encode_what_they_claim():
    pen = pd.DataFrame({"layer": ["l1", "l2"], "family": ["affine", "affine"], "parameters": [10, 10],
                        "accuracy stitched": [0.9, 0.8], "penalty": [0.05, np.nan]})
    spec = charts.penalty_chart(pen).to_dict()
    assert spec["encoding"]["color"]["field"] == "family" and len(list(spec["datasets"].values())[0]) == 1
    curve = pd.DataFrame({"alpha": [0, 1], "split": "test", "path": "naive", "loss": [0.1, 0.2], "accuracy": [0.9, 0.9]})
    p = charts.path_chart(curve, "loss").to_dict()
    assert p["encoding"]["y"]["field"] == "loss" and p["encoding"]["strokeDash"]["field"] == "split"

"""Charts are built from DataFrames without a browser; their specs say what a person will see."""

import numpy as np
import pandas as pd

from explorer import charts


def _views(n=30):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"id": np.arange(n), "class": np.arange(n) % 3, "anchor": np.arange(n) < 5})
    for k in ("a", "b", "c", "d"):
        df[f"{k}_x"], df[f"{k}_y"] = rng.normal(size=n), rng.normal(size=n)
    return df


def test_linked_view_payloads_carry_each_view_with_the_shared_rows():
    df = _views()
    payloads = charts.view_payloads(df, [("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")], "g", sprite="sprite-x")
    assert [p["meta"]["key"] for p in payloads] == ["a", "b", "c", "d"]
    assert [p["meta"]["order"] for p in payloads] == [0, 1, 2, 3]
    assert all(p["meta"]["group"] == "g" and p["meta"]["sprite"] == "sprite-x" for p in payloads)
    assert [p["meta"]["legend"] for p in payloads] == [True, False, False, False]
    f = payloads[1]["frame"]
    assert list(f.columns) == ["x", "y", "id", "class", "anchor"]
    assert f["x"].dtype == np.float32 and f["id"].dtype == np.int32 and f["anchor"].dtype == np.uint8
    np.testing.assert_array_equal(f["x"], df["b_x"].to_numpy(np.float32))
    np.testing.assert_array_equal(f["anchor"], df["anchor"].astype(np.uint8))
    assert payloads[0]["meta"]["classes"] == ["0", "1", "2"]
    np.testing.assert_array_equal(f["class"], df["class"] % 3)
    # a view whose points move gets a new version; the others keep theirs (the browser keeps their rectangles)
    moved = df.assign(b_x=df["b_x"] + 1)
    again = charts.view_payloads(moved, [("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")], "g")
    assert again[0]["meta"]["version"] == payloads[0]["meta"]["version"]
    assert again[1]["meta"]["version"] != payloads[1]["meta"]["version"]


def test_a_text_probe_sends_its_texts_for_the_hover():
    df = pd.DataFrame({"id": [0, 1, 2], "class": ["none"] * 3, "anchor": [True, False, False], "text": ["cat", "dog", "sea"],
                       "v_x": [0.0, 1.0, 2.0], "v_y": [1.0, 0.0, 2.0]})
    (p,) = charts.view_payloads(df, [("v", "view")], "g")
    assert list(p["frame"]["text"]) == ["cat", "dog", "sea"] and p["meta"]["classes"] == ["none"]


def test_the_image_sprite_holds_image_i_in_cell_i():
    import io
    import json
    import struct

    from PIL import Image

    imgs = np.zeros((5, 1, 8, 8), dtype=np.float32)
    for i in range(5):
        imgs[i, 0, i, i] = 1.0
    raw = charts.image_sprite(imgs, "k")
    (n,) = struct.unpack("<I", raw[:4])
    head = json.loads(raw[4 : 4 + n])
    assert head == {"key": "k", "cell": 8, "cols": 3, "n": 5}
    sheet = np.asarray(Image.open(io.BytesIO(raw[4 + n :])))
    assert sheet.shape == (16, 24)  # 2 rows x 3 columns of 8-pixel cells, grey
    for i in range(5):
        cell = sheet[(i // 3) * 8 : (i // 3) * 8 + 8, (i % 3) * 8 : (i % 3) * 8 + 8]
        assert cell[i, i] == 255 and cell.sum() == 255
    # data URLs (an embeddings file's image column) are decoded, reduced to at most 32 pixels
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (255, 0, 0)).save(buf, format="PNG")
    import base64

    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    raw = charts.image_sprite([url, url], "u")
    (n,) = struct.unpack("<I", raw[:4])
    assert json.loads(raw[4 : 4 + n])["cell"] == 32
    sheet = np.asarray(Image.open(io.BytesIO(raw[4 + n :])))
    assert sheet.shape == (32, 64, 3) and tuple(sheet[5, 40]) == (255, 0, 0)


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
    pen = pd.DataFrame({"layer": ["l1", "l2"] * 2, "family": ["affine", "affine", "identity", "identity"], "parameters": [10, 10, 0, 0],
                        "accuracy stitched": [0.9, 0.8, 0.1, 0.1], "penalty": [0.05, np.nan, 0.9, 0.85]})
    spec = charts.penalty_chart(pen).to_dict()
    ident, fitted, label = spec["layer"]
    assert fitted["encoding"]["color"]["field"] == "family" and fitted["encoding"]["y"]["scale"]["type"] == "symlog"
    assert len(spec["datasets"][fitted["data"]["name"]]) == 1  # the NaN penalty is left out
    assert ident["mark"]["strokeDash"] == [6, 4] and {r["family"] for r in spec["datasets"][ident["data"]["name"]]} == {"identity"}
    curve = pd.DataFrame({"alpha": [0, 1] * 2, "split": "test", "path": ["naive"] * 2 + ["weight matching"] * 2,
                          "loss": [0.1, 0.2] * 2, "accuracy": [0.9, 0.9] * 2})
    spec = charts.path_charts(curve, ("loss", "accuracy")).to_dict()
    lines, points = spec["spec"]["layer"]
    assert lines["encoding"]["y"]["field"] == "value" and lines["encoding"]["strokeDash"]["field"] == "split"
    # one panel per metric, in the order asked, each with its own y scale (loss and accuracy differ in range)
    assert spec["facet"]["column"] == {"field": "metric", "type": "nominal", "title": None, "sort": ["loss", "accuracy"]}
    assert spec["resolve"] == {"scale": {"y": "independent"}}
    rows = spec["datasets"].popitem()[1]
    assert len(rows) == 8 and {(r["metric"], r["path"], r["alpha"]): r["value"] for r in rows}[("accuracy", "naive", 1)] == 0.9
    # two paths that coincide stay visible: different marker shapes, the first drawn wider underneath
    assert points["encoding"]["shape"]["scale"]["range"][:2] == ["circle", "square"]
    widths = {r["path"]: r["width"] for r in rows}
    assert widths["naive"] > widths["weight matching"]


def test_stitching_grids_share_one_colour_scale_and_short_labels():
    names = ["digits-rel_ae-l16-s0", "digits-rel_ae-l16-s1", "digits-rel_ae-l16-s2"]
    assert charts.short_labels(names) == dict(zip(names, ["s0", "s1", "s2"]))
    assert charts.short_labels(["digits-rel_clf-s0", "digits-rel_cnn_clf-s1"]) == {
        "digits-rel_clf-s0": "rel_clf-s0", "digits-rel_cnn_clf-s1": "rel_cnn_clf-s1"}
    rel = pd.DataFrame([{"encoder": e, "decoder": d, "mse": 0.01 + 0.001 * i} for i, (e, d) in enumerate((e, d) for e in names for d in names)])
    ab = rel.assign(mse=rel["mse"] * 10)
    domain = charts.shared_domain([rel, ab], "mse")
    assert domain == [0.0, float(ab["mse"].max())]
    acc = rel.rename(columns={"mse": "accuracy"})
    assert charts.shared_domain([acc.assign(accuracy=0.97), acc.assign(accuracy=0.06)], "accuracy") == [0.0, 1.0]
    specs = [charts.grid_heatmap(g, "mse", t, reverse=True, domain=domain).to_dict() for g, t in ((rel, "relative"), (ab, "absolute"))]
    for spec in specs:
        rect, text = spec["layer"]
        assert rect["encoding"]["color"]["scale"]["domain"] == domain
        assert spec["width"] >= 3 * 70 and text["mark"]["fontSize"] >= 12  # cells large enough for "0.0160"
        rows = spec["datasets"][spec["data"]["name"]] if "data" in spec else list(spec["datasets"].values())[0]
        assert {r["enc"] for r in rows} == {"s0", "s1", "s2"}


def test_the_anchor_sweep_axis_ends_where_the_data_ends():
    sw = pd.DataFrame({"anchors": [1, 10, 300] * 2, "metric": "mrr", "space": ["relative"] * 3 + ["absolute"] * 3,
                       "value": [0.1, 0.5, 0.9, 0.0, 0.0, 0.0]})
    lines, points = charts.anchor_sweep_chart(sw).to_dict()["layer"]
    assert lines["encoding"]["x"]["scale"]["domain"] == [1.0, 300.0]
    assert lines["encoding"]["strokeDash"]["legend"]["symbolType"] == "stroke"  # the legend shows solid vs dashed


def test_zoo_table_has_no_none_cells():
    from explorer.zoo import all_checkpoints, zoo_frame, zoo_table

    cks, _ = all_checkpoints("digits")
    t = zoo_table(zoo_frame(cks))
    assert len(t) == len(cks) and not t.isna().any().any()
    assert "None" not in t.astype(str).to_numpy().ravel().tolist() and "nan" not in t.astype(str).to_numpy().ravel().tolist()
    ae = t[t["model"] == "digits-mlp_ae-l16-s0"].iloc[0]
    assert ae["test"].startswith("MSE ") and ae["latent"] == "16" and ae["anchors"] == "—"


def test_the_svg_button_renders_a_chart_with_its_data_inline():
    from explorer.ui.widgets import _spec, chart_svg

    sw = pd.DataFrame({"anchors": [1, 10, 300] * 2, "metric": "mrr", "space": ["relative"] * 3 + ["absolute"] * 3,
                       "value": [0.1, 0.5, 0.9, 0.0, 0.0, 0.0]})
    chart = charts.anchor_sweep_chart(sw)
    for presenting in (False, True):
        svg = chart_svg(chart, presenting, True)
        assert svg.startswith("<svg") and "number of anchors" in svg
    # what the page sends is built once per chart object and mode, its data as Arrow bytes
    assert _spec(chart, False, True) is _spec(chart, False, True)
    assert all(isinstance(v, bytes) for v in _spec(chart, False, True)["datasets"].values())


def test_an_image_row_puts_tile_i_at_column_i_enlarged_by_whole_pixels():
    imgs = np.zeros((3, 1, 4, 4), dtype=np.float32)
    for i in range(3):
        imgs[i, 0, i, i] = 1.0
    row = charts.image_row(imgs, cell=8, gap=2)
    assert row.shape == (8, 3 * 8 + 2 * 2) and row.dtype == np.uint8
    for i in range(3):
        tile = row[:, i * 10 : i * 10 + 8]
        # pixel (i, i) became the 2x2 block at (2i, 2i); nothing else is lit
        assert (tile[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] == 255).all() and tile.sum() == 4 * 255
    assert (row[:, 8:10] == 255).all() and (row[:, 18:20] == 255).all()  # the gaps are white
    rgb = charts.image_row(np.ones((2, 3, 4, 4), dtype=np.float32) * 0.5, cell=4, gap=1)
    assert rgb.shape == (4, 9, 3) and rgb[0, 0, 0] == 127


def test_presentation_mode_enlarges_every_font_of_a_chart_and_keeps_the_rest():
    from explorer.ui.widgets import _for_screen

    df = pd.DataFrame({"alpha": [0.0, 0.5, 1.0] * 2, "loss": [1.0, 2.0, 1.0] * 2, "split": ["test"] * 3 + ["train"] * 3,
                       "path": "naive", "accuracy": 0.5})
    chart = charts.path_charts(df, ("loss", "accuracy"))
    big = _for_screen(chart).to_dict()
    assert big["config"]["axis"] == {"labelFontSize": 15, "titleFontSize": 17, "titleLimit": 2000, "labelLimit": 400}
    assert big["config"]["legend"]["labelFontSize"] == 15 and big["config"]["title"] == {"fontSize": 20}
    assert big["config"]["header"] == {"labelFontSize": 17, "titleFontSize": 18} and big["config"]["text"] == {"fontSize": 15}
    plain = chart.to_dict()
    assert {k: v for k, v in big.items() if k != "config"} == {k: v for k, v in plain.items() if k != "config"}


def test_altair_builds_its_table_of_schema_hashes_once(monkeypatch):
    """charts._schema_table_built_once: a chart's channels no longer hash every schema class each time (as
    Altair's own ``_FromDict`` does), and the charts come out the same."""
    import altair as alt

    fd = alt.utils.schemapi._FromDict
    assert charts._schema_table_built_once() and fd.__init__._explorer_once  # in place once charts is imported
    calls = []
    real = fd.hash_schema.__func__
    monkeypatch.setattr(fd, "hash_schema", classmethod(lambda cls, schema, use_json=True: calls.append(1) or real(cls, schema, use_json)))
    df = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0], "c": ["x", "y"]})

    def build() -> tuple[dict, int]:  # channels given as dicts go through SchemaBase.from_dict
        calls.clear()
        spec = alt.Chart(df).mark_point().encode(x={"field": "a", "type": "quantitative"}, y={"field": "b", "type": "quantitative"},
                                                 color={"field": "c", "type": "nominal"}).to_dict()
        return spec, len(calls)

    build()
    once, n_once = build()
    monkeypatch.setattr(fd, "__init__", fd.__init__._explorer_original)  # Altair as it ships
    shipped, n_shipped = build()
    n_classes = sum(1 for tp in alt.SchemaBase._default_wrapper_classes() if tp._schema is not None)
    assert once == shipped and once["encoding"]["color"] == {"field": "c", "type": "nominal"}
    assert n_shipped > 2.5 * n_classes > 1000  # nearly a table of every class for each of the three channels
    assert n_once < 50  # only the lookups


def test_presented_charts_reach_the_browser_drawn_on_a_canvas():
    """While presenting, widgets._spec asks vega-embed for its canvas renderer (Streamlit would pick SVG under
    2,000 points per dataset: a DOM node per mark); otherwise the chart stays SVG (its text in the page); a
    renderer the spec names itself is kept."""
    from explorer.ui.widgets import _spec, on_canvas

    df = pd.DataFrame({"alpha": [0.0, 1.0] * 2, "loss": [1.0, 2.0] * 2, "accuracy": [0.5, 0.6] * 2, "split": "test",
                       "path": ["naive"] * 2 + ["weight matching"] * 2})
    chart = charts.path_charts(df)
    presented, plain = _spec(chart, True), _spec(chart, False)
    assert presented["usermeta"] == {"embedOptions": {"renderer": "canvas"}} and presented["facet"]["column"]["field"] == "metric"
    assert "renderer" not in plain.get("usermeta", {}).get("embedOptions", {}) and plain["facet"]["column"]["field"] == "metric"
    assert on_canvas({"usermeta": {"embedOptions": {"renderer": "svg"}}})["usermeta"]["embedOptions"]["renderer"] == "svg"
    assert on_canvas({"mark": "point"}) == {"mark": "point", "usermeta": {"embedOptions": {"renderer": "canvas"}}}


def test_atlas_heatmap_writes_values_only_in_cells_wide_enough_for_them():
    import itertools
    import re

    import vl_convert as vlc

    names = [f"digits-atlas-n-s{i}" for i in range(18)]
    df = pd.DataFrame([{"network A": a, "network B": b, "layer A": "x", "layer B": "x", "similarity": 0.9}
                       for a, b in itertools.product(names, names)])
    hidden = {}
    for width in (200, 520):  # cells of 11 px (a narrow column) and of 29 px
        svg = vlc.vegalite_to_svg(charts.atlas_heatmap(df, names, "t").properties(width=width, height=width).to_json())
        texts = re.findall(r"<text[^>]*>0\.90</text>", svg)
        assert len(texts) == 18 * 18
        hidden[width] = sum('opacity="0"' in t for t in texts)
    assert hidden == {200: 18 * 18, 520: 0}

"""DataFrames to Altair charts. Pure functions: testable without a browser."""

from __future__ import annotations

from typing import TYPE_CHECKING

import altair as alt

# Altair validates every schema object when it is built ("debug mode") and again when the chart becomes
# a dict; the first doubles a page's rerun time (0.4 s of 0.7 s on Latent spaces, measured) and only
# improves tracebacks. Each chart is still validated once, when Streamlit (or a test) calls to_dict().
alt.utils.schemapi.disable_debug_mode()
import pandas as pd


def _schema_table_built_once() -> bool:
    """Make Altair's ``SchemaBase.from_dict`` reuse its table of schema hashes instead of rebuilding it.

    Every encoding channel of every chart goes through ``from_dict``, which builds a ``_FromDict`` of all
    ~600 schema classes, hashing each schema through ``json.dumps`` (altair/utils/schemapi.py,
    ``SchemaBase.from_dict``: ``converter = _FromDict(cls._default_wrapper_classes())``): a page's first
    charts spent most of their build there (slide 8 of the shipped deck: 11,400 dumps for six charts). The
    table depends only on the classes, so it is built once per set of classes; the Altair maintainers'
    open pull request vega/altair#3547 makes the same change. Returns False, changing nothing, where
    Altair's internals differ from what this expects."""
    fd = getattr(alt.utils.schemapi, "_FromDict", None)
    init = getattr(fd, "__init__", None)
    if getattr(init, "_explorer_once", False):  # already in place
        return True
    if init is None or not hasattr(fd, "hash_schema"):  # another Altair
        return False
    tables: dict = {}

    def once(self, wrapper_classes, /) -> None:
        classes = tuple(wrapper_classes)
        table = tables.get(classes)
        if table is None:
            init(self, classes)
            table = tables.setdefault(classes, self.class_dict)
        self.class_dict = table

    once._explorer_once = True
    once._explorer_original = init
    fd.__init__ = once
    return True


_schema_table_built_once()

if TYPE_CHECKING:
    import numpy as np

CLASS_SCHEME = "category10"



def _content(arg):
    """A hashable stand-in for a chart builder's argument: a DataFrame by its content."""
    if isinstance(arg, pd.DataFrame):
        return ("frame", tuple(map(str, arg.columns)), arg.shape, int(pd.util.hash_pandas_object(arg, index=True).sum()))
    if isinstance(arg, dict):
        return ("dict", tuple(sorted((str(k), _content(v)) for k, v in arg.items())))
    if isinstance(arg, (list, tuple)):
        return ("seq", tuple(_content(a) for a in arg))
    return ("value", repr(arg))


def reused(builder):
    """Build a chart once per content of its inputs: a rerun with the same data gets the same chart (building
    an Altair chart parses every encoding against the Vega-Lite schema, ~0.1 s for the linked views)."""
    import functools
    import threading
    from collections import OrderedDict

    built: OrderedDict = OrderedDict()
    lock = threading.Lock()  # shared by every session's thread

    @functools.wraps(builder)
    def wrapper(*args, **kwargs):
        try:
            key = (_content(args), _content(kwargs))
        except TypeError:  # a column pandas cannot hash (lists): build it every time
            return builder(*args, **kwargs)
        with lock:
            if key in built:
                built.move_to_end(key)
                return built[key]
        chart = builder(*args, **kwargs)
        with lock:
            built[key] = chart
            while len(built) > 64:
                built.popitem(last=False)
        return chart

    return wrapper

@reused
def zoo_metrics(df: pd.DataFrame) -> alt.FacetChart:
    """Test metric of each model (MSE for autoencoders, accuracy for classifiers), grouped by architecture.

    Each architecture keeps its colour on every dataset (the domain is every architecture we ship)."""
    from explorer.models import ARCHS

    rows = []
    for _, r in df.iterrows():
        if pd.notna(r.get("test accuracy")):
            rows.append({"model": r["model"], "architecture": r["architecture"], "metric": "test accuracy", "value": r["test accuracy"]})
        elif pd.notna(r.get("test MSE")):
            rows.append({"model": r["model"], "architecture": r["architecture"], "metric": "test MSE", "value": r["test MSE"]})
    long = pd.DataFrame(rows, columns=["model", "architecture", "metric", "value"])
    domain = list(dict.fromkeys([a.description for a in ARCHS.values()] + list(long["architecture"])))
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("value:Q", title=None),
            y=alt.Y("model:N", sort=None, title=None, axis=alt.Axis(labelLimit=400)),
            color=alt.Color("architecture:N", scale=alt.Scale(domain=domain, scheme="tableau20"),
                            legend=alt.Legend(orient="bottom", columns=2, labelLimit=500,
                                              values=list(dict.fromkeys(long["architecture"])))),
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


def image_row(images, cell: int = 56, gap: int = 4):
    """Images [N, C, H, W] in [0, 1] side by side in one uint8 array, each tile enlarged to ``cell`` pixels.

    One picture per row instead of N: the browser fetches one file, and a rerun that replaces the row leaves
    one superseded file rather than N. Tiles are enlarged by whole pixels (nearest), so digits stay sharp;
    ``gap`` white columns separate them.
    """
    import numpy as np

    tiles = image_strip(images)
    if not tiles:
        return np.zeros((cell, 0), dtype=np.uint8)
    h = tiles[0].shape[0]
    k = max(1, cell // h)
    tiles = [np.repeat(np.repeat(t, k, axis=0), k, axis=1) for t in tiles]
    th = tiles[0].shape[0]
    shape = (th, len(tiles) * (tiles[0].shape[1] + gap) - gap) + tiles[0].shape[2:]
    row = np.full(shape, 255, dtype=np.uint8)
    x = 0
    for t in tiles:
        row[:, x:x + t.shape[1]] = t
        x += t.shape[1] + gap
    return row


def view_payloads(df: pd.DataFrame, views: list[tuple[str, str]], group: str, sprite: str | None = None,
                  presenting: bool = False, domain: tuple | None = None) -> list[dict]:
    """The data of linked 2-D views (drawn by explorer/ui/linked_view.js), one payload per view.

    ``df`` has one row per sample with ``id``, ``class``, ``anchor`` (bool), optionally ``text`` (a word or
    sentence shown on hover) and ``{key}_x``/``{key}_y`` for each view ``(key, title)``. Each payload is
    ``{"meta": {...}, "frame": DataFrame}``: the frame holds float32 ``x``/``y``, int32 ``id``, int16 class
    codes (``meta["classes"]`` names them), uint8 ``anchor`` and ``text``; ``meta["version"]`` is a hash of
    the view's rows, so the browser knows when a view's points moved. ``sprite`` names the probe's sprite
    sheet (``image_sprite``), row i's image being its cell i. ``domain`` (``((x0, x1), (y0, y1))``) fixes every
    view's axes, as the frames of an animation need; by default each view spans its own points.
    """
    import hashlib

    import numpy as np

    cat = pd.Categorical(df["class"])
    classes = [str(c) for c in cat.categories]
    common = {
        "id": df["id"].to_numpy().astype(np.int32),
        "class": np.asarray(cat.codes, dtype=np.int16),
        "anchor": df["anchor"].to_numpy().astype(np.uint8),
    }
    out = []
    for order, (key, title) in enumerate(views):
        x = df[f"{key}_x"].to_numpy(dtype=np.float32)
        y = df[f"{key}_y"].to_numpy(dtype=np.float32)
        frame = pd.DataFrame({"x": x, "y": y, **common})
        if "text" in df.columns:
            frame["text"] = df["text"].astype(str).to_numpy()
        h = hashlib.sha256()
        for col in frame.columns:
            h.update(np.ascontiguousarray(frame[col].to_numpy()).tobytes() if col != "text" else "\0".join(frame[col]).encode())
        meta = {"group": group, "key": key, "title": title, "order": order, "classes": classes, "sprite": sprite,
                "presenting": bool(presenting), "legend": order == 0, "export": order == 0, "version": h.hexdigest()[:16]}
        if domain is not None:
            meta["domain"] = [[float(lo), float(hi)] for lo, hi in domain]
        out.append({"meta": meta, "frame": frame})
    return out


def view_export_chart(meta: dict, frame: pd.DataFrame, size: int = 420) -> alt.LayerChart:
    """One linked 2-D view (a ``view_payloads`` payload) as a static scatter plot, for a deck's
    export: points coloured by class, anchors as larger black-ringed points, the view's title."""
    df = frame.assign(cls=[meta["classes"][c] for c in frame["class"]], is_anchor=frame["anchor"].astype(bool))
    base = alt.Chart(df).encode(
        x=alt.X("x:Q", axis=None, scale=alt.Scale(zero=False)), y=alt.Y("y:Q", axis=None, scale=alt.Scale(zero=False)))
    points = base.mark_circle(size=18, opacity=0.75).encode(
        color=alt.Color("cls:N", title="class", scale=alt.Scale(scheme=CLASS_SCHEME), sort=meta["classes"]))
    anchors = base.transform_filter("datum.is_anchor").mark_point(size=70, color="black", strokeWidth=1.5)
    return alt.layer(points, anchors).properties(title=meta["title"], width=size, height=size)


def image_sprite(images, key: str, cell: int | None = None) -> bytes:
    """Images as one PNG sprite sheet for hover tooltips, with a small header (explorer/ui/image_sprite.js).

    ``images``: a tensor/array [N, C, H, W] in [0, 1], or a list of image data URLs (an embeddings file's
    ``image`` column). Image i is the cell (i % cols, i // cols) of side ``cell`` pixels (the images' own
    size up to 32; larger ones are reduced). Returns ``[uint32 LE header length][JSON header][PNG]``.
    """
    import base64
    import io
    import json
    import math
    import struct

    from PIL import Image

    if isinstance(images, (list, tuple)):
        tiles = []
        for url in images:
            raw = base64.b64decode(str(url).split(",", 1)[-1])
            tiles.append(Image.open(io.BytesIO(raw)).convert("RGB"))
    else:
        tiles = [Image.fromarray(a) for a in image_strip(images)]
    n = len(tiles)
    side = cell or min(32, max(max(t.size) for t in tiles) if tiles else 1)
    mode = "L" if tiles and all(t.mode == "L" for t in tiles) else "RGB"
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    sheet = Image.new(mode, (cols * side, rows * side), 0)
    for i, t in enumerate(tiles):
        t = t.convert(mode)
        if t.size != (side, side):
            t = t.resize((side, side), Image.BILINEAR)
        sheet.paste(t, ((i % cols) * side, (i // cols) * side))
    buf = io.BytesIO()
    sheet.save(buf, format="PNG", optimize=False, compress_level=6)
    head = json.dumps({"key": key, "cell": side, "cols": cols, "n": n}).encode()
    return struct.pack("<I", len(head)) + head + buf.getvalue()


@reused
def agreement_bars(df: pd.DataFrame) -> alt.Chart:
    """Jaccard@k, MRR and cosine, absolute vs relative, per direction."""
    long = df.melt(id_vars=["space", "direction"], value_vars=["jaccard", "mrr", "cosine"], var_name="metric")
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("space:N", title=None, axis=alt.Axis(labelAngle=0, labelLimit=200)),
            y=alt.Y("value:Q", scale=alt.Scale(domain=[min(0.0, float(long["value"].min())), 1])),
            color=alt.Color("space:N", scale=alt.Scale(domain=["absolute", "relative"], range=["#9e9e9e", "#e4572e"]),
                            legend=alt.Legend(orient="top", title=None, labelLimit=400)),
            column=alt.Column("metric:N", title=None),
            xOffset="direction:N",
            opacity=alt.Opacity("direction:N", scale=alt.Scale(range=[1.0, 0.6]), legend=alt.Legend(orient="top", title=None, labelLimit=400)),
            tooltip=["space", "direction", "metric", alt.Tooltip("value:Q", format=".3f")],
        )
        .properties(width=150, height=210)
    )


@reused
def anchor_sweep_chart(df: pd.DataFrame) -> alt.LayerChart:
    """Agreement against the number of anchors (log x over the counts swept), relative solid, absolute dashed."""
    lo, hi = float(df["anchors"].min()), float(df["anchors"].max())
    x = alt.X("anchors:Q", scale=alt.Scale(type="log", domain=[lo, hi], nice=False), title="number of anchors (log)",
              axis=alt.Axis(values=sorted(df["anchors"].unique().tolist()), format="d"))
    color = alt.Color("metric:N", scale=alt.Scale(scheme="set1"), legend=alt.Legend(orient="right", labelLimit=300))
    dash = alt.StrokeDash("space:N", scale=alt.Scale(domain=["relative", "absolute"], range=[[1, 0], [6, 4]]),
                          legend=alt.Legend(symbolType="stroke", symbolStrokeWidth=2.5, symbolSize=500, labelLimit=300))
    tooltip = ["anchors", "metric", "space", alt.Tooltip("value:Q", format=".3f")]
    base = alt.Chart(df).encode(x=x, y=alt.Y("value:Q", title=None), color=color)
    lines = base.mark_line(strokeWidth=2.5).encode(strokeDash=dash, detail="space:N")
    points = base.mark_point(filled=True, size=45).encode(shape=alt.Shape("space:N", legend=None), tooltip=tooltip)
    return alt.layer(lines, points).properties(width=560, height=280)


@reused
def word_scatter(df: pd.DataFrame, kinds: dict[str, str]) -> alt.FacetChart:
    """Words as labelled points in each of the four views."""
    df = df.assign(kind=df["word"].map(kinds))
    base = alt.Chart().encode(
        x=alt.X("x:Q", title=None, axis=alt.Axis(labels=False, ticks=False)),
        y=alt.Y("y:Q", title=None, axis=alt.Axis(labels=False, ticks=False)),
        color=alt.Color("kind:N", scale=alt.Scale(scheme="category10")),
        tooltip=["word", "kind"],
    )
    layer = alt.layer(base.mark_circle(size=40), base.mark_text(dx=5, align="left", fontSize=10).encode(text="word:N"), data=df)
    return layer.properties(width=300, height=260).facet(facet=alt.Facet("view:N", title=None), columns=2).resolve_scale(x="independent", y="independent")


@reused
def depth_curves(df: pd.DataFrame, value: str, title: str, err: str | None = None, color: str | None = None) -> alt.LayerChart:
    """A quantity against layer depth (the input is depth 0), optionally with error bars and a colour per model."""
    df = df.dropna(subset=[value])  # a layer where the quantity is undefined is left out, never drawn as NaN
    enc = {"x": alt.X("depth:O", title="layer depth (0 = input)"), "y": alt.Y(f"{value}:Q", title=title)}
    tooltip = ["layer:N", "depth:O", alt.Tooltip(f"{value}:Q", format=".3f")]
    if color:
        enc["color"] = alt.Color(f"{color}:N", scale=alt.Scale(scheme="category10"))
        tooltip.append(f"{color}:N")
    line = alt.Chart(df).mark_line(point=True).encode(**enc, tooltip=tooltip)
    if not err:
        return line.properties(width=420, height=240)
    lo = df.assign(lo=df[value] - df[err], hi=df[value] + df[err])
    bars = alt.Chart(lo).mark_errorbar().encode(x="depth:O", y=alt.Y("lo:Q", title=title), y2="hi:Q", **({"color": alt.Color(f"{color}:N")} if color else {}))
    return alt.layer(bars, line).properties(width=420, height=240)


@reused
def layer_heatmap(df: pd.DataFrame, value: str = "overlap", a: str = "A", b: str = "B", title: str | None = None) -> alt.LayerChart:
    """Layer x layer heatmap of a similarity in [0, 1], the value on hover and, for a few layers, in each cell.

    Colours are clamped to [0, 1] (a debiased estimate can be slightly negative); a pair without a
    value is left blank.
    """
    df = df.dropna(subset=[value])
    x = alt.X("layer B:N", sort=None, title=f"layer of {b}", axis=alt.Axis(labelAngle=-30, labelLimit=200))
    y = alt.Y("layer A:N", sort=None, title=f"layer of {a}", axis=alt.Axis(labelLimit=200))
    base = alt.Chart(df).encode(x=x, y=y, tooltip=["layer A", "layer B", alt.Tooltip(f"{value}:Q", format=".3f")])
    rect = base.mark_rect().encode(
        color=alt.Color(f"{value}:Q", scale=alt.Scale(domain=[0, 1], scheme="viridis", clamp=True), title=value))
    layers = [rect]
    if df["layer A"].nunique() <= 12 and df["layer B"].nunique() <= 12:
        layers.append(base.mark_text(fontSize=11).encode(
            text=alt.Text(f"{value}:Q", format=".2f"),
            color=alt.condition(f"datum['{value}'] > 0.6", alt.value("black"), alt.value("white"))))
    chart = alt.layer(*layers).properties(width=360, height=320)
    return chart.properties(title=title) if title else chart


@reused
def decimation_chart(df: pd.DataFrame) -> alt.LayerChart:
    """ID against scale (mean first and second neighbour distance), log x, mean ± error over the subsets (DADApy's)."""
    base = alt.Chart(df.assign(lo=df["id"] - df["id error"], hi=df["id"] + df["id error"]))
    lo, hi = float(df["scale"].min()), float(df["scale"].max())
    x = alt.X("scale:Q", scale=alt.Scale(type="log", domain=[lo / 1.1, hi * 1.1], nice=False),
              title="scale: mean 1st and 2nd neighbour distance (log)")
    bars = base.mark_errorbar().encode(x=x, y=alt.Y("lo:Q", title="TwoNN ID"), y2="hi:Q")
    line = base.mark_line(point=True).encode(
        x=x, y="id:Q", tooltip=["parts:Q", "points per part:Q", alt.Tooltip("id:Q", format=".2f"), alt.Tooltip("scale:Q", format=".3g")]
    )
    return alt.layer(bars, line).properties(width=420, height=240)


@reused
def path_charts(curve: pd.DataFrame, metrics: tuple[str, ...] = ("loss", "accuracy")) -> alt.FacetChart:
    """Metrics along the weight paths side by side in one chart, a panel per metric with its own y scale:
    the browser compiles and draws one Vega view instead of one per metric (on a talk's slide with three
    charts, each Vega view cost about 0.25 s of Chromium's time on two cores). One colour and one marker
    shape per path (so two paths that coincide are both visible: the first is drawn wider, underneath),
    dashed for the training split."""
    long = curve.melt(id_vars=[c for c in curve.columns if c not in metrics], value_vars=list(metrics),
                      var_name="metric", value_name="value")
    paths = list(dict.fromkeys(curve["path"]))
    widths = {p: 5.0 - 1.5 * i for i, p in enumerate(paths)}
    long = long.assign(width=long["path"].map(widths).clip(lower=1.5))
    base = alt.Chart().encode(
        x=alt.X("alpha:Q", title="α (0 = model A, 1 = model B)"),
        y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
        color=alt.Color("path:N", scale=alt.Scale(domain=paths, scheme="set1"), legend=alt.Legend(orient="bottom", labelLimit=300)),
    )
    lines = base.mark_line(opacity=0.85).encode(
        strokeWidth=alt.StrokeWidth("width:Q", scale=None, legend=None),
        strokeDash=alt.StrokeDash("split:N", scale=alt.Scale(domain=["test", "train"], range=[[1, 0], [5, 3]]),
                                  legend=alt.Legend(orient="bottom", symbolType="stroke", symbolStrokeWidth=2.5, symbolSize=400)),
        detail="split:N")
    points = base.mark_point(size=50, filled=False, strokeWidth=1.5).encode(
        shape=alt.Shape("path:N", scale=alt.Scale(domain=paths, range=["circle", "square", "triangle-up", "diamond"])),
        tooltip=["metric", "path", "split", alt.Tooltip("alpha:Q", format=".3f"), alt.Tooltip("value:Q", format=".4f")])
    return (alt.layer(lines, points, data=long).properties(width=400, height=270)
            .facet(column=alt.Column("metric:N", title=None, sort=list(metrics)))
            .resolve_scale(y="independent"))


def animation_gif(coords: dict[str, "np.ndarray"], labels, alphas, size: int = 280, ms: int = 250) -> bytes:
    """An animated GIF: one panel per path side by side, points coloured by class, α in the corner."""
    import io

    import numpy as np
    from PIL import Image, ImageDraw

    palette = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
               (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
    # palette images (0 white, 1 black, 2.. the classes): the GIF is written as drawn, with no colour quantisation
    flat = [255, 255, 255, 0, 0, 0] + [v for rgb in palette for v in rgb]
    colour = np.asarray(labels).astype(np.int64) % 10 + 2
    scaled = {}
    for name, xy in coords.items():  # one box per path, for every frame
        lo, hi = xy.reshape(-1, 2).min(0), xy.reshape(-1, 2).max(0)
        scaled[name] = (xy - lo) / np.maximum(hi - lo, 1e-12) * (size - 20) + 10
    frames = []
    for t, a in enumerate(alphas):
        img = Image.new("P", (size * len(coords), size + 20), 0)
        img.putpalette(flat)
        draw = ImageDraw.Draw(img)
        for p, (name, xy) in enumerate(scaled.items()):
            for (px, py), c in zip(xy[t].tolist(), colour.tolist()):
                px, py = px + p * size, size - py
                draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=c)
            draw.text((p * size + 6, size + 4), f"{name}   alpha = {a:.2f}", fill=1)
        frames.append(img)
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=ms, loop=0)
    return buf.getvalue()


@reused
def pickable_points(df: pd.DataFrame) -> alt.Chart:
    """2-D points (``pos``, ``x``, ``y``, ``class``) where a click selects one (selection ``pick``)."""
    pick = alt.selection_point(name="pick", fields=["pos"], on="click")
    return (
        alt.Chart(df)
        .mark_circle(size=45)
        .encode(
            x=alt.X("x:Q", title=None, axis=alt.Axis(labels=False, ticks=False)),
            y=alt.Y("y:Q", title=None, axis=alt.Axis(labels=False, ticks=False)),
            color=alt.Color("class:N", scale=alt.Scale(scheme=CLASS_SCHEME)),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.45)),
            tooltip=["pos:Q", "class:N"],
        )
        .add_params(pick)
        .properties(width=420, height=320)
    )


def short_labels(names: list[str]) -> dict[str, str]:
    """Model names without the parts they all share (``digits-rel_ae-l16-s0`` -> ``s0``), for axes a room can
    read; a name that would become empty keeps its last part. The full name stays in the tooltip."""
    parts = [n.split("-") for n in names]
    if len(names) < 2:
        return {n: n for n in names}
    head = 0
    while all(len(p) > head + 1 for p in parts) and len({p[head] for p in parts}) == 1:
        head += 1
    tail = 0
    while all(len(p) > head + tail + 1 for p in parts) and len({p[-1 - tail] for p in parts}) == 1:
        tail += 1
    out = {n: "-".join(p[head: len(p) - tail]) or p[-1] for n, p in zip(names, parts)}
    return out if len(set(out.values())) == len(names) else {n: n for n in names}


def shared_domain(frames: list[pd.DataFrame], metric: str) -> list[float]:
    """One colour domain for several grids of one metric: [0, 1] for a score in [0, 1], else [0, the largest]."""
    values = pd.concat([f[metric] for f in frames if len(f)], ignore_index=True).dropna()
    top = float(values.max()) if len(values) else 1.0
    return [0.0, 1.0] if metric in ("accuracy", "macro_f1") and top <= 1.0 else [0.0, top if top > 0 else 1.0]


@reused
def grid_heatmap(df: pd.DataFrame, metric: str, title: str, reverse: bool = False, domain: list[float] | None = None) -> alt.LayerChart:
    """Encoder rows x decoder columns, coloured and labelled by ``metric`` (diagonal = unstitched).

    Axes show the models' short names (their seeds, usually); ``domain`` fixes the colour scale so that grids
    drawn side by side (relative, absolute) compare by colour; cells are large enough for their numbers."""
    names = list(dict.fromkeys(list(df["encoder"]) + list(df["decoder"])))
    short = short_labels(names)
    df = df.assign(enc=df["encoder"].map(short), dec=df["decoder"].map(short))
    order = [short[n] for n in names]
    n = len(names)
    scale = alt.Scale(scheme="viridis", reverse=reverse, **({"domain": domain} if domain else {}))
    base = alt.Chart(df).encode(
        x=alt.X("dec:N", sort=order, title="decoder / head of", axis=alt.Axis(labelAngle=0, labelLimit=200)),
        y=alt.Y("enc:N", sort=order, title="encoder of", axis=alt.Axis(labelLimit=200)),
    )
    rect = base.mark_rect().encode(color=alt.Color(f"{metric}:Q", scale=scale, title=metric),
                                   tooltip=["encoder", "decoder", alt.Tooltip(f"{metric}:Q", format=".4f")])
    fmt = ".3f" if df[metric].abs().max() < 10 else ".1f"
    mid = (domain[0] + domain[1]) / 2 if domain else float(df[metric].median())
    light = f"datum['{metric}'] < {mid}" if reverse else f"datum['{metric}'] > {mid}"
    text = base.mark_text(fontSize=13).encode(text=alt.Text(f"{metric}:Q", format=fmt),
                                              color=alt.condition(light, alt.value("black"), alt.value("white")))
    side = max(70, min(110, 420 // max(n, 1))) * n
    return alt.layer(rect, text).properties(title=title, width=side, height=side)


@reused
def penalty_chart(df: pd.DataFrame) -> alt.LayerChart:
    """Stitching penalty against layer, one line per family (cf. Godfrey et al. 2022, Fig. 1).

    The identity stitch (no parameters) is a reference, drawn grey and dashed; the y axis is symmetric-log,
    so its large penalty does not flatten the fitted families' small ones into one line."""
    df = df.dropna(subset=["penalty"])
    families = [f for f in dict.fromkeys(df["family"]) if f != "identity"]
    tooltip = ["layer", "family", "parameters", alt.Tooltip("accuracy stitched:Q", format=".4f"), alt.Tooltip("penalty:Q", format=".4f")]
    y = alt.Y("penalty:Q", scale=alt.Scale(type="symlog", constant=0.01),
              title="penalty = (acc(A) + acc(B)) / 2 − acc(stitched), symlog",
              axis=alt.Axis(values=[0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1], titleLimit=600))
    x = alt.X("layer:N", sort=None, title="stitched after layer", axis=alt.Axis(labelAngle=0, labelLimit=200))
    fitted = alt.Chart(df[df["family"] != "identity"]).mark_line(point=alt.OverlayMarkDef(size=55, filled=True), strokeWidth=2.2).encode(
        x=x, y=y, color=alt.Color("family:N", scale=alt.Scale(domain=families, scheme="tableau10"), legend=alt.Legend(labelLimit=300)),
        shape=alt.Shape("family:N", legend=None), tooltip=tooltip)
    layers = [fitted]
    ident = df[df["family"] == "identity"]
    if len(ident):
        layers.insert(0, alt.Chart(ident).mark_line(color="#888", strokeDash=[6, 4], strokeWidth=2, point=alt.OverlayMarkDef(color="#888")).encode(
            x=x, y=y, tooltip=tooltip))
        layers.append(alt.Chart(ident.tail(1)).mark_text(align="left", dx=8, color="#666", fontSize=12).encode(
            x=x, y=y, text=alt.value("identity (no fit)")))
    return alt.layer(*layers).properties(width=560, height=320)


@reused
def atlas_heatmap(df: pd.DataFrame, order: list[str], title: str) -> alt.LayerChart:
    """The M x M similarity of an atlas, networks in ``order`` (the clustering's) on both axes; values in
    the cells when M <= 20 and the drawn cell is wide enough for them (22 px: a narrow column squeezes a chart
    to its width). ``df``: one row per pair (``network A``, ``network B``, ``similarity``)."""
    labels = short_labels(order)
    df = df.assign(A=df["network A"].map(labels), B=df["network B"].map(labels))
    sort = [labels[n] for n in order]
    size = max(320, min(720, 26 * len(order)))
    base = alt.Chart(df).encode(
        x=alt.X("B:N", sort=sort, title=None, axis=alt.Axis(labelAngle=-45, labelLimit=220, labelFontSize=12, labelOverlap=False)),
        y=alt.Y("A:N", sort=sort, title=None, axis=alt.Axis(labelLimit=220, labelFontSize=12, labelOverlap=False)),
        tooltip=["network A", "layer A", "network B", "layer B", alt.Tooltip("similarity:Q", format=".3f")],
    )
    layers = [base.mark_rect().encode(color=alt.Color(
        "similarity:Q", scale=alt.Scale(scheme="viridis", clamp=True), title="similarity"))]
    if len(order) <= 20:
        layers.append(base.mark_text(fontSize=10).encode(
            text=alt.Text("similarity:Q", format=".2f"),
            color=alt.condition("datum.similarity > 0.85", alt.value("black"), alt.value("white")),
            opacity=alt.condition(f"bandwidth('x') >= {CELL_TEXT_PX}", alt.value(1), alt.value(0))))
    return alt.layer(*layers).properties(width=size, height=size, title=title)


CELL_TEXT_PX = 22  # the narrowest heatmap cell that holds "0.93" at 10 px (about 21 px wide)


@reused
def atlas_map(df: pd.DataFrame, colour: str, title: str) -> alt.Chart:
    """Networks as points of a 2-D embedding (``x``, ``y``), coloured by ``colour``; a click selects one
    (selection ``pick``, by ``network``). Hover: the name, layer and test metrics."""
    pick = alt.selection_point(name="pick", fields=["network"], on="click")
    numeric = pd.api.types.is_numeric_dtype(df[colour])
    colour_enc = (alt.Color(f"{colour}:Q", scale=alt.Scale(scheme="viridis"), title=colour) if numeric
                  else alt.Color(f"{colour}:N", scale=alt.Scale(scheme="category10"), title=colour))
    tips = ["network:N", "layer:N", "architecture:N", "seed:N", "representation:N"]
    tips += [alt.Tooltip(f"{m}:Q", format=".4f") for m in ("test accuracy", "test MSE") if df[m].notna().any()]
    return (
        alt.Chart(df)
        .mark_point(size=220, filled=True, strokeWidth=1.5, stroke="white")
        .encode(
            x=alt.X("x:Q", title="MDS 1", axis=alt.Axis(labels=False, ticks=False)),
            y=alt.Y("y:Q", title="MDS 2", axis=alt.Axis(labels=False, ticks=False)),
            color=colour_enc,
            shape=alt.Shape("architecture:N", title="architecture"),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.55)),
            tooltip=tips,
        )
        .add_params(pick)
        .properties(width=520, height=440, title=title)
    )

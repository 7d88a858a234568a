"""DataFrames to Altair charts. Pure functions: testable without a browser."""

from __future__ import annotations

import altair as alt

# Altair validates every schema object when it is built ("debug mode") and again when the chart becomes
# a dict; the first doubles a page's rerun time (0.4 s of 0.7 s on Latent spaces, measured) and only
# improves tracebacks. Each chart is still validated once, when Streamlit (or a test) calls to_dict().
alt.utils.schemapi.disable_debug_mode()
import pandas as pd

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


def image_data_urls(images, size: int = 56) -> list[str]:
    """PNG data URLs of images [N, C, H, W] in [0, 1], upscaled (nearest) for hover tooltips."""
    import base64
    import io

    from PIL import Image

    urls = []
    for a in image_strip(images):
        img = Image.fromarray(a).resize((size, size), Image.NEAREST)
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        urls.append("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode())
    return urls


@reused
def linked_views(df: pd.DataFrame, views: list[tuple[str, str]], width: int = 330) -> alt.VConcatChart:
    """A 2-column grid of scatter plots of the same samples, linked by sample.

    ``df`` has one row per sample with ``id``, ``class``, ``anchor`` (bool), optionally ``image``
    (a data URL shown on hover) and ``text`` (a word or sentence, shown on hover), and ``{key}_x``/``{key}_y`` for each view ``(key, title)``.
    Brushing a rectangle in any view keeps the colour of the samples inside it in every view
    (intersection of all brushes) and greys out the others.
    """
    brushes = [alt.selection_interval(name=f"brush_{key}") for key, _ in views]
    inside = brushes[0]
    for b in brushes[1:]:
        inside = inside & b
    tooltip = ["id:Q", "class:N"] + (["text:N"] if "text" in df.columns else []) + (["image:N"] if "image" in df.columns else [])
    charts = []
    for (key, title), brush in zip(views, brushes):
        charts.append(
            alt.Chart(df)
            .mark_circle(opacity=0.85)
            .encode(
                x=alt.X(f"{key}_x:Q", title=None, axis=alt.Axis(labels=False, ticks=False)),
                y=alt.Y(f"{key}_y:Q", title=None, axis=alt.Axis(labels=False, ticks=False)),
                color=alt.condition(inside, alt.Color("class:N", scale=alt.Scale(scheme=CLASS_SCHEME)), alt.value("#d0d0d0")),
                size=alt.Size("anchor:N", scale=alt.Scale(domain=[False, True], range=[22, 110]), title="anchor"),
                tooltip=tooltip,
            )
            .add_params(brush)
            .properties(title=title, width=width, height=width)
        )
    rows = [alt.hconcat(*charts[i : i + 2]) for i in range(0, len(charts), 2)]
    return alt.vconcat(*rows)


@reused
def agreement_bars(df: pd.DataFrame) -> alt.Chart:
    """Jaccard@k, MRR and cosine, absolute vs relative, per direction."""
    long = df.melt(id_vars=["space", "direction"], value_vars=["jaccard", "mrr", "cosine"], var_name="metric")
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("space:N", title=None),
            y=alt.Y("value:Q", scale=alt.Scale(domain=[min(0.0, float(long["value"].min())), 1])),
            color=alt.Color("space:N", scale=alt.Scale(domain=["absolute", "relative"], range=["#9e9e9e", "#e4572e"])),
            column=alt.Column("metric:N", title=None),
            xOffset="direction:N",
            tooltip=["space", "direction", "metric", alt.Tooltip("value:Q", format=".3f")],
        )
        .properties(width=140, height=200)
    )


@reused
def anchor_sweep_chart(df: pd.DataFrame) -> alt.Chart:
    """Agreement against the number of anchors (log x), relative lines and absolute baselines."""
    return (
        alt.Chart(df)
        .mark_line(point=True)
        .encode(
            x=alt.X("anchors:Q", scale=alt.Scale(type="log"), title="number of anchors (log)"),
            y=alt.Y("value:Q", title=None),
            color=alt.Color("metric:N"),
            strokeDash=alt.StrokeDash("space:N", scale=alt.Scale(domain=["relative", "absolute"], range=[[1, 0], [4, 4]])),
            tooltip=["anchors", "metric", "space", alt.Tooltip("value:Q", format=".3f")],
        )
        .properties(width=520, height=260)
    )


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
    x = alt.X("layer B:N", sort=None, title=f"layer of {b}")
    y = alt.Y("layer A:N", sort=None, title=f"layer of {a}")
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
    x = alt.X("scale:Q", scale=alt.Scale(type="log"), title="scale: mean 1st and 2nd neighbour distance (log)")
    bars = base.mark_errorbar().encode(x=x, y=alt.Y("lo:Q", title="TwoNN ID"), y2="hi:Q")
    line = base.mark_line(point=True).encode(
        x=x, y="id:Q", tooltip=["parts:Q", "points per part:Q", alt.Tooltip("id:Q", format=".2f"), alt.Tooltip("scale:Q", format=".3g")]
    )
    return alt.layer(bars, line).properties(width=420, height=240)


@reused
def path_chart(curve: pd.DataFrame, metric: str) -> alt.Chart:
    """A metric along the weight path: one colour per path, dashed for the training split."""
    return (
        alt.Chart(curve)
        .mark_line(point=alt.OverlayMarkDef(size=20))
        .encode(
            x=alt.X("alpha:Q", title="α (0 = model A, 1 = model B)"),
            y=alt.Y(f"{metric}:Q", title=metric),
            color=alt.Color("path:N", scale=alt.Scale(scheme="set1")),
            strokeDash=alt.StrokeDash("split:N", scale=alt.Scale(domain=["test", "train"], range=[[1, 0], [5, 3]])),
            tooltip=["path", "split", alt.Tooltip("alpha:Q", format=".3f"), alt.Tooltip(f"{metric}:Q", format=".4f")],
        )
        .properties(width=420, height=260)
    )


@reused
def frame_scatter(df: pd.DataFrame, domain: tuple) -> alt.Chart:
    """One animation frame: the probe in 2-D per path, axes fixed across frames by ``domain``."""
    (x0, x1), (y0, y1) = domain
    return (
        alt.Chart(df)
        .mark_circle(size=22, opacity=0.8)
        .encode(
            x=alt.X("x:Q", scale=alt.Scale(domain=[x0, x1]), title=None),
            y=alt.Y("y:Q", scale=alt.Scale(domain=[y0, y1]), title=None),
            color=alt.Color("class:N", scale=alt.Scale(scheme=CLASS_SCHEME)),
            tooltip=["class:N"],
        )
        .properties(width=300, height=300)
        .facet(column=alt.Column("path:N", title=None))
    )


def animation_gif(coords: dict[str, "np.ndarray"], labels, alphas, size: int = 280, ms: int = 250) -> bytes:
    """An animated GIF: one panel per path side by side, points coloured by class, α in the corner."""
    import io

    import numpy as np
    from PIL import Image, ImageDraw

    palette = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
               (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
    labels = np.asarray(labels)
    frames = []
    for t, a in enumerate(alphas):
        img = Image.new("RGB", (size * len(coords), size + 20), "white")
        draw = ImageDraw.Draw(img)
        for p, (name, xy) in enumerate(coords.items()):
            lo, hi = xy.reshape(-1, 2).min(0), xy.reshape(-1, 2).max(0)
            scaled = (xy[t] - lo) / np.maximum(hi - lo, 1e-12) * (size - 20) + 10
            for (px, py), c in zip(scaled, labels):
                px, py = px + p * size, size - py
                draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=palette[int(c) % 10])
            draw.text((p * size + 6, size + 4), f"{name}   alpha = {a:.2f}", fill="black")
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


@reused
def grid_heatmap(df: pd.DataFrame, metric: str, title: str, reverse: bool = False) -> alt.LayerChart:
    """Encoder rows x decoder columns, coloured and labelled by ``metric`` (diagonal = unstitched)."""
    scale = alt.Scale(scheme="viridis", reverse=reverse)
    base = alt.Chart(df).encode(
        x=alt.X("decoder:N", sort=None, title="decoder / head of"),
        y=alt.Y("encoder:N", sort=None, title="encoder of"),
    )
    rect = base.mark_rect().encode(color=alt.Color(f"{metric}:Q", scale=scale, title=metric),
                                   tooltip=["encoder", "decoder", alt.Tooltip(f"{metric}:Q", format=".4f")])
    text = base.mark_text(fontSize=11).encode(text=alt.Text(f"{metric}:Q", format=".3f"), color=alt.value("white"))
    return alt.layer(rect, text).properties(title=title, width=300, height=260)


@reused
def penalty_chart(df: pd.DataFrame) -> alt.Chart:
    """Stitching penalty against layer, one line per family (cf. Godfrey et al. 2022, Fig. 1)."""
    return (
        alt.Chart(df.dropna(subset=["penalty"]))
        .mark_line(point=True)
        .encode(
            x=alt.X("layer:N", sort=None, title="stitched after layer"),
            y=alt.Y("penalty:Q", title="penalty = (acc(A) + acc(B)) / 2 − acc(stitched)"),
            color=alt.Color("family:N", scale=alt.Scale(scheme="tableau10")),
            tooltip=["layer", "family", "parameters", alt.Tooltip("accuracy stitched:Q", format=".4f"), alt.Tooltip("penalty:Q", format=".4f")],
        )
        .properties(width=520, height=300)
    )

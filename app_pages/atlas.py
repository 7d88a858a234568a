"""Zoo atlas: many networks at once, one layer each, every pair under one similarity measure."""

import streamlit as st

from explorer import atlas, charts, sources
from explorer.similarity import CKA_MEASURES, GRAM_MEASURES, MEASURES, UNBIASED_ONLY
from explorer.ui import atlas_zoo, cached
from explorer.ui.state import bound, stop_page
from explorer.ui.widgets import friendly_errors, require_data, run_long, show_chart

sel = st.session_state["selection"]
st.title("Zoo atlas")
st.caption(
    "Every network a point: each is seen at one depth on the same probe, every pair is compared under one measure "
    "(one of the Similarity page's, or zero-shot stitching through relative space), and the networks are placed so that close points represent the data alike. The matrix "
    "is ordered by a hierarchical clustering. Click a point to make it model A, a second point for model B."
)
require_data(sel)
with friendly_errors("The networks of this dataset cannot be listed"):
    nets = sources.list_sources(sel.dataset, list(sel.checkpoints))
info = atlas.network_frame(nets)
offered = sel.dataset == "digits" and atlas_zoo.offer(sel.device)  # the atlas zoo's missing networks, trained on request
if len(nets) < atlas.MIN_NETWORKS:
    st.info(f"An atlas needs at least {atlas.MIN_NETWORKS} networks; {sel.dataset} has {len(nets)}. Train more on Home"
            + (", or the atlas zoo above." if offered else "."))
    stop_page()

c = st.columns([2, 2, 1, 2, 2])
kinds = sorted(info["kind"].unique())
kind = bound(c[0].multiselect, "Kinds", "at_kind", ["classifier"] if "classifier" in kinds else kinds, kinds)
archs = sorted(info.loc[info["kind"].isin(kind), "architecture"].unique())
arch = bound(c[1].multiselect, "Architectures", "at_arch", archs, archs)
seeds = sorted(info["seed"].unique(), key=lambda v: (len(v), v))
seed = bound(c[2].multiselect, "Seeds", "at_seed", seeds, seeds)
depth = bound(c[3].selectbox, "Depth", "at_depth", "penultimate", list(atlas.DEPTHS),
              format_func=lambda d: atlas.DEPTHS[d].label,
              help="\n\n".join(f"**{d.label}**: {d.description}" for d in atlas.DEPTHS.values()))
measure = bound(c[4].selectbox, "Measure", "at_measure", "cka_linear", list(atlas.MEASURES_ATLAS),
                format_func=lambda m: atlas.MEASURES_ATLAS[m].label,
                help="\n\n".join(f"**{m.label}**: {m.description}" for m in atlas.MEASURES_ATLAS.values()))
c = st.columns([5, 1])
names = bound(c[0].text_input, "Only networks whose names match", "at_names", "*",
              help="Shell-style patterns separated by spaces, e.g. `digits-atlas-*` or `*-s0 *-s1`")
debiased = bound(c[1].toggle, "Debiased", "at_debiased", False, disabled=measure not in CKA_MEASURES or measure in UNBIASED_ONLY,
                 help="The unbiased HSIC estimator (CKA measures only; the G_ReLU CKA measures always use it)")
keep = info["kind"].isin(kind) & info["architecture"].isin(arch) & info["seed"].isin(seed)
picked = [s for s, k in zip(nets, keep) if k]
with friendly_errors("No network to show"):
    picked = atlas.select(picked, names.split() or ["*"]) if picked else []
if len(picked) < atlas.MIN_NETWORKS:
    st.info(f"{len(picked)} network(s) pass the filters above; an atlas needs at least {atlas.MIN_NETWORKS}.")
    stop_page()
if measure in GRAM_MEASURES and sel.probe > 2000:
    st.warning(f"{MEASURES[measure][0]} keeps a {sel.probe} x {sel.probe} matrix per network: lower the probe size, or "
               "pick a linear measure.")
settings = atlas.Settings(measure, depth, bool(debiased and measure in CKA_MEASURES))
job = (tuple(s.key for s in picked), sel.dataset, sel.probe, measure, depth, settings.debiased)


def compute(update):
    """The cached pairs read, the missing ones computed with progress and Cancel."""
    return atlas.atlas(picked, cached.any_probe(sel.dataset, sel.probe), settings, sel.device, cached.disk_cache(), update,
                       matrix_store=cached.STORE)


with friendly_errors("The atlas failed"):
    result = run_long(f"{atlas.MEASURES_ATLAS[measure].label} of {len(picked)} networks", "atlas", compute, job)
if result is None:
    stop_page()
if result.computed:
    st.toast(f"{result.computed} new pairs computed; {len(picked) * (len(picked) - 1) // 2 - result.computed} from the cache")
members, pairs = atlas.member_frame(result.members), result.frame()
order = [result.names[i] for i in result.order()]
label = settings.checked().label
left, right = st.columns([5, 4])
with left:
    colour = bound(st.radio, "Colour by", "at_colour", "architecture",
                   ["architecture", "shape", "seed", "representation", "test accuracy"], horizontal=True)
    if result.complete:
        xy, stress = result.embedding()
        points = members.assign(x=xy[:, 0], y=xy[:, 1])
        fit = "good" if stress < 0.1 else "fair" if stress < 0.2 else "loose: trust the matrix over the picture"

        def clicked():
            chosen = [p["network"] for p in st.session_state["at_map"].selection.get("pick", [])]
            if not chosen:
                return
            slot = st.session_state.get("_atlas_next", "model_a")
            st.session_state[slot] = chosen[-1]
            st.session_state["_atlas_next"] = "model_b" if slot == "model_a" else "model_a"

        show_chart(charts.atlas_map(points, colour, f"Networks by {label} (classical MDS)"), points, "atlas_map",
                   on_select=clicked, selection_mode="pick", key="at_map")
        st.caption(f"Distances are {'1 - score' if measure == atlas.ZERO_SHOT else 'arccos(similarity)'}. "
                   f"Kruskal stress-1 of the 2-D picture: **{stress:.2f}** ({fit}).")
    else:
        st.warning("Some pairs have no value (see the notes below): the map needs every pair; the matrix shows the rest."
                   + (" Zero-shot stitching joins relative networks with the same anchors: filter the kinds or architectures."
                      if measure == atlas.ZERO_SHOT else ""))
with right:
    show_chart(charts.atlas_heatmap(pairs, order, label), pairs, "atlas_matrix")

st.subheader("What groups the networks")
scores = {col: atlas.separation(result.distance, list(members[col])) for col in ("architecture", "shape", "seed", "representation")}
cols = st.columns(len(scores))
for col, (what, value) in zip(cols, scores.items()):
    col.metric(f"Silhouette by {what}", "—" if value is None else f"{value:+.2f}",
               help="Silhouette score of these groups on the distances: 1 = tight, separate groups; 0 = no grouping; "
                    "negative = the groups mix. A zoo whose networks cluster by architecture, not by seed, scores "
                    "higher by architecture.")
a_name, b_name = st.session_state.get("model_a"), st.session_state.get("model_b")
st.caption(f"Model A: **{a_name}** · model B: **{b_name}** (clicks on the map set them; so does the sidebar). Open them on:")
links = st.columns(4)
for col, (page, title) in zip(links, [("app_pages/similarity.py", "Similarity"), ("app_pages/latent_spaces.py", "Latent spaces"),
                                      ("app_pages/stitching.py", "Stitching"), ("app_pages/layer_geometry.py", "Layer geometry")]):
    col.page_link(page, label=title)
blank = list(result.notes.items())
for (i, j), note in blank[:5]:
    st.warning(f"Left blank: {result.names[i]} vs {result.names[j]}: {note}")
if len(blank) > 5:
    st.warning(f"… and {len(blank) - 5} more pairs left blank (the matrix's CSV has every note).")

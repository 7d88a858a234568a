"""Layer geometry: intrinsic dimension (TwoNN) and neighbourhood overlap, layer by layer."""

import pandas as pd
import streamlit as st

from explorer import analyses, charts
from explorer.sources import default_layer
from explorer.ui import cached
from explorer.ui.state import bound, stop_page
from explorer.ui.widgets import friendly_errors, require_data, show_chart, show_table

sel = st.session_state["selection"]
st.title("Layer geometry")
st.caption(
    "Intrinsic dimension by TwoNN (Facco et al. 2017) and neighbourhood overlap (Doimo et al. 2020) along the depth of a "
    "network, as in the talks of Ansuini and Cazzaniga: the ID rises then falls; the overlap shows where class information is encoded."
)
require_data(sel)
if sel.source_a is None:
    st.info("Pick model A in the sidebar (train one on Home if the dataset has none).")
    stop_page()
A, B = sel.source_a, sel.source_b
c = st.columns(3)
k = bound(c[0].number_input, "k (neighbours)", "g_k", min(10, max(1, sel.probe - 1)), min_value=1, max_value=max(1, sel.probe - 1))
compare = bound(c[1].toggle, "Compare with model B", "g_compare", True)


def profile(src):
    probe = cached.any_probe(sel.dataset, sel.probe)
    return cached.source_activations(src, sel.dataset, sel.probe, sel.device), analyses.layer_profile(src, probe, int(k), sel.device, cached.STORE)


with friendly_errors("Layer geometry failed"), st.spinner("Intrinsic dimension and overlaps per layer…"):
    acts_a, prof_a = profile(A)
    prof_a["model"] = f"A: {A.name}"
    frames = [prof_a]
    if compare and B is not None and B.name != A.name:
        acts_b, prof_b = profile(B)
        prof_b["model"] = f"B: {B.name}"
        frames.append(prof_b)
prof = pd.concat(frames, ignore_index=True)
left, right = st.columns(2)
show_chart(charts.depth_curves(prof, "id", "TwoNN intrinsic dimension", err="id stderr", color="model"), prof, "intrinsic_dimension", left)
if prof["label overlap"].notna().any():
    show_chart(charts.depth_curves(prof, "label overlap", f"overlap with the labels (k={k})", color="model"), prof, "label_overlap", right)
else:
    right.info(f"{sel.dataset} has no labels: no overlap with the labels. The ID and the overlap between layers need none.")
left, right = st.columns(2)
show_chart(charts.depth_curves(prof.dropna(subset=["overlap with previous"]), "overlap with previous",
                                    "overlap with the previous layer", color="model"), prof, "consecutive_overlap", left)
right.caption("Error bars: the TwoNN estimate's asymptotic standard error, ID / sqrt(points in the fit). "
              f"Overlaps: mean fraction of each sample's {k} nearest neighbours (itself excluded) shared with the labels "
              "or with the other layer; the label overlap is the plain mean over samples (the talk's definition), the "
              "table also has DADApy's default, each class weighted equally. Duplicates removed before the ID, per layer:")
show_table(prof[["model", "layer", "width", "id", "duplicates", "label overlap", "label overlap (class-weighted)"]],
           right, hide_index=True, height=220)
for _, r in prof[prof["note"] != ""].iterrows():
    st.warning(f"{r['model']}, layer {r['layer']}: {r['note']}")

if len(frames) == 2:
    st.subheader("A vs B: which layers share neighbourhoods?")
    with friendly_errors("Cross-model overlap failed"), st.spinner("Overlap of every pair of layers…"):
        cross = analyses.cross_overlap(A, B, cached.any_probe(sel.dataset, sel.probe), int(k), sel.device, cached.STORE)
    same = cross[cross["depth A"] == cross["depth B"]].rename(columns={"depth A": "depth", "layer A": "layer"})
    left, right = st.columns(2)
    show_chart(charts.depth_curves(same, "overlap", "overlap A vs B at the same depth"), same, "overlap_same_depth", left)
    show_chart(charts.layer_heatmap(cross), cross, "overlap_all_layer_pairs", right)

st.subheader("Decimation: the ID across scales")
names = list(acts_a)
layer = bound(st.selectbox, "Layer of A", "g_layer", default_layer(A, names), names)
with friendly_errors("Decimation failed"), st.spinner("TwoNN on 1, 2, 4, … random parts of the probe…"):
    dec = analyses.decimation(A, layer, cached.any_probe(sel.dataset, sel.probe), sel.device, cached.STORE)
show_chart(charts.decimation_chart(dec), dec, "decimation")
st.caption("As DADApy's return_id_scaling_2NN: level j draws about 2^j random subsets of N / 2^j points and averages their "
           "TwoNN IDs (error bars: std / sqrt(subsets)); fewer points means larger neighbour distances, a coarser scale (x: the mean "
           "first and second neighbour distance). A plateau marks a trustworthy ID.")

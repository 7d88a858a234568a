"""Similarity: CKA, Procrustes and their ReLU-intertwiner counterparts, every layer of A against every layer of B."""

import streamlit as st

from explorer import analyses, charts
from explorer.similarity import CHANNEL_MEASURES, CKA_MEASURES, GRAM_MEASURES, MEASURES, UNBIASED_ONLY, corresponding_layers
from explorer.ui import cached
from explorer.ui.state import bound, stop_page
from explorer.ui.widgets import friendly_errors, require_data, run_long, show_chart, show_table

sel = st.session_state["selection"]
st.title("Similarity")
st.caption(
    "How alike are two networks' layers, seen on the same samples? CKA (Kornblith et al. 2019) and orthogonal Procrustes "
    "ignore rotations of a layer; the G_ReLU measures (Godfrey et al. 2022) ignore only what a ReLU network cannot see: "
    "permutations and positive scalings of units. 1 = the same up to the measure's group."
)
require_data(sel)
if sel.source_a is None:
    st.info("Pick model A in the sidebar (train one on Home if the dataset has none).")
    stop_page()
A = sel.source_a
c = st.columns([2, 1, 1, 1])
measure = bound(c[0].selectbox, "Measure", "s_measure", "cka_linear", list(MEASURES), format_func=lambda m: MEASURES[m][0],
                help="\n\n".join(f"**{label}**: {what}" for label, what in MEASURES.values()))
debiased = bound(c[1].toggle, "Debiased", "s_debiased", False, disabled=measure not in CKA_MEASURES or measure in UNBIASED_ONLY,
                 help="The unbiased HSIC estimator (Song et al. 2012): about 0 for unrelated layers. CKA measures only; "
                      "the G_ReLU CKA measures always use it, as Godfrey et al. define them.")
fraction = bound(c[2].number_input, "Bandwidth", "s_fraction", 1.0, min_value=0.05, max_value=10.0, step=0.1,
                 disabled=measure not in GRAM_MEASURES,
                 help="Kernel width as a multiple of the median distance between samples (RBF and Laplace kernels only)")
itself = bound(c[3].toggle, "A against itself", "s_itself", sel.source_b is None)
B = A if itself or sel.source_b is None or sel.source_b.name == A.name else sel.source_b
debiased = bool(debiased and measure in CKA_MEASURES) or measure in UNBIASED_ONLY
label = MEASURES[measure][0] + (", debiased" if debiased else "")
st.caption(f"A: **{A.name}** · B: **{B.name}** · {sel.probe} samples of {sel.dataset} (the sidebar's probe size)"
           + (f" · an {sel.probe} x {sel.probe} kernel matrix per layer" if measure in GRAM_MEASURES else "")
           + (" · convolutional layers keep their channel axis (Godfrey et al.'s definition)" if measure in CHANNEL_MEASURES else ""))

job = (A.key, B.key, sel.dataset, sel.probe, measure, debiased, float(fraction))


def compute(update):
    """On a cache miss, every layer pair with progress and Cancel (a hit returns at once, drawing nothing)."""
    return analyses.similarity_matrix(A, None if B is A else B, cached.any_probe(sel.dataset, sel.probe), measure, debiased,
                                      float(fraction), sel.device, cached.STORE, progress=update)


with friendly_errors("Similarity failed"):
    frame = run_long(f"{label} of every layer pair", "similarity", compute, job)
if frame is None:
    stop_page()

left, right = st.columns(2)
show_chart(charts.layer_heatmap(frame, "similarity", "A", "B", title=label), frame, "similarity_heatmap", left)
same_layers = list(dict.fromkeys(frame["layer A"])) == list(dict.fromkeys(frame["layer B"]))
if B is A:  # the diagonal is 1: show how much each layer changes the representation instead
    steps = frame[frame["depth B"] == frame["depth A"] - 1].rename(columns={"depth A": "depth", "layer A": "layer"})
    right.markdown(f"**{label}, each layer vs the layer before it**")
    show_chart(charts.depth_curves(steps, "similarity", "similarity to the previous layer"), steps, "similarity_consecutive", right)
elif same_layers:
    diag = frame[frame["depth A"] == frame["depth B"]].rename(columns={"depth A": "depth", "layer A": "layer"})
    right.markdown(f"**{label}, A vs B at the same depth**")
    show_chart(charts.depth_curves(diag, "similarity", "similarity at the same depth"), diag, "similarity_same_depth", right)
else:
    right.info("A and B have different layers: the same-depth curve and the corresponding-layer test need two seeds of one architecture.")
for note in dict.fromkeys(frame.loc[frame["note"] != "", "note"]):
    st.warning(f"Left blank: {note}")

if same_layers and B is not A:
    st.subheader("Corresponding layers")
    with friendly_errors("The corresponding-layer test failed"):
        fraction_ok, table = corresponding_layers(frame)
    left, right = st.columns([1, 2])
    left.metric("Best match at the same depth", f"{fraction_ok:.0%}",
                help="The fraction of A's layers whose most similar layer of B is at the same depth (Kornblith et al. "
                     "2019, Table 2); the input, identical in both models, is left out")
    show_table(table, right, hide_index=True)
elif B is A:
    st.caption("A against itself: the matrix shows which layers represent the samples alike; its diagonal is 1.")

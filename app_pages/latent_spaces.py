"""Latent spaces: absolute vs relative representations of two models, their agreement, word spaces."""

import numpy as np
import pandas as pd
import streamlit as st

from explorer import analyses, charts
from explorer.projection import METHODS, warm_umap
from explorer.relative import ANCHOR_STRATEGIES, SIMILARITIES, relative_projection
from explorer.sources import default_layer, probe_classes
from explorer.ui import cached, scatter
from explorer.ui.state import bound, stop_page
from explorer.ui.widgets import download_csv, friendly_errors, in_background, presenting, require_data, run_long, show_chart, show_table
from explorer.words import DEMO_WORDS, SKIP_TOP

sel = st.session_state["selection"]
st.title("Latent spaces: absolute vs relative")
st.caption(
    "Moschella et al. (ICLR 2023): a sample becomes its similarities to a set of anchor samples. Two trainings "
    "of one network differ by angle-preserving maps of their latent spaces; the relative view removes them."
)
require_data(sel)
if sel.source_a is None or sel.source_b is None:
    st.info("Pick model A and model B in the sidebar (train one on Home if the dataset has none).")
    stop_page()
A, B = sel.source_a, sel.source_b
with friendly_errors("Could not load the models or the data"):
    probe = cached.any_probe(sel.dataset, sel.probe)
    actsA = cached.source_activations(A, sel.dataset, sel.probe, sel.device)
    actsB = cached.source_activations(B, sel.dataset, sel.probe, sel.device)

c = st.columns([2, 2, 2, 2, 2, 1.4, 1.6])
layer_a = bound(c[0].selectbox, "Layer of A", "ls_layer_a", default_layer(A, list(actsA)), list(actsA))
layer_b = bound(c[1].selectbox, "Layer of B", "ls_layer_b", default_layer(B, list(actsB)), list(actsB))
strategies = [s for s in ANCHOR_STRATEGIES if s != "per_class" or probe.y is not None]
strategy = bound(c[2].selectbox, "Anchors", "ls_strategy", "random", strategies,
                 help=None if probe.x is not None else "Without images, fps and kmeans choose the anchors in A's layer")
max_anchors = min(500, len(probe))
n_anchors = bound(c[3].number_input, "Number of anchors", "ls_anchors", min(300, max(1, len(probe) // 3)),
                  min_value=1, max_value=max_anchors, help="Default 300, at most a third of the probe so most points are not anchors")
similarity = bound(c[4].selectbox, "Similarity", "ls_similarity", "cosine", list(SIMILARITIES))
center = bound(c[5].toggle, "Centre", "ls_center", False, help="Subtract the anchor mean first")
view = bound(c[6].selectbox, "2-D view", "ls_view", "native", ["native", "pca", "umap"],
             help="native: the coordinates of a 2-D layer (else PCA); UMAP takes ~20 s the first time, then it is cached")

with friendly_errors("Cannot compare these representations"):
    ZA, ZB = cached.as_tensor(actsA[layer_a], sel.device), cached.as_tensor(actsB[layer_b], sel.device)
    features = None if probe.x is not None else ZA  # where fps / kmeans anchors are chosen without images
    idx = analyses.anchors(probe, int(n_anchors), strategy, features, store=cached.STORE)
    RA = relative_projection(ZA, ZA[idx.to(ZA.device)], similarity, center)
    RB = relative_projection(ZB, ZB[idx.to(ZB.device)], similarity, center)
    rel = {"anchors": idx.numpy(), "similarity": similarity, "center": bool(center)}
    spaces = {"absA": (ZA, A, layer_a, None), "absB": (ZB, B, layer_b, None), "relA": (RA, A, layer_a, rel), "relB": (RB, B, layer_b, rel)}
    warm_umap()  # compiles UMAP in the worker now, in the background, so that choosing it later is quick
    if view != "umap":
        xy = {k: analyses.view_2d(Z, src, layer, probe, view, r, cached.STORE) for k, (Z, src, layer, r) in spaces.items()}
    else:
        xy = {k: analyses.cached_view_2d(src, layer, probe, "umap", r, cached.STORE) for k, (Z, src, layer, r) in spaces.items()}
    if any(v is None for v in xy.values()):
        # UMAP takes seconds per view, in a worker process: the page does not wait; PCA is drawn until UMAP is there

        def umap_views(update):  # all four or none are cached: a Cancel leaves nothing behind
            done = [analyses.view_2d(Z, src, layer, probe, "umap", r, None, poll=lambda i=i: update(i / 4, f"view {i + 1} of 4"))
                    for i, (Z, src, layer, r) in enumerate(spaces.values())]
            for v, (Z, src, layer, r) in zip(done, spaces.values()):
                analyses.view_2d(Z, src, layer, probe, "umap", r, cached.STORE, computed=v)

        in_background("UMAP of the four views (the first fit on a machine compiles for ~20 s)", "umap", umap_views,
                      (A.key, B.key, layer_a, layer_b, sel.dataset, sel.probe, int(n_anchors), strategy, similarity, bool(center)))
        xy = {k: analyses.view_2d(Z, src, layer, probe, "pca", r, cached.STORE) for k, (Z, src, layer, r) in spaces.items()}

# the four views (PCA in place of a UMAP that is not ready, or was cancelled)
df = pd.DataFrame({"id": probe.indices, "class": probe_classes(probe), "anchor": np.isin(np.arange(len(probe)), idx.numpy())})
if probe.texts is not None:
    df["text"] = list(probe.texts)
for k, v in xy.items():
    df[f"{k}_x"], df[f"{k}_y"] = v["xy"][:, 0], v["xy"][:, 1]
used = {k: METHODS[int(v["method"][0])] for k, v in xy.items()}
titles = [("absA", f"absolute A: {A.name} · {layer_a}"), ("absB", f"absolute B: {B.name} · {layer_b}"),
          ("relA", f"relative A ({int(n_anchors)} anchors)"), ("relB", f"relative B ({int(n_anchors)} anchors)")]
sprite_key, sprite = cached.hover_sprite(sel.dataset, sel.probe)
scatter.linked_views(charts.view_payloads(df, [(k, f"{t} [{used[k]}]") for k, t in titles], "latent_views",
                                          sprite_key, presenting()), sprite, columns=4 if presenting() else 2)
download_csv(df, "latent_views")
st.caption("Colour = class; large ringed points = anchors; hover a point for its input (ringed in all four views); drag "
           "a rectangle in any view to highlight the same samples in all four (rectangles in several views intersect; a "
           "click clears one); click a class in the legend to follow it. Anchors are chosen "
           + ("in pixel space " if probe.x is not None else "") + "among the probe samples, so both models use the same anchor samples.")

st.subheader("Do A and B agree?")
with friendly_errors("Agreement cannot be measured"):
    k = min(10, len(probe) - 1)
    table = analyses.agreement(A, layer_a, B, layer_b, probe, idx, similarity, bool(center), k, sel.device, cached.STORE)
left, right = st.columns([1, 1.2])
show_table(table, left, formats=dict.fromkeys(("jaccard", "mrr", "cosine"), "%.3f"), hide_index=True)
if table.attrs["padded_columns"]:
    left.caption(f"The narrower absolute space was zero-padded with {table.attrs['padded_columns']} columns.")
left.caption(f"Protocol: for each sample i, rank the samples of B by cosine to A[i]. Jaccard@{k} = overlap of that "
             f"top-{k} with B[i]'s own top-{k} in B; MRR = 1/rank of B[i] (0 beyond {k}); cosine = cos(A[i], B[i]). "
             "Averaged over samples; B → A swaps the roles.")
show_chart(charts.agreement_bars(table), table, "agreement", right)

counts = [n for n in (1, 2, 5, 10, 20, 50, 100, 200, 300, 500) if n <= len(probe)]
sweep_args = (A, layer_a, B, layer_b, probe, counts, strategy, similarity, bool(center), k)
sweep = analyses.cached_anchor_sweep(*sweep_args, cached.STORE)
if sweep is None and len(probe) > 2000:  # seconds at this size (12 s at 10,000): the page does not wait for it
    in_background("Sweeping the number of anchors", "sweep", lambda update: analyses.anchor_sweep(
        *sweep_args, sel.device, cached.STORE, features, progress=update),
        (A.key, layer_a, B.key, layer_b, sel.dataset, sel.probe, strategy, similarity, bool(center), k))
elif sweep is None:
    with friendly_errors("Anchor sweep failed"), st.spinner("Sweeping the number of anchors…"):
        sweep = analyses.anchor_sweep(*sweep_args, sel.device, cached.STORE, features)
if sweep is not None:
    show_chart(charts.anchor_sweep_chart(sweep), sweep, "agreement_vs_anchors")
    st.caption("A → B agreement against the number of anchors; dashed = the absolute baseline.")

with st.expander("Invariance check: move A's latent space and compare"):
    with friendly_errors("Invariance check failed"):
        inv = analyses.invariance(A, layer_a, probe, idx, similarity, sel.device, cached.STORE)
    st.write(f"Random rotation, rescaling by 3.7 and a random translation of **{A.name} · {layer_a}** "
             f"({similarity} similarity); largest absolute change of each representation:")
    show_table(pd.DataFrame({"representation": list(inv), "max |difference|": list(inv.values())}), hide_index=True)

st.divider()
st.subheader("Word spaces: the paper's Table 1, offline")
st.caption("GloVe 6B 50-d vs MiniLM's input token embeddings (384-d) on their shared vocabulary. The paper (FastText vs "
           "word2vec, 300 anchors, 20k words) reports absolute Jaccard/MRR/cosine ≈ 0.00/0.00/0.01 and relative ≈ "
           "0.34–0.44 / 0.94–0.98 / 0.86. These two spaces differ far more; centring each space matters a lot.")
w = st.columns(4)
n_words = bound(w[0].number_input, "Words", "w_words", 20000, min_value=100, max_value=20000, step=1000)
w_seeds = bound(w[1].number_input, "Seeds", "w_seeds", 10, min_value=1, max_value=10)
w_k = bound(w[2].number_input, "k", "w_k", 5, min_value=1, max_value=50,
            help="relreps' protocol: k = 5, the 400 most frequent words dropped, std over seeds with ddof 1")
centred = bound(w[3].toggle, "Centre each space", "w_centred", True)
words_df = analyses.cached_word_table(int(n_words), 300, int(w_seeds), int(w_k), SKIP_TOP, cached.STORE)
if words_df is None:
    # measured: 170 s for 20k words and 10 seeds = 2 centrings x (absolute + 10 seeds) x 7.7 s; quadratic in words
    est = 2 * (1 + int(w_seeds)) * 7.7 * (int(n_words) / 20000) ** 2 + 2
    if st.button(f"Compute the word table (about {est:.0f} s on this machine; cached afterwards)", key="w_go"):
        with friendly_errors("Word table failed"):
            words_df = run_long("Word table", "words", lambda update: analyses.word_table(
                int(n_words), 300, int(w_seeds), int(w_k), SKIP_TOP, sel.device, cached.STORE, update), clicked=True)
if words_df is not None:
    shown = words_df.copy()
    shown["centred"] = shown["centred"].map({False: "plain", True: "centred"})
    for m in ("jaccard", "mrr", "cosine"):
        shown[m] = [f"{v:.3f} ± {s:.3f}" for v, s in zip(shown[m], shown[f"{m} std"])]
    show_table(shown[["direction", "space", "centred", "jaccard", "mrr", "cosine"]], hide_index=True)
    st.caption("Absolute rows zero-pad GloVe to 384 columns and do not depend on the anchors (std 0).")

kinds = {word: kind for kind, ws in DEMO_WORDS.items() for word in ws}
with friendly_errors("Word view failed"):
    views = cached.word_views(tuple(kinds), int(n_words), 300, bool(centred))
show_chart(charts.word_scatter(views, kinds), views, "word_views")
st.caption(f"PCA of {views['word'].nunique()} words (those among the {int(n_words)} shared words) in each space, {'centred' if centred else 'plain'}; relative = cosine to 300 random anchor words.")

"""Stitching: zero-shot through relative space, and trained stitching layers per layer."""

import streamlit as st
import torch

from explorer import charts
from explorer.alignment import check_pair
from explorer.data import load_split
from explorer.stitching import FAMILIES, grid_summary, stitched_outputs, stitching_penalties, zero_shot_grid
from explorer.train import anchor_indices_for
from explorer.ui import cached
from explorer.ui.state import as_list, mirror_to_url, synced
from explorer.ui.widgets import friendly_errors, long_work, require_data, show_chart
from explorer.zoo import stitch_groups

sel = st.session_state["selection"]
st.title("Stitching")
require_data(sel)
probe = cached.probe(sel.dataset, sel.probe)
by_name = {c.name: c for c in sel.checkpoints}
zero_tab, trained_tab = st.tabs(["Zero-shot stitching", "Trained stitching layers"])

with zero_tab:
    st.caption("Encoder of model i, decoder or head of model j, no training (Moschella et al. 2023). Relative models join "
               "through the relative projection against the anchors embedded by encoder i; absolute models pass the latent "
               "straight in. The diagonal is the unstitched model.")
    groups = stitch_groups(list(sel.checkpoints))
    if not groups:
        st.info(f"No group of relative models on {sel.dataset} to stitch (the zoo has them on digits and MNIST).")
    else:
        group = synced(st.selectbox, "Models", "st_group", next(iter(groups)), list(groups))
        mirror_to_url()
        rel_names, abs_names = groups[group]

        def grid(names, label):
            cks = [by_name[n] for n in names]
            parts = {"models": [c.sha256 for c in cks], "dataset": sel.dataset, "n": sel.probe}
            update, done = long_work("Stitching every encoder with every decoder", f"zero_shot_{label}")
            df = cached.memo_frame("zero_shot", parts, lambda: zero_shot_grid(
                [cached.model(c, sel.device) for c in cks], names, probe.x, probe.y, update))
            done()
            return df

        kind = by_name[rel_names[0]].kind
        metric = "mse" if kind == "ae" else synced(st.radio, "Metric", "st_metric", "accuracy", ["accuracy", "macro_f1"], horizontal=True)
        mirror_to_url()
        cols = st.columns(2)
        for col, names, label in ((cols[0], rel_names, "relative"), (cols[1], abs_names, "absolute")):
            with col, friendly_errors(f"The {label} models cannot be stitched"):
                g = grid(names, label)
                show_chart(charts.grid_heatmap(g, metric, f"{label}: test {metric}", reverse=metric == "mse"), g, f"zero_shot_{label}")
                s = grid_summary(g, metric)
                st.markdown(f"unstitched **{s['unstitched'][0]:.4f} ± {s['unstitched'][1]:.4f}** · stitched (all i ≠ j) "
                            f"**{s['stitched'][0]:.4f} ± {s['stitched'][1]:.4f}**")
        if kind == "ae":
            c = st.columns(3)
            enc = synced(c[0].selectbox, "Encoder", "st_enc", rel_names[0], rel_names)
            dec = synced(c[1].selectbox, "Decoder", "st_dec", rel_names[min(1, len(rel_names) - 1)], rel_names)
            n_img = synced(c[2].slider, "Images", "st_nimg", 10, cast=int, min_value=4, max_value=16)
            mirror_to_url()
            x = probe.x[:n_img]
            with friendly_errors("Reconstruction failed"):
                own = stitched_outputs(cached.model(by_name[dec], sel.device), cached.model(by_name[dec], sel.device), x)
                stitched = stitched_outputs(cached.model(by_name[enc], sel.device), cached.model(by_name[dec], sel.device), x)
            for caption, imgs in (("input", x), (f"{dec} on its own", own), (f"encoder {enc} → decoder {dec}", stitched)):
                st.caption(caption)
                st.image(charts.image_strip(imgs), width=56)

with trained_tab:
    st.caption("Model A up to a layer, a stitch, then model B after that layer; A and B frozen, only the stitch is fitted "
               "(Bansal et al. 2021; Godfrey et al. 2022). Penalty = accuracy(B) − accuracy(stitched) on the test probe.")
    A, B = sel.model_a, sel.model_b
    try:
        check_pair(A, B, "trained stitching")
    except ValueError as exc:
        st.info(f"These two models cannot be stitched layer by layer: {exc}.")
    else:
        c = st.columns(3)
        families = synced(c[0].multiselect, "Families", "st_families", list(FAMILIES), list(FAMILIES), cast=as_list())
        rank = synced(c[1].selectbox, "Low rank r", "st_rank", 4, [1, 2, 4, 8, 16, 32], cast=int)
        epochs = synced(c[2].number_input, "Epochs (trained families)", "st_epochs", 20, cast=int, min_value=1, max_value=200)
        mirror_to_url()
        train_split = load_split(sel.dataset, "train")
        train_probe = cached.probe(sel.dataset, min(5000, len(train_split)), "train")
        parts = {"a": A.sha256, "b": B.sha256, "dataset": sel.dataset, "n": sel.probe, "families": families,
                 "rank": int(rank), "epochs": int(epochs)}
        done = cached.peek("stitching_penalties", parts) is not None
        if done or st.button("Train the stitches", type="primary", key="st_go"):
            update, done = long_work("Fitting stitches", "stitches")
            anchor_x = train_split.x[torch.tensor(anchor_indices_for(sel.dataset, 300))]
            with friendly_errors("Stitching failed"):
                mA, mB = cached.model(A, sel.device), cached.model(B, sel.device)
                pen = cached.memo_frame("stitching_penalties", parts, lambda: stitching_penalties(
                    mA, mB, (train_probe.x, train_probe.y), (probe.x, probe.y), anchor_x, families, rank=int(rank),
                    epochs=int(epochs), progress=update))
            done()
            show_chart(charts.penalty_chart(pen), pen, "stitching_penalty")
            table = pen.pivot_table(index="family", columns="layer", values="parameters", sort=False)
            st.caption("Parameters per family and layer (a permutation counts only its positive scales):")
            st.dataframe(table, width="stretch")
            skipped = pen[pen["note"] != ""]
            for _, r in skipped.iterrows():
                st.caption(f"{r['family']} at {r['layer']}: {r['note']}")

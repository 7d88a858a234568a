"""Stitching: zero-shot through relative space, and trained stitching layers per layer."""

import streamlit as st
import torch

from explorer import analyses, charts
from explorer.data import load_split
from explorer.stitching import FAMILIES, grid_summary
from explorer.train import anchor_indices_for
from explorer.ui import cached
from explorer.ui.state import bound, tab_runs
from explorer.ui.widgets import EXPECTED, friendly_errors, pair_for, require_data, require_networks, run_long, show_chart, show_table, was_cancelled
from explorer.zoo import stitch_groups

sel = st.session_state["selection"]
st.title("Stitching")
require_data(sel)
require_networks(sel, "Trained stitching", stop=False)
probe = cached.probe(sel.dataset, sel.probe)
by_name = {c.name: c for c in sel.checkpoints}
zero_tab, trained_tab = bound(st.tabs, "", "st_tab", "Zero-shot stitching", ["Zero-shot stitching", "Trained stitching layers"])  # the open tab is in the URL (decks use it)

if tab_runs(zero_tab):  # while a deck plays, only the open tab runs
    with zero_tab:
        st.caption("Encoder of model i, decoder or head of model j, no training (Moschella et al. 2023). Relative models join "
                   "through the relative projection against the anchors embedded by encoder i; absolute models pass the latent "
                   "straight in. The diagonal is the unstitched model.")
        groups = stitch_groups(list(sel.checkpoints))
        if not groups:
            st.info(f"No group of relative models on {sel.dataset} to stitch (the zoo has them on digits and MNIST).")
        else:
            group = bound(st.selectbox, "Models", "st_group", next(iter(groups)), list(groups))
            loaded, broken = {}, []
            for name in dict.fromkeys(groups[group][0] + groups[group][1]):  # a model that does not load is left out
                try:
                    loaded[name] = cached.model(by_name[name], sel.device)
                except EXPECTED as exc:
                    broken.append(str(exc))
            for msg in broken:
                st.warning(f"Left out of the grids: {msg}")
            rel_names, abs_names = ([n for n in names if n in loaded] for names in groups[group])

            def grid(names, label):
                return run_long(f"Stitching every {label} encoder with every decoder", f"zero_shot_{label}", lambda update: analyses.zero_shot(
                    [by_name[n] for n in names], [loaded[n] for n in names], probe, cached.STORE, update), (names, sel.probe))

            kind = by_name[groups[group][0][0]].kind
            metric = "mse" if kind == "ae" else bound(st.radio, "Metric", "st_metric", "accuracy", ["accuracy", "macro_f1"], horizontal=True)
            grids = {}
            for names, label in ((rel_names, "relative"), (abs_names, "absolute")):
                with friendly_errors(f"The {label} models cannot be stitched"):
                    grids[label] = grid(names, label) if len(names) >= 2 else None
            domain = charts.shared_domain([g for g in grids.values() if g is not None], metric) if any(
                g is not None for g in grids.values()) else None
            cols = st.columns(2)
            for col, (label, g) in zip(cols, grids.items()):
                with col:
                    if g is None:
                        st.info(f"Fewer than two {label} models load (or the run was cancelled): no grid.")
                        continue
                    show_chart(charts.grid_heatmap(g, metric, f"{label}: test {metric}", reverse=metric == "mse", domain=domain),
                               g, f"zero_shot_{label}", container=col)
                    s = grid_summary(g, metric)
                    st.markdown(f"unstitched **{s['unstitched'][0]:.4f} ± {s['unstitched'][1]:.4f}** · stitched (all i ≠ j) "
                                f"**{s['stitched'][0]:.4f} ± {s['stitched'][1]:.4f}**")
            st.caption("Both grids share one colour scale, so a colour means the same value in each; axes name the models "
                       "by what differs between them (hover a cell for the full names).")
            if kind == "ae" and rel_names:
                short = charts.short_labels(rel_names)
                c = st.columns(3)
                enc = bound(c[0].selectbox, "Encoder", "st_enc", rel_names[0], rel_names, format_func=short.get)
                dec = bound(c[1].selectbox, "Decoder", "st_dec", rel_names[min(1, len(rel_names) - 1)], rel_names, format_func=short.get)
                n_img = bound(c[2].slider, "Images", "st_nimg", 10, min_value=4, max_value=16)
                x = probe.x[:n_img]
                # the absolute twins in the same positions (the same seeds): stitched with no relative space in between
                seeds = {by_name[a].seed: a for a in abs_names}
                twin = {r: seeds[by_name[r].seed] for r in rel_names if by_name[r].seed in seeds}
                rows = [("input", x)]

                def strip(e, d):
                    return cached.stitched(by_name[e], by_name[d], sel.dataset, sel.probe, n_img, sel.device)

                with friendly_errors("Reconstruction failed"):
                    rows.append((f"relative: decoder {dec} on its own", strip(dec, dec)))
                    rows.append((f"relative: encoder {enc} → decoder {dec}", strip(enc, dec)))
                    if enc in twin and dec in twin and enc != dec:
                        rows.append((f"absolute: encoder {twin[enc]} → decoder {twin[dec]}", strip(twin[enc], twin[dec])))
                for caption, imgs in rows:
                    st.caption(caption)
                    st.image(charts.image_row(imgs, cell=56))

if tab_runs(trained_tab):  # while a deck plays, only the open tab runs
    with trained_tab:
        st.caption("Model A up to a layer, a stitch, then model B after that layer; A and B frozen, only the stitch is fitted "
                   "(Bansal et al. 2021; Godfrey et al. 2022). Penalty (Godfrey et al. eq. 4.3) = (accuracy(A) + accuracy(B)) / 2 − "
                   "accuracy(stitched) on the test probe. Permutation x scale follows the authors' recipe (Sinkhorn start, "
                   "plain SGD, scales from half-way, batch 32); its warm-started variant starts from activation matching.")
        A, B = pair_for(sel, "trained stitching", "Trained stitching")
        if A is not None:
            c = st.columns(3)
            families = bound(c[0].multiselect, "Families", "st_families", list(FAMILIES), list(FAMILIES))
            rank = bound(c[1].selectbox, "Low rank r", "st_rank", 4, [1, 2, 4, 8, 16, 32])
            epochs = bound(c[2].number_input, "Epochs (trained families)", "st_epochs", 20, min_value=1, max_value=200)
            train_split = load_split(sel.dataset, "train")
            train_probe = cached.probe(sel.dataset, min(5000, len(train_split)), "train")
            anchors = anchor_indices_for(sel.dataset, 300)
            job = (A.sha256, B.sha256, sel.probe, families, int(rank), int(epochs))
            pen = analyses.cached_stitching_penalties(A, B, probe, train_probe, anchors, families, rank, epochs, cached.STORE)
            clicked = st.button("Train the stitches", type="primary", key="st_go") if pen is None else False
            if pen is None and not clicked:
                was_cancelled("Fitting stitches", "stitches", job)  # after a Cancel: say so
            if clicked:
                with friendly_errors("Stitching failed"):
                    mA, mB = cached.model(A, sel.device), cached.model(B, sel.device)
                    pen = run_long("Fitting stitches", "stitches", lambda update: analyses.stitching_penalties(
                        A, B, mA, mB, probe, train_probe, train_split.x[torch.tensor(anchors)], anchors, families, int(rank), int(epochs),
                        cached.STORE, update), job, clicked=True)
            if pen is not None:
                show_chart(charts.penalty_chart(pen), pen, "stitching_penalty")
                table = pen.pivot_table(index="family", columns="layer", values="parameters", sort=False)
                st.caption("Parameters per family and layer (a permutation counts only its positive scales):")
                show_table(table, width="stretch")
                skipped = pen[pen["note"] != ""]
                for _, r in skipped.iterrows():
                    st.caption(f"{r['family']} at {r['layer']}: {r['note']}")

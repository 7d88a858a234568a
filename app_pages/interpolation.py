"""Interpolation: between latents, and between weights (mode connectivity with permutation alignment)."""

import numpy as np
import pandas as pd
import streamlit as st

from explorer import analyses, charts
from explorer.interpolation import BARRIERS, barriers, latent_strips
from explorer.projection import pca_2d
from explorer.ui import cached, scatter
from explorer.ui.state import bound, stop_page, tab_runs
from explorer.ui.widgets import friendly_errors, pair_for, presenting, require_data, require_networks, run_long, show_chart, show_table

sel = st.session_state["selection"]
st.title("Interpolation")
require_data(sel)
require_networks(sel, "Interpolation")
if sel.model_a is None or sel.model_b is None:
    st.info("Pick models A and B in the sidebar.")
    stop_page()
A, B = sel.model_a, sel.model_b
probe = cached.probe(sel.dataset, sel.probe)
latent_tab, weight_tab = bound(st.tabs, "", "i_tab", "Latent interpolation", ["Latent interpolation", "Weight interpolation and mode connectivity"])  # the open tab is in the URL (decks use it)

if tab_runs(latent_tab):  # while a deck plays, only the open tab runs
    with latent_tab:
        if A.kind != "ae":
            st.info("Latent interpolation decodes along the path: pick an autoencoder (AE, VAE, relative AE) as model A.")
        else:
            mA = cached.model(A, sel.device)
            c = st.columns(4)
            how = bound(c[0].radio, "Pick the two samples", "li_how", "by class", ["by class", "by index", "by clicking"])
            steps = bound(c[3].slider, "Steps", "li_steps", 9, min_value=3, max_value=17)
            classes = sorted(set(probe.y.tolist()))
            if how == "by class":
                ca = bound(c[1].selectbox, "From class", "li_ca", classes[0], classes)
                cb = bound(c[2].selectbox, "To class", "li_cb", classes[-1], classes)
                i0, i1 = int((probe.y == ca).nonzero()[0]), int((probe.y == cb).nonzero()[0])
            else:  # by index, or by clicking: a click moves the end to the clicked sample and the old end to the start
                i0 = bound(c[1].number_input, "From probe sample", "li_i0", 0, min_value=0, max_value=len(probe) - 1)
                i1 = bound(c[2].number_input, "To probe sample", "li_i1", len(probe) - 1, min_value=0, max_value=len(probe) - 1)
            if how == "by clicking":
                acts = cached.activations(A, sel.dataset, sel.probe, sel.device)
                xy = pca_2d(cached.as_tensor(acts[mA.bottleneck], "cpu")).numpy()
                df = pd.DataFrame({"pos": np.arange(len(probe)), "x": xy[:, 0], "y": xy[:, 1], "class": probe.y.numpy()})

                def clicked():
                    picked = [p["pos"] for p in st.session_state["li_pick"].selection.get("pick", [])]
                    if picked and int(picked[-1]) != st.session_state.get("li_i1"):
                        st.session_state["li_i0"], st.session_state["li_i1"] = st.session_state.get("li_i1", 0), int(picked[-1])

                show_chart(charts.pickable_points(df), df, "pick_points", on_select=clicked, selection_mode="pick", key="li_pick")
                st.caption("Click a point: it becomes the end of the path and the previous end its start (the two boxes above).")
            mB = cached.model(B, sel.device) if (B.relative and B.kind == "ae" and A.relative) else None
            with friendly_errors("Latent interpolation failed"):
                strips = latent_strips(mA, probe.x[i0], probe.x[i1], int(steps), mB)
            st.write(f"From probe sample {i0} (class {int(probe.y[i0])}) to {i1} (class {int(probe.y[i1])}), "
                     f"{steps} steps, decoded by **{A.name}**" + (f"; last row decoded by **{B.name}**." if mB else "."))
            for name, imgs in strips.items():
                st.caption(name)
                st.image(charts.image_row(imgs, cell=64))
            if not mB:
                st.caption("Pick two relative autoencoders as A and B to decode A's path with B through their shared relative space.")

if tab_runs(weight_tab):  # while a deck plays, only the open tab runs
    with weight_tab:
        n_alpha = bound(st.slider, "Points on the path", "wi_points", 25, min_value=3, max_value=101)
        st.latex(r"\theta(\alpha)=(1-\alpha)\,\theta_A+\alpha\,\theta_B")
        st.caption("Aligned paths first permute B's hidden units onto A's: weight matching (Ainsworth et al. 2022: a linear "
                   "assignment per layer, alternating until nothing changes) or activation matching (correlation on the "
                   "train probe). The zoo's MLP and CNN have no batch norm, so no statistics need resetting.")
        A, B = pair_for(sel, "weight interpolation", "Weight interpolation")
        if A is None:
            stop_page()
        mA, mB = cached.model(A, sel.device), cached.model(B, sel.device)
        train_probe = cached.probe(sel.dataset, sel.probe, "train")
        alphas = np.linspace(0, 1, int(n_alpha))
        sa = mA.state_dict()
        paths = cached.aligned_states(A, B, sel.dataset, sel.probe, sel.device)  # naive, weight and activation matching
        with friendly_errors("Path evaluation failed"):
            curve = run_long("Loss and accuracy along the paths", "paths", lambda update: pd.concat([analyses.path_curve(
                A, B, mA, sa, s, name, probe, train_probe, alphas, cached.STORE, lambda f, name=name: update(f, f"{name} path"))
                .assign(path=name) for name, s in paths.items()], ignore_index=True), (A.sha256, B.sha256, sel.probe, len(alphas)))
        if curve is None:
            stop_page()
        show_chart(charts.path_charts(curve, ("loss", "accuracy")), curve, "path_curves")
        definition = bound(st.radio, "Barrier", "wi_barrier", "Git Re-Basin", list(BARRIERS), horizontal=True,
                           help="\n\n".join(f"**{k}**: {v}" for k, v in BARRIERS.items()))
        st.caption(f"Barrier ({definition}): {BARRIERS[definition]}; the accuracy barrier is the same drop for the accuracy.")
        table = barriers(curve)
        shown = [c for c in table.columns if "barrier" not in c or c.endswith(f"({definition})")]
        show_table(table[shown], formats={c: "%.4f" for c in shown if "barrier" in c}, hide_index=True)

        st.subheader("The latent space along the path")
        layer = bound(st.selectbox, "Layer", "wi_layer", mA.bottleneck, list(mA.layer_names))
        with friendly_errors("Animation failed"), st.spinner("Projecting the probe at every α…"):
            coords = {name: analyses.path_frames(A, B, mA, sa, paths[name], name, layer, probe, alphas, cached.STORE)
                      for name in ("naive", "weight matching")}
        allxy = np.concatenate([v.reshape(-1, 2) for v in coords.values()])
        domain = tuple(zip(allxy.min(0), allxy.max(0)))
        bound(st.toggle, "Play", "wi_play", False, help="Frames advance on their own")

        labels = probe.y.numpy()
        sprite_key, sprite = cached.hover_sprite(sel.dataset, sel.probe)

        @st.fragment(run_every=0.7 if st.session_state.get("wi_play") else None)
        def animation():
            if st.session_state.get("wi_play"):
                st.session_state["wi_frame"] = (st.session_state.get("wi_frame", 0) + 1) % len(alphas)
            if not 0 <= st.session_state.get("wi_frame", 0) < len(alphas):
                st.session_state["wi_frame"] = 0
            t = bound(st.slider, "Frame", "wi_frame", 0, min_value=0, max_value=len(alphas) - 1)
            # linked views on a canvas (brush a region in one path, see those samples in the other; hover shows the input)
            df = pd.DataFrame({"id": np.arange(len(labels)), "class": labels, "anchor": False,
                               **{f"{k}_{ax}": v[t, :, i] for k, v in coords.items() for i, ax in enumerate("xy")}})
            scatter.linked_views(charts.view_payloads(df, [(k, f"{k}, α = {alphas[t]:.2f}") for k in coords], "path_frames",
                                                      sprite_key, presenting(), domain), sprite)

        animation()
        gif_key = f"{A.sha256}-{B.sha256}-{layer}-{sel.dataset}-{sel.probe}-{len(alphas)}"
        st.download_button("Download the animation (GIF)", lambda: cached.gif(gif_key, coords, labels, alphas),  # drawn on click
                           file_name=f"path_{A.name}_{B.name}_{layer}.gif", mime="image/gif")
        st.caption("PCA fitted once at α = 0 (or native 2-D coordinates), so every frame shares the axes.")

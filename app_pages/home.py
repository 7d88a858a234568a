"""Home: the model zoo of the chosen dataset, and training a new model in the browser."""

import streamlit as st

from explorer.charts import zoo_metrics
from explorer.models import ARCHS
from explorer.train import TrainConfig, train_and_save
from explorer.ui import PAGES, cached
from explorer.ui.state import as_list, mirror_to_url, synced
from explorer.ui.widgets import friendly_errors, progress_callback, show_chart
from explorer.zoo import unique_name, user_models_dir, zoo_frame

sel = st.session_state["selection"]
st.title("Latent Explorer")
st.caption("How networks represent data: latent spaces, layers and whole models, compared live.")
st.markdown("\n".join(f"- **{title}**: {desc}" for _, title, _, desc in PAGES))

st.subheader(f"Model zoo on {sel.dataset}")
cks, problems = cached.zoo(sel.dataset)
for path, msg in problems:
    st.warning(f"Skipped an unusable checkpoint: {msg}")
if cks:
    df = zoo_frame(cks)
    shown = df.drop(columns=["arch", "dataset"]).dropna(axis=1, how="all")
    st.dataframe(shown, hide_index=True, width="stretch", key="zoo_table")
    show_chart(zoo_metrics(df), df, "zoo_metrics")
else:
    st.info(f"No model for {sel.dataset} yet. Train one below, or with `python -m explorer train --dataset {sel.dataset}`.")

st.subheader("Train a new model")
for line in st.session_state.pop("_train_report", []):
    st.success(line)
with st.form("train"):
    c1, c2, c3 = st.columns(3)
    arch = synced(c1.selectbox, "Architecture", "h_arch", "mlp_ae", list(ARCHS), format_func=lambda a: ARCHS[a].description)
    latent = synced(c1.number_input, "Latent width (autoencoders, relative classifier)", "h_latent", 16, cast=int, min_value=2, max_value=512)
    seeds = synced(c2.multiselect, "Seeds", "h_seeds", [0], list(range(10)), cast=as_list(int))
    epochs = synced(c2.number_input, "Epochs", "h_epochs", 20, cast=int, min_value=1, max_value=500)
    lr = synced(c3.number_input, "Learning rate", "h_lr", 1e-3, cast=float, min_value=1e-5, max_value=1.0, format="%.5f")
    batch = synced(c3.number_input, "Batch size", "h_batch", 128, cast=int, min_value=8, max_value=4096)
    go = st.form_submit_button("Train", type="primary")
mirror_to_url()

if go:
    if not seeds:
        st.error("Pick at least one seed.")
        st.stop()
    hp = {"latent": int(latent)} if "latent" in ARCHS[arch].defaults else {}
    st.button("Cancel training", help="Stops the run; nothing is saved for an unfinished model.")
    out = user_models_dir()
    report = []
    for seed in seeds:
        cfg = TrainConfig(sel.dataset, arch, int(seed), int(epochs), float(lr), int(batch), hp)
        bar = st.progress(0.0, text=f"{cfg.run_name()}: starting")
        with friendly_errors(f"Training {cfg.run_name()} failed"):
            ck = train_and_save(cfg, out, unique_name(cfg.run_name()), device=sel.device, progress=progress_callback(bar, cfg.run_name()))
        bar.progress(1.0, text=f"{ck.name}: done in {ck.meta['train']['time_s']:.1f} s")
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in ck.meta["metrics"]["test"].items())
        report.append(f"Saved {ck.name} (test {metrics}) to {out}; it is now in the model pickers as model A.")
    st.session_state["_train_report"] = report
    st.session_state["_pending_model_a"] = ck.name
    st.rerun()

"""Home: the model zoo of the chosen dataset, and training a new model in the browser."""

import streamlit as st

from explorer.charts import zoo_metrics
from explorer.data import DATASETS
from explorer.models import ARCHS
from explorer.train import LIMITS, TrainConfig, train_and_save
from explorer.ui import PAGES, cached
from explorer.ui.add_sources import add_sources, sources_frame
from explorer.ui.state import bound, stop_page
from explorer.ui.widgets import EXPECTED, long_work, one_at_a_time, show_chart
from explorer.zoo import check_models_room, training_warning, unique_name, user_models_dir, zoo_frame, zoo_table

sel = st.session_state["selection"]
st.title("Latent Explorer")
st.caption("How networks represent data: latent spaces, layers and whole models, compared live.")
st.markdown("\n".join(f"- **{title}**: {desc}" for _, title, _, desc in PAGES))

if sel.dataset not in DATASETS:
    st.subheader(f"Sources on {sel.dataset}")
    st.dataframe(sources_frame(sel.dataset), hide_index=True, width="stretch")
    st.caption("These give activations only: Latent spaces, Layer geometry and Similarity work on them; stitching and "
               "interpolation need networks of the zoo. Training runs on the image datasets.")
    add_sources(sel)
    stop_page()

st.subheader(f"Model zoo on {sel.dataset}")
cks, problems = cached.zoo(sel.dataset)
for path, msg in problems:
    st.warning(f"Skipped an unusable file: {msg}")
if cks:
    df = zoo_frame(cks)
    st.dataframe(zoo_table(df), hide_index=True, width="stretch", key="zoo_table",
                 column_config={"model": st.column_config.TextColumn(width="medium"),
                                "architecture": st.column_config.TextColumn(width="medium")})
    show_chart(zoo_metrics(df), df, "zoo_metrics")
else:
    st.info(f"No model for {sel.dataset} yet. Train one below, or with `python -m explorer train --dataset {sel.dataset}`.")

st.subheader("Train a new model")
for kind, line in st.session_state.pop("_train_report", []):
    (st.success if kind == "ok" else st.warning)(line)
with st.form("train"):
    c1, c2, c3 = st.columns(3)
    arch = bound(c1.selectbox, "Architecture", "h_arch", "mlp_ae", list(ARCHS),
                 help="\n\n".join(f"**{a}**: {info.description}" for a, info in ARCHS.items()))
    latent = bound(c1.number_input, "Latent width (autoencoders, relative classifier)", "h_latent", 16,
                   min_value=LIMITS["latent"][0], max_value=LIMITS["latent"][1])
    seeds = bound(c2.multiselect, "Seeds", "h_seeds", [0], list(range(10)))
    epochs = bound(c2.number_input, "Epochs", "h_epochs", 20, min_value=LIMITS["epochs"][0], max_value=LIMITS["epochs"][1])
    lr = bound(c3.number_input, "Learning rate", "h_lr", 1e-3, min_value=LIMITS["lr"][0], max_value=LIMITS["lr"][1], format="%.5f")
    batch = bound(c3.number_input, "Batch size", "h_batch", 128, min_value=LIMITS["batch_size"][0], max_value=LIMITS["batch_size"][1])
    go = st.form_submit_button("Train", type="primary")
st.caption(f"{ARCHS[arch].description}. One training runs at a time on this server; others wait their turn.")

if go and not seeds:
    st.error("Pick at least one seed.")
elif go:  # the click itself asks for the work, so an earlier Cancel does not hold it back
    hp = {"latent": int(latent)} if "latent" in ARCHS[arch].defaults else {}
    out = user_models_dir()
    report = []
    update, done = long_work("Training", "training")
    try:
        with one_at_a_time("training"):
            for i, seed in enumerate(seeds):
                cfg = TrainConfig(sel.dataset, arch, int(seed), int(epochs), float(lr), int(batch), hp)
                cfg.validate()
                check_models_room(out)
                name = unique_name(cfg.run_name())
                ck = train_and_save(cfg, out, name, device=sel.device, progress=lambda p, i=i, name=name: update(
                    (i + p.fraction) / len(seeds), f"{name}, epoch {p.epoch}, loss {p.loss:.4f}"))
                metrics = ", ".join(f"{k} {v:.4f}" for k, v in ck.meta["metrics"]["test"].items())
                report.append(("ok", f"Saved {ck.name} (test {metrics}) to {out}; it is now in the model pickers as model A."))
                if warning := training_warning(ck):
                    report.append(("warn", warning))
    except EXPECTED as exc:
        done()
        st.error(f"Training failed: {exc}")
    else:
        done()
        st.session_state["_train_report"] = report
        st.session_state["_pending_model_a"] = ck.name
        st.rerun()

add_sources(sel)

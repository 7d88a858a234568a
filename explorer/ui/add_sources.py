"""Home's "Add your own" panel: an embeddings file, a torchvision network with your weights, a
transformers folder. Every file kept is the program's own copy under the models folder."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer import sources
from explorer.data import DATASETS
from explorer.embeddings import FORMATS, MAX_BYTES
from explorer.pretrained import ARCHITECTURES
from explorer.ui.widgets import EXPECTED


def sources_frame(dataset: str) -> pd.DataFrame:
    rows = [{"name": s.name, "kind": sources.SOURCE_KINDS[s.kind].label, "what": s.title} for s in sources.list_sources(dataset)]
    return pd.DataFrame(rows, columns=["name", "kind", "what"])


def _added(dataset: str, name: str | None, text: str) -> None:
    st.session_state["_added_report"] = text
    st.session_state["_pending_dataset"] = dataset
    if name:
        st.session_state["_pending_model_a"] = name
    st.rerun()


def add_sources(sel) -> None:
    st.subheader("Add your own")
    if report := st.session_state.pop("_added_report", None):
        st.success(report)
    files, nets, texts = st.tabs(["Embeddings file", "Network with your weights", "Transformers folder"])
    with files:
        st.caption(f"{', '.join(FORMATS)} up to {MAX_BYTES // 1024**2} MB: one or several named arrays [N, D] (several = layers, "
                   "in file order), optional `labels`, `text` (shown on hover; a transformer can embed it too) and `image` "
                   "(data URLs). Its rows become a dataset of their own, file-FILENAME, in the sidebar.")
        up = st.file_uploader("Embeddings file", type=[f.lstrip(".") for f in FORMATS], key="h_upload_embeddings")
        if up is not None and st.button("Add this file", key="h_add_file", type="primary"):
            try:
                dataset = sources.store_embeddings(up.getvalue(), up.name)
            except EXPECTED as exc:
                st.error(f"Not added: {exc}")
            else:
                _added(dataset, dataset, f"Added {up.name} as dataset {dataset}: it is picked in the sidebar.")
    with nets:
        if sel.dataset not in DATASETS:
            st.info("Networks run on an image dataset: pick one in the sidebar first.")
        else:
            with st.form("add_network"):
                c = st.columns(4)
                arch = c[0].selectbox("Architecture", ARCHITECTURES, key="h_net_arch")
                size = c[1].selectbox("Input size (px)", [224, 112, 64, 32], key="h_net_size",
                                      help="Images are resized to this, repeated to 3 channels and ImageNet-normalised. "
                                           "224 is what the ImageNet weights expect; smaller is faster (ViT needs 224).")
                seed = c[2].number_input("Seed (no weights: random init)", 0, 10_000, 0, key="h_net_seed")
                name = c[3].text_input("Name", key="h_net_name", placeholder=f"{sel.dataset}-{arch}")
                weights = st.file_uploader("Weights: .safetensors or a state_dict (.pt/.pth, read with weights_only=True); "
                                           "none: the architecture's random initialisation", type=["safetensors", "pt", "pth", "bin"],
                                           key="h_net_weights")
                go = st.form_submit_button("Add this network", type="primary")
            if go:
                try:
                    with st.spinner("Checking the weights against the architecture…"):
                        src = sources.add_network(arch, sel.dataset, weights.name if weights else None, name or None, int(size),
                                                  seed=int(seed), data=weights.getvalue() if weights else None)
                except EXPECTED as exc:
                    st.error(f"Not added: {exc}")
                else:
                    _added(sel.dataset, src.name, f"Added {src.name} ({src.title}) on {sel.dataset}: it is model A now.")
    with texts:
        st.caption("A Hugging Face model folder on this machine (config.json, a tokenizer, model.safetensors), read offline. "
                   "all-MiniLM-L6-v2 is built in. Text models run on the words dataset and on files with a text column.")
        folder = st.text_input("Folder", key="h_text_folder", placeholder="/path/to/a/transformers/model")
        if folder and st.button("Add this folder", key="h_add_folder"):
            try:
                added = sources.add_text_model(folder)
            except EXPECTED as exc:
                st.error(f"Not added: {exc}")
            else:
                _added(sources.WORDS, added[0].name if added else None, f"Added {folder}: {', '.join(s.name for s in added)}.")

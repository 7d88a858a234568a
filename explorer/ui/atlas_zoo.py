"""The Zoo atlas page's own zoo, trained from the page: the atlas networks the user's models folder lacks,
with progress and Cancel; the same networks as ``python -m explorer zoo --atlas`` (``explorer.zoo.ATLAS_SPEC``,
read when the page runs)."""

from __future__ import annotations

import streamlit as st

from explorer import zoo
from explorer.ui.widgets import EXPECTED, long_work, one_at_a_time

_REPORT = "_atlas_zoo_report"


def offer(device: str) -> bool:
    """What the atlas zoo is, how many of its networks are here, a button that trains the missing ones, and
    what the last training did. Nothing once every one is in the models folder. Whether the button is shown."""
    for kind, line in st.session_state.pop(_REPORT, []):
        (st.success if kind == "ok" else st.warning)(line)
    out = zoo.user_models_dir()
    try:
        todo = zoo.atlas_todo(out)
    except (ValueError, OSError) as exc:  # a file of an atlas network's name, trained otherwise or unreadable: left as it is
        st.warning(f"The atlas zoo cannot be trained here: {exc}")
        return False
    if not todo:
        return False
    left, right = st.columns([4, 1], vertical_alignment="center")
    left.caption(f"The atlas zoo: {len(zoo.ATLAS_SPEC)} small digits classifiers (3 architectures x 2 widths x 4 seeds) "
                 f"made for this page, trained into your models folder ({out}); {len(zoo.ATLAS_SPEC) - len(todo)} of them "
                 "are there. The same as `python -m explorer zoo --atlas`.")
    if not right.button(f"Train the {len(todo)} missing", key="at_train_zoo", icon=":material/model_training:",
                        help="About a minute on two cores; one training runs at a time on this server. Cancel keeps "
                             "the networks already finished."):
        return True
    update, done = long_work("Training the atlas zoo", "atlas_zoo")
    try:
        with one_at_a_time("training"):
            trained = zoo.train_atlas(out, device, lambda i, n, name, p: update(
                (i + p.fraction) / n, f"{name} ({i + 1} of {n}), epoch {p.epoch}, loss {p.loss:.3f}"))
    except EXPECTED as exc:
        done()
        st.error(f"Training the atlas zoo failed: {exc}")
        return True
    done()
    if trained:
        worst = min(ck.meta["metrics"]["test"]["accuracy"] for ck in trained)
        line = f"Trained {len(trained)} atlas networks into {out} (test accuracy {worst:.1%} or better); they are on the map below."
    else:  # another session (or the CLI) trained them while this one waited its turn
        line = f"The atlas zoo's networks were trained meanwhile (another session or the CLI): all are in {out}."
    st.session_state[_REPORT] = [("ok", line)]
    st.rerun()

"""AppTest of the Interpolation page."""

import json

import numpy as np

from streamlit.testing.v1 import AppTest

from tests.conftest import linked_views, open_page, sprite_of


def _page(**params):
    return open_page("app_pages/interpolation.py", **params)


def test_weight_paths_for_two_digits_mlps(models_dir):
    at = _page(model_a="digits-mlp_clf-s0", model_b="digits-mlp_clf-s1", wi_points="11", i_tab="Weight interpolation and mode connectivity")
    assert not at.exception and not at.error
    bar = at.dataframe[0].value.set_index(["path", "split"])["loss barrier (Git Re-Basin)"]  # the default definition
    assert bar[("naive", "test")] > 0.4 and bar[("weight matching", "test")] < 0.05
    assert any(b.label == "Download the animation (GIF)" for b in at.get("download_button"))
    at.radio(key="wi_barrier").set_value("Entezari et al.").run()
    assert "loss barrier (Entezari et al.)" in at.dataframe[0].value.columns
    columns = json.loads(at.dataframe[0].proto.columns)  # barriers to four decimals, in the grid
    assert columns["loss barrier (Entezari et al.)"]["type_config"]["format"] == "%.4f"
    # the latent space along the path: two linked views (naive, weight matching) on axes shared by every frame
    views = linked_views(at)
    assert [m["title"] for m, _ in views] == ["naive, α = 0.00", "weight matching, α = 0.00"]
    assert views[0][0]["domain"] == views[1][0]["domain"] and views[0][0]["group"] == "path_frames"
    (x0, x1), (y0, y1) = views[0][0]["domain"]
    assert all(x0 <= f["x"].min() and f["x"].max() <= x1 and y0 <= f["y"].min() and f["y"].max() <= y1 for _, f in views)
    assert len(views[0][1]) == at.session_state["probe"] and sprite_of(at)  # hover shows each digit
    first = views[0][1]["x"].to_numpy()
    at.slider(key="wi_frame").set_value(5).run()
    views = linked_views(at)
    assert [m["title"] for m, _ in views] == ["naive, α = 0.50", "weight matching, α = 0.50"]  # 11 points: frame 5 is α = 0.5
    assert not np.allclose(views[0][1]["x"].to_numpy(), first)  # the points moved along the path
    at.selectbox(key="wi_layer").set_value("body.relu1").run()
    assert not at.exception and not at.error


def test_latent_strips_for_relative_autoencoders(models_dir):
    at = _page(model_a="digits-rel_ae-l16-s0", model_b="digits-rel_ae-l16-s1", li_ca="3", li_cb="8")
    assert not at.exception
    captions = [c.value for c in at.caption]
    assert {"linear", "spherical", "A → B (relative)"} <= set(captions)
    assert any("class 3" in m.value and "class 8" in m.value for m in at.markdown)
    at.radio(key="li_how").set_value("by index").run()
    at.number_input(key="li_i1").set_value(10).run()
    assert not at.exception


def test_different_architectures_get_a_message(models_dir):
    at = _page(model_a="digits-mlp_clf-s0", model_b="digits-cnn_clf-s0", i_tab="Weight interpolation and mode connectivity")
    assert not at.exception
    assert not at.error  # no red box: the weight tab says why and shows a pair it can interpolate
    assert any("differ in architecture" in i.value and "this tab shows **digits-mlp_clf-s0** and **digits-mlp_clf-s1**" in i.value
               for i in at.info)
    assert at.dataframe[0].value.set_index(["path", "split"])["loss barrier (Git Re-Basin)"][("naive", "test")] > 0.4
    at = _page(model_a="digits-mlp_clf-s0", model_b="digits-cnn_clf-s0")  # the latent tab (the default)
    assert not at.exception and not at.error
    assert any("pick an autoencoder" in i.value for i in at.info)


def test_the_default_view_has_no_error_and_runs_both_tabs(models_dir):
    at = _page()  # the default pair: two autoencoders, on the latent tab
    assert not at.exception and not at.error
    assert [e.label for e in at.get("tab")] == ["Latent interpolation", "Weight interpolation and mode connectivity"]
    assert at.get("tab")[0].get("image")  # the latent tab's strips
    # outside a deck the closed tab runs too: its widgets are drawn, so a copied URL keeps their values
    assert any("this tab shows **digits-mlp_clf-s0** and **digits-mlp_clf-s1**" in i.value for i in at.get("tab")[1].info)
    assert at.slider(key="wi_points").value == 25


def test_clicked_samples_and_play_state_come_back_from_a_url(models_dir):
    at = _page(model_a="digits-mlp_ae-l16-s0", li_how="by clicking", li_i0="3", li_i1="17", wi_play="0")
    assert not at.exception
    assert any(m.value.startswith("From probe sample 3 (class 6) to 17 (class 6)") for m in at.markdown)
    assert {"svg_pick_points", "csv_pick_points"} <= {b.key for b in at.get("download_button")}


def _table_script():
    import pandas as pd
    import streamlit as st

    from explorer.ui.widgets import PRESENT_KEY, show_table

    st.session_state[PRESENT_KEY] = st.query_params.get("present") == "true"
    show_table(pd.DataFrame({"path": ["naive", "aligned"], "barrier": [0.123456, float("nan")]}),
               formats={"barrier": "%.4f", "not a column": "%.1f"}, hide_index=True)


def test_a_table_formats_its_columns_in_the_grid_and_while_presenting():
    at = AppTest.from_function(_table_script).run()
    assert not at.exception
    assert json.loads(at.dataframe[0].proto.columns)["barrier"]["type_config"]["format"] == "%.4f"
    assert at.dataframe[0].value["barrier"].iloc[0] == 0.123456  # the grid keeps the number
    at = AppTest.from_function(_table_script)
    at.query_params["present"] = "true"
    at.run()
    assert not at.exception and not at.dataframe
    assert list(at.table[0].value["barrier"]) == ["0.1235", ""]  # the static table shows the text; NaN blank

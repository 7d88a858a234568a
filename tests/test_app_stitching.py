"""AppTest of the Stitching page (both tabs)."""

from tests.conftest import open_page


def _page(**params):
    return open_page("app_pages/stitching.py", **params)


def _summaries(at):
    return [m.value for m in at.markdown if m.value.startswith("unstitched")]


def test_zero_shot_grids_relative_vs_absolute(models_dir):
    at = _page()
    assert not at.exception and not at.error
    assert "st_go" in {b.key for b in at.button}  # the closed tab runs too (outside a deck): its widgets stay in the URL
    rel, ab = _summaries(at)
    stitched = lambda s: float(s.split("stitched (all i ≠ j) **")[1].split(" ")[0])  # noqa: E731
    assert stitched(ab) > 5 * stitched(rel)
    assert {"input", "relative: decoder digits-rel_ae-l16-s1 on its own",
            "relative: encoder digits-rel_ae-l16-s0 → decoder digits-rel_ae-l16-s1",
            "absolute: encoder digits-mlp_ae-l16-s0 → decoder digits-mlp_ae-l16-s1"} <= {c.value for c in at.caption}
    # both grids on one colour scale: the same domain in each heatmap's spec
    import json

    domains = [json.loads(c.proto.spec)["layer"][0]["encoding"]["color"]["scale"]["domain"] for c in at.get("vega_lite_chart")[:2]]
    assert domains[0] == domains[1] and domains[0][0] == 0.0
    at.selectbox(key="st_group").set_value("rel_clf (latent 64) vs mlp_clf").run()
    assert not at.exception and not at.error
    rel, ab = _summaries(at)
    assert stitched(rel) > 0.9 and stitched(ab) < 0.3


def test_trained_stitches_per_layer(models_dir):
    at = _page(model_a="digits-cnn_clf-s0", model_b="digits-cnn_clf-s1", st_epochs="5", st_tab="Trained stitching layers")
    assert not at.exception and not at.error
    at.button(key="st_go").click().run()
    assert not at.exception and not at.error
    params = at.dataframe[-1].value
    assert list(params.columns) == ["body.pool1", "body.pool2", "body.relu1"]
    assert params.loc["permutation x scale", "body.pool1"] == 32 and params.loc["identity", "body.relu1"] == 0
    assert {"csv_stitching_penalty", "svg_stitching_penalty"} <= {b.key for b in at.get("download_button")}


def test_models_that_cannot_be_stitched_get_a_message(models_dir):
    at = _page(model_a="digits-mlp_clf-s0", model_b="digits-cnn_clf-s0", st_tab="Trained stitching layers")
    assert not at.exception
    assert any("two absolute classifiers of one architecture" in i.value and "A is mlp_clf and B is cnn_clf" in i.value for i in at.info)
    # and the tab shows a pair that can be stitched instead, with a button to make it the sidebar's pair
    assert any("this tab shows **digits-mlp_clf-s0** and **digits-mlp_clf-s1**" in i.value for i in at.info)
    at.button(key="use_pair_Trained stitching").click().run()
    assert not at.exception
    assert at.selectbox(key="model_a").value == "digits-mlp_clf-s0" and at.selectbox(key="model_b").value == "digits-mlp_clf-s1"

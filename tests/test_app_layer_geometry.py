"""AppTest of the Layer geometry page."""

import pytest

from tests.conftest import open_page


def _page(**params):
    return open_page("app_pages/layer_geometry.py", **params)


def test_two_digits_classifiers(models_dir):
    at = _page(model_a="digits-mlp_clf-s0", model_b="digits-mlp_clf-s1")
    assert not at.exception and not at.error
    ids = at.dataframe[0].value
    assert len(ids) == 10 and set(ids["model"]) == {"A: digits-mlp_clf-s0", "B: digits-mlp_clf-s1"}
    assert ids["id"].between(2, 15).all() and (ids["duplicates"] == 0).all()
    keys = {b.key for b in at.get("download_button")}
    for name in ("intrinsic_dimension", "label_overlap", "consecutive_overlap", "overlap_all_layer_pairs", "decimation"):
        assert {f"csv_{name}", f"svg_{name}"} <= keys  # every chart: its data and an SVG
    at.number_input(key="g_k").set_value(5).run()
    at.selectbox(key="g_layer").set_value("input").run()
    assert not at.exception and not at.error


def test_mnist_mlp_and_cnn(models_dir, mnist_root):
    for a, b in (("mnist-mlp_clf-s0", "mnist-mlp_clf-s1"), ("mnist-cnn_clf-s0", "mnist-cnn_clf-s1")):
        at = _page(dataset="mnist", probe="500", model_a=a, model_b=b)
        assert not at.exception and not at.error
        ids = at.dataframe[0].value
        first = ids[ids["layer"] == "input"]["id"]
        assert len(first) == 2 and first.between(8, 20).all()  # raw MNIST pixels, about 13 on the full set


@pytest.mark.parametrize("params", [{"g_k": "100000"}, {"g_layer": "nope", "g_compare": "0"}])
def test_bad_values_fall_back(models_dir, params):
    at = _page(**params)
    assert not at.exception and not at.error

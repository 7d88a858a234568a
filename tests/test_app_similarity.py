"""AppTest of the Similarity page."""

import numpy as np
import pytest

from explorer.similarity import MEASURES
from tests.conftest import open_page


def _page(**params):
    return open_page("app_pages/similarity.py", **params)


def _values(at):
    """The similarity matrix the page just showed: the newest entry of the in-process cache with that column
    (every visit moves its entry to the end)."""
    from explorer.cache import arrays_to_frame
    from explorer.ui import cached

    frames = [arrays_to_frame(v) for v in cached._MEMORY.values() if "__frame__" in v]
    return [f for f in frames if {"layer A", "layer B", "similarity"} <= set(f.columns)][-1]


def test_two_digits_classifiers_all_measures(models_dir, cache_dir):
    at = _page(model_a="digits-mlp_clf-s0", model_b="digits-mlp_clf-s1")
    assert not at.exception and not at.error
    keys = {b.key for b in at.get("download_button")}
    assert {"csv_similarity_heatmap", "svg_similarity_heatmap", "csv_similarity_same_depth", "svg_similarity_same_depth"} <= keys
    df = _values(at)
    assert len(df) == 25  # input + 4 layers, squared
    same = df[df["depth A"] == df["depth B"]].set_index("layer A")["similarity"]
    assert same["input"] == pytest.approx(1.0, abs=1e-6)  # the same samples in both
    assert same.drop("input").between(0.5, 1.0).all()  # two seeds: similar at the same depth
    metric = at.metric[0]
    assert metric.value.endswith("%") and 0 <= int(metric.value[:-1]) <= 100
    for m in MEASURES:
        at.selectbox(key="s_measure").set_value(m).run()
        assert not at.exception and not at.error, m
        v = _values(at)["similarity"]
        assert v.notna().all() and v.between(-0.1, 1.0 + 1e-9).all(), m
    assert at.toggle(key="s_debiased").disabled  # Godfrey et al.'s CKA is always debiased
    at.selectbox(key="s_measure").set_value("cka_rbf").run()
    at.toggle(key="s_debiased").set_value(True).run()
    assert not at.exception and not at.error
    at.toggle(key="s_itself").set_value(True).run()
    assert not at.exception and not at.error
    assert "csv_similarity_consecutive" in {b.key for b in at.get("download_button")} and not at.metric
    self_df = _values(at)
    diag = self_df[self_df["depth A"] == self_df["depth B"]]["similarity"]
    assert np.allclose(diag, 1.0, atol=1e-6)


def test_mnist_mlp_and_cnn_seeds(models_dir, mnist_root):
    for a, b in (("mnist-mlp_clf-s0", "mnist-mlp_clf-s1"), ("mnist-cnn_clf-s0", "mnist-cnn_clf-s1")):
        at = _page(dataset="mnist", probe="1000", model_a=a, model_b=b)
        assert not at.exception and not at.error
        df = _values(at)
        same = df[(df["depth A"] == df["depth B"]) & (df["layer A"] != "input")]["similarity"]
        assert len(same) == 4 and same.between(0.6, 1.0).all(), (a, same.tolist())
        assert at.metric[0].value in ("75%", "100%")  # seeds of one architecture: the same depth is (almost) always the best match


def test_different_architectures_and_degenerate_layers(models_dir):
    at = _page(model_a="digits-mlp_clf-s0", model_b="digits-cnn_clf-s0", s_measure="relu_procrustes")
    assert not at.exception and not at.error
    assert any("different layers" in i.value for i in at.info)
    assert not at.metric  # no corresponding-layer test across architectures


@pytest.mark.parametrize("params", [{"s_measure": "nope"}, {"s_fraction": "-3"}, {"s_debiased": "banana"}])
def test_bad_url_values_fall_back(models_dir, params):
    at = _page(**params)
    assert not at.exception and not at.error

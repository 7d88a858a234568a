"""AppTest of the Latent spaces page."""

from tests.conftest import linked_views, open_page, sprite_of


def _page(**params):
    return open_page("app_pages/latent_spaces.py", **params)


def _agreement(at):
    return next(d.value for d in at.dataframe if "jaccard" in d.value.columns and "space" in d.value.columns)


def test_default_page_shows_relative_agreement_and_absolute_disagreement(models_dir, cache_dir):
    at = _page()
    assert not at.exception and not at.error
    t = _agreement(at).set_index(["space", "direction"])
    assert t.loc[("relative", "A → B"), "mrr"] > 0.8 and t.loc[("absolute", "A → B"), "mrr"] < 0.05
    inv = next(d.value for d in at.dataframe if "representation" in d.value.columns).set_index("representation")
    assert inv.loc["absolute", "max |difference|"] > 1 and inv.loc["relative (centred)", "max |difference|"] < 1e-6
    views = linked_views(at)
    assert [m["key"] for m, _ in views] == ["absA", "absB", "relA", "relB"]
    n = len(views[0][1])
    assert all(len(f) == n for _, f in views) and all(f["anchor"].sum() == views[0][1]["anchor"].sum() for _, f in views)
    assert sprite_of(at) is not None  # the probe's images, once, for the hover
    assert len(at.get("vega_lite_chart")) >= 3  # agreement, sweep, words
    # a second visit reads the disk cache: activations, anchors, 2-D views and the sweep are there
    assert len(list(cache_dir.rglob("*.safetensors"))) >= 5


def test_changing_controls_and_url_restore(models_dir):
    at = _page(ls_strategy="per_class", ls_anchors="50", ls_similarity="euclidean", ls_view="pca")
    assert not at.exception and not at.error
    assert at.selectbox(key="ls_strategy").value == "per_class" and at.number_input(key="ls_anchors").value == 50
    assert at.selectbox(key="ls_similarity").value == "euclidean"
    at.selectbox(key="ls_strategy").set_value("kmeans").run()
    assert not at.exception and not at.error
    assert at.selectbox(key="ls_strategy").value == "kmeans"  # the URL follows in the browser (test_e2e_urls)


def test_more_anchors_than_samples_falls_back_and_tiny_probes_still_work(models_dir):
    at = _page(ls_anchors="100000", probe="10", ls_layer_a="no.such.layer")
    assert not at.exception and not at.error
    assert at.number_input(key="ls_anchors").value == 10  # clamped to the largest valid value, with a note
    assert any("ls_anchors=100000 is outside 1..10: using 10" in t.value for t in at.toast)
    assert at.selectbox(key="ls_layer_a").value == "encoder.latent"  # invalid layer: back to the bottleneck
    assert len(_agreement(at)) == 4  # k adapts to N - 1 = 9


def test_word_table_computes_on_request(models_dir, cache_dir):
    at = _page(w_words="1000", w_seeds="1")
    assert not at.exception
    at.button(key="w_go").click().run()
    assert not at.exception and not at.error
    words = next(d.value for d in at.dataframe if "centred" in d.value.columns)
    assert len(words) == 8 and set(words["space"]) == {"absolute", "relative"}
    at2 = _page(w_words="1000", w_seeds="1")  # a new session finds it in the disk cache, no button needed
    assert any("centred" in d.value.columns for d in at2.dataframe)


def test_nan_activations_give_a_clear_message(models_dir):
    import torch

    from explorer.checkpoint import save_checkpoint
    from explorer.models import build_model

    model = build_model("mlp_ae", (1, 8, 8), 10, {"latent": 16})
    with torch.no_grad():
        model.encoder.fc1.weight[0, 0] = float("nan")
    save_checkpoint(model, models_dir, "digits-broken-ae", {"dataset": "digits", "seed": 0, "metrics": {}})
    at = _page(model_a="digits-broken-ae")
    assert not at.exception
    assert any("NaN or infinite" in e.value for e in at.error)


def test_missing_dataset_is_explained_with_a_download_button(models_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(tmp_path / "empty"))
    at = _page(dataset="fashion_mnist")
    assert not at.exception
    assert any("not on disk" in e.value and "t10k-images-idx3-ubyte" in e.value for e in at.error)
    assert any("Download Fashion-MNIST" in b.label for b in at.button)
    assert any("not on disk" in i.value for i in at.info)


def test_umap_runs_in_the_background_and_replaces_pca_when_done(models_dir):
    from explorer import background

    at = _page(ls_view="umap", ls_anchors="50")
    assert not at.exception and not at.error
    # the run does not wait for UMAP: it draws PCA and the rest of the page, with the job's progress
    assert [m["title"].endswith("[pca]") for m, _ in linked_views(at)] == [True] * 4
    assert any("in the background" in p.proto.text for p in at.get("progress"))
    assert len(at.get("vega_lite_chart")) >= 3  # agreement, sweep, words: drawn while UMAP runs
    jobs = background.wait_all(timeout=300)
    assert jobs and all(j.done and j.error is None for j in jobs)
    at.run()
    assert not at.exception and not at.error
    assert [m["title"].endswith("[umap]") for m, _ in linked_views(at)] == [True] * 4  # all four views placed by UMAP
    assert not at.get("progress")

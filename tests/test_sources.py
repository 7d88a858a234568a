"""Sources of representations: embeddings files, torchvision networks with the user's weights, the built-in
MiniLM and GloVe; known answers, bad input with clear messages, and every applicable page on each kind."""

import io
import json

import numpy as np
import pandas as pd
import pytest
import torch

from explorer import analyses, sources
from explorer.cache import DiskCache
from explorer.embeddings import EmbeddingsError, parse_embeddings
from explorer.pretrained import NetworkError, check_text_folder, read_state_dict
from tests.conftest import open_page


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _rotated_pair(n=240, d=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return X, (X @ Q).astype(np.float32), rng.integers(0, 4, n)


def test_two_layers_that_are_a_rotation_give_cka_1_and_relative_agreement_1(models_dir, tmp_path):
    X, Y, labels = _rotated_pair()
    dataset = sources.store_embeddings(_npz(first=X, rotated=Y, labels=labels), "pair.npz")
    assert dataset.startswith("file-pair-") and sources.modality(dataset) == "rows"
    (src,) = sources.list_sources(dataset)
    probe = sources.load_any_probe(dataset, 200)
    assert len(probe) == 200 and probe.y is not None and probe.x is None
    store = DiskCache(tmp_path / "cache")
    acts = sources.activations(src, probe, "cpu", store)
    assert list(acts) == ["first", "rotated"]  # file order, also when read back from the cache
    assert list(sources.activations(src, probe, "cpu", store)) == ["first", "rotated"]
    sim = analyses.similarity_matrix(src, None, probe, "cka_linear", store=store)
    cross = sim[(sim["layer A"] == "first") & (sim["layer B"] == "rotated")]["similarity"].item()
    assert cross == pytest.approx(1.0, abs=1e-5)
    from explorer.retrieval import agreement

    ZA, ZB = torch.from_numpy(acts["first"]), torch.from_numpy(acts["rotated"])
    idx = analyses.anchors(probe, 30, "random")
    table = agreement(ZA, ZB, idx, "cosine", False, 10)
    rel = table[table["space"] == "relative"]
    assert rel["jaccard"].min() == pytest.approx(1.0) and rel["mrr"].min() == pytest.approx(1.0)
    assert rel["cosine"].min() == pytest.approx(1.0, abs=1e-5)
    absolute = table[table["space"] == "absolute"]
    assert absolute["cosine"].max() < 0.9  # the rotation moves the absolute space


def test_every_table_and_array_format_reads_the_same_layers(tmp_path):
    X, Y, labels = _rotated_pair(n=20, d=3)
    df = pd.DataFrame({f"enc_{i}": X[:, i] for i in range(3)} | {f"dec_{i}": Y[:, i] for i in range(3)})
    df["labels"] = [f"c{v}" for v in labels]
    df["text"] = [f"row {i}" for i in range(20)]
    from safetensors.numpy import save

    for name, blob in [("a.csv", df.to_csv(index=False).encode()), ("a.parquet", df.to_parquet()),
                       ("a.npz", _npz(enc=X, dec=Y)), ("a.safetensors", save({"enc": X, "dec": Y}))]:
        e = parse_embeddings(blob, name)
        assert set(e.layers) == {"enc", "dec"}, name
        np.testing.assert_allclose(e.layers["enc"], X, rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(e.layers["dec"], Y, rtol=1e-6, err_msg=name)
    e = parse_embeddings(df.to_csv(index=False).encode(), "a.csv")
    assert e.classes == tuple(sorted({f"c{v}" for v in labels})) and e.text[3] == "row 3"
    buf = io.BytesIO()
    np.save(buf, X)
    assert list(parse_embeddings(buf.getvalue(), "one.npy").layers) == ["embedding"]
    lists = pd.DataFrame({"vec": list(X), "labels": labels}).to_parquet()
    np.testing.assert_allclose(parse_embeddings(lists, "l.parquet").layers["vec"], X, rtol=1e-6)


@pytest.mark.parametrize("blob, name, says", [
    (_npz(a=np.zeros((10, 3)), b=np.zeros((9, 3))), "n.npz", "different numbers of rows: a 10, b 9"),
    (_npz(a=np.zeros(10)), "v.npz", "1-D"),
    (_npz(a=np.zeros((10, 3, 2))), "t.npz", "3-D"),
    (_npz(a=np.where(np.arange(30).reshape(10, 3) % 7 == 0, np.nan, 1.0)), "nan.npz", "NaN or inf in 5 of 10 rows (rows 0, 2, 4, 7, 9)"),
    (_npz(a=np.zeros((10, 3)), labels=np.zeros(9)), "l.npz", "'labels' has 9 entries for 10 rows"),
    (b"x,y,name\n1,2,a\n3,4,b\n5,6,c\n", "s.csv", "non-numeric column(s) name"),
    (_npz(a=np.array([{"x": 1}] * 5, dtype=object)), "p.npz", "never unpickled"),
    (b"abc", "x.txt", "unknown format .txt"),
    (b"not a zip", "bad.npz", "not a .npz file"),
    (_npz(a=np.zeros((2, 3))), "small.npz", "2 rows; at least 3"),
])
def test_a_bad_embeddings_file_gets_a_clear_message(blob, name, says):
    with pytest.raises(EmbeddingsError) as exc:
        parse_embeddings(blob, name)
    assert says in str(exc.value)


def test_an_upload_over_the_limit_is_refused_with_the_limit(monkeypatch):
    from explorer import embeddings

    monkeypatch.setattr(embeddings, "MAX_BYTES", 1000)
    with pytest.raises(EmbeddingsError, match="the limit is 0 MB|limit is"):
        parse_embeddings(_npz(a=np.zeros((100, 10))), "big.npz")


def test_a_state_dict_round_trip_gives_the_in_memory_activations(models_dir, tmp_path):
    import torchvision

    torch.manual_seed(3)
    net = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    weights = tmp_path / "mine.pt"
    torch.save(net.state_dict(), weights)
    before = weights.read_bytes()
    src = sources.add_network("resnet18", "digits", weights, "my-resnet", input_size=32)
    assert weights.read_bytes() == before  # the user's file is only read
    assert (models_dir / "networks" / "my-resnet.safetensors").is_file()
    (listed,) = [s for s in sources.list_sources("digits") if s.kind == "torchvision"]
    assert listed.name == "my-resnet" and listed.key == src.key
    probe = sources.load_any_probe("digits", 40)
    acts = sources.activations(listed, probe, "cpu", DiskCache(tmp_path / "cache"))
    assert list(acts) == ["input", "relu", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"]
    assert acts["fc"].shape == (40, 10) and acts["layer1"].shape == (40, 64, 8, 8)
    from explorer.pretrained import image_transform

    with torch.no_grad():
        logits = net(image_transform("resnet18", 32)(probe.x))
    np.testing.assert_allclose(acts["fc"], logits.numpy(), rtol=1e-4, atol=1e-5)
    prof = analyses.layer_profile(listed, probe, 5)
    assert prof["id"].iloc[1:].notna().all() and (prof["id"].iloc[1:] > 0).all()


def test_bad_weights_and_names_get_clear_messages(models_dir, tmp_path):
    import torchvision

    with pytest.raises(NetworkError, match="unknown architecture 'resnet19'; known: resnet18, resnet34"):
        sources.add_network("resnet19", "digits")
    net = torchvision.models.resnet18(weights=None)
    state = net.state_dict()
    state.pop("fc.bias")
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "off.pt")
    with pytest.raises(NetworkError) as exc:
        sources.add_network("resnet18", "digits", tmp_path / "off.pt")
    assert "1 missing: fc.bias" in str(exc.value) and "1 unexpected: extra.weight" in str(exc.value)

    import argparse

    torch.save({"model": argparse.Namespace(x=1)}, tmp_path / "pickled.pt")  # a class weights_only refuses
    with pytest.raises(NetworkError, match="nothing is unpickled"):
        read_state_dict(tmp_path / "pickled.pt")
    torch.save(net, tmp_path / "whole.pt")  # a whole pickled module, not a state_dict
    with pytest.raises(NetworkError, match="nothing is unpickled"):
        read_state_dict(tmp_path / "whole.pt")
    with pytest.raises(NetworkError, match="must be .safetensors or a state_dict"):
        read_state_dict(tmp_path / "w.pkl", b"whatever")
    assert not (models_dir / "networks").exists() or not list((models_dir / "networks").glob("*.json"))
    with pytest.raises(ValueError, match="image datasets"):
        sources.add_network("resnet18", "words")


def test_a_transformers_folder_without_config_or_tokenizer_is_refused(tmp_path):
    d = tmp_path / "model"
    d.mkdir()
    with pytest.raises(NetworkError, match="no config.json"):
        check_text_folder(d)
    (d / "config.json").write_text("{}")
    with pytest.raises(NetworkError, match="no tokenizer"):
        check_text_folder(d)


def test_minilm_loads_offline_and_its_mean_pooled_last_layer_is_the_sentence_embedding(models_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    srcs = {s.name: s for s in sources.list_sources("words")}
    assert {"minilm-l6:mean", "minilm-l6:cls", "minilm-l6:last", "glove-6b-50d"} <= set(srcs)
    probe = sources.load_any_probe("words", 64)
    assert probe.texts[:3] == tuple(probe.texts[:3]) and len(probe.texts) == 64
    acts = sources.activations(srcs["minilm-l6:mean"], probe, "cpu", DiskCache(tmp_path / "cache"))
    assert list(acts) == ["embeddings"] + [f"layer.{i}" for i in range(1, 7)]
    assert all(v.shape == (64, 384) for v in acts.values())
    from sentence_transformers import SentenceTransformer

    st_model = SentenceTransformer(str(sources.builtin_text_model()), device="cpu", local_files_only=True)
    want = st_model.encode(list(probe.texts[:16]), normalize_embeddings=True)
    got = acts["layer.6"][:16] / np.linalg.norm(acts["layer.6"][:16], axis=1, keepdims=True)
    np.testing.assert_allclose(got, want, atol=1e-4)
    glove = sources.activations(srcs["glove-6b-50d"], probe, "cpu")
    assert glove["embedding"].shape == (64, 50)


# ------------------------------------------------------------------ every applicable page on each kind


def _ok(at):
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_pages_on_the_words_dataset(models_dir, cache_dir):
    at = open_page("app_pages/latent_spaces.py", dataset="words", probe="300", ls_anchors="60")
    _ok(at)
    assert at.selectbox(key="model_a").value == "minilm-l6:mean" and at.selectbox(key="model_b").value == "glove-6b-50d"
    assert at.selectbox(key="ls_layer_a").value == "layer.6" and at.selectbox(key="ls_layer_b").value == "embedding"
    assert "per_class" not in at.selectbox(key="ls_strategy").options  # words have no labels
    table = at.dataframe[0].value
    rel = table[table["space"] == "relative"]["jaccard"].mean()
    absolute = table[table["space"] == "absolute"]["jaccard"].mean()
    assert rel > absolute  # relative agreement of MiniLM with GloVe beats absolute on the same words
    at = open_page("app_pages/layer_geometry.py", dataset="words", probe="300")
    _ok(at)
    assert any("no labels" in i.value for i in at.info)
    at = open_page("app_pages/similarity.py", dataset="words", probe="300", s_itself="true")
    _ok(at)
    at = open_page("app_pages/stitching.py", dataset="words", probe="300")
    _ok(at)
    assert any("needs networks of the zoo" in i.value for i in at.info)


def test_pages_on_an_embeddings_file_and_on_your_network(models_dir, cache_dir):
    X, Y, labels = _rotated_pair(n=300, d=16)
    dataset = sources.store_embeddings(_npz(first=X, rotated=Y, labels=labels), "mine.npz")
    for page, extra in [("app_pages/latent_spaces.py", {"ls_layer_b": "rotated", "ls_anchors": "40"}),
                        ("app_pages/layer_geometry.py", {}), ("app_pages/similarity.py", {"s_itself": "true"})]:
        at = open_page(page, dataset=dataset, probe="200", **extra)
        _ok(at)
    sources.add_network("resnet18", "digits", name="digits-resnet18-init", input_size=32)
    at = open_page("app_pages/layer_geometry.py", model_a="digits-resnet18-init", g_compare="false")
    _ok(at)
    assert at.selectbox(key="g_layer").value == "avgpool"
    at = open_page("app_pages/interpolation.py", model_a="digits-resnet18-init")
    _ok(at)
    assert any("needs networks of the zoo" in i.value for i in at.info)


def test_home_adds_a_network_and_refuses_bad_weights(models_dir, cache_dir):
    at = open_page()
    _ok(at)
    at.selectbox(key="h_net_arch").set_value("resnet18")
    at.selectbox(key="h_net_size").set_value(32)
    at.text_input(key="h_net_name").input("my-net")
    at.button[[b.label for b in at.button].index("Add this network")].click().run()
    _ok(at)
    assert at.selectbox(key="model_a").value == "my-net"
    assert any("Added my-net" in s.value for s in at.success)
    rec = json.loads((models_dir / "networks" / "my-net.json").read_text())
    assert rec["arch"] == "resnet18" and rec["input_size"] == 32 and rec["weights"] is None


def test_minilm_embeds_a_files_texts_and_meets_the_files_vectors_on_latent_spaces(models_dir, cache_dir):
    from explorer.words import shared_vocabulary

    words = list(shared_vocabulary(20000).words[:150])
    glove = shared_vocabulary(20000).glove[:150].numpy()
    df = pd.DataFrame({"vec": list(glove), "text": words, "labels": [len(w) % 3 for w in words]})
    dataset = sources.store_embeddings(df.to_parquet(), "glove_words.parquet")
    assert sources.modality(dataset) == "text"
    names = [s.name for s in sources.list_sources(dataset)]
    assert names[0] == dataset and "minilm-l6:mean" in names
    at = open_page("app_pages/latent_spaces.py", dataset=dataset, probe="120", model_b="minilm-l6:mean", ls_anchors="30")
    _ok(at)
    assert at.selectbox(key="ls_layer_a").value == "vec" and at.selectbox(key="ls_layer_b").value == "layer.6"
    assert "per_class" in at.selectbox(key="ls_strategy").options  # the file's labels
    texts_only = pd.DataFrame({"text": ["a cat", "a dog", "the sea", "a ship", "red", "blue"]}).to_csv(index=False).encode()
    only = sources.store_embeddings(texts_only, "sentences.csv")
    assert [s.kind for s in sources.list_sources(only)] == ["transformer"] * 3  # a text probe, embedded by MiniLM


def test_your_network_on_similarity_and_latent_spaces(models_dir, cache_dir):
    sources.add_network("resnet18", "digits", name="net-a", input_size=32, seed=0)
    sources.add_network("resnet18", "digits", name="net-b", input_size=32, seed=1)
    at = open_page("app_pages/similarity.py", model_a="net-a", model_b="net-b")
    _ok(at)
    at = open_page("app_pages/latent_spaces.py", model_a="net-a", model_b="net-b", ls_anchors="40")
    _ok(at)
    assert at.selectbox(key="ls_layer_a").value == "avgpool"


def test_a_resnet18_state_dict_on_mnist_runs_the_layer_geometry_page(models_dir, cache_dir, mnist_root, monkeypatch, tmp_path):
    import torchvision

    monkeypatch.setenv("EXPLORER_DATA_DIR", str(mnist_root))
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "resnet18.pth")
    sources.add_network("resnet18", "mnist", tmp_path / "resnet18.pth", "mnist-resnet18", input_size=32)
    at = open_page("app_pages/layer_geometry.py", dataset="mnist", probe="200", model_a="mnist-resnet18", g_compare="false")
    _ok(at)
    prof = [f for f in (at.dataframe[i].value for i in range(len(at.dataframe))) if "id" in f.columns][0]
    assert list(prof["layer"]) == ["input", "relu", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"]
    assert prof["id"].notna().all() and (prof["id"] > 1).all()
    assert prof["label overlap"].between(0, 1).all()

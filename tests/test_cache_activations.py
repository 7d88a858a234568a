import os
import warnings

import numpy as np
import pytest
import torch

from explorer.activations import extract_activations, probe_activations
from explorer.cache import CacheWarning, DiskCache, cache_key
from explorer.checkpoint import load_checkpoint
from explorer.data import load_probe, load_split
from explorer.zoo import ZOO_DIR


def test_key_is_content_based():
    a = np.arange(5)
    k = cache_key("f", model="abc", indices=a, p={"x": 1, "y": 2})
    assert k == cache_key("f", p={"y": 2, "x": 1}, indices=np.arange(5), model="abc")
    assert k != cache_key("f", model="abc", indices=np.arange(6), p={"x": 1, "y": 2})
    assert k != cache_key("g", model="abc", indices=a, p={"x": 1, "y": 2})
    assert k != cache_key("f", model="abd", indices=a, p={"x": 1, "y": 2})


def test_memoize_returns_the_stored_value_and_survives_a_new_instance(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"a": torch.arange(6.0).reshape(2, 3), "b": np.array([7], dtype=np.int64)}

    v1 = DiskCache(tmp_path).memoize("f", {"k": 1}, compute)
    v2 = DiskCache(tmp_path).memoize("f", {"k": 1}, compute)  # a "restart": a new cache object
    assert len(calls) == 1
    assert np.array_equal(v2["a"], np.arange(6.0).reshape(2, 3)) and v2["b"].tolist() == [7]
    assert v1.keys() == v2.keys()
    assert not list(tmp_path.rglob("*.tmp-*"))


def test_corrupt_entry_is_dropped_and_recomputed(tmp_path):
    c = DiskCache(tmp_path)
    c.memoize("f", {}, lambda: {"a": np.ones(3)})
    path = c.path(cache_key("f"))
    path.write_bytes(path.read_bytes()[:20])
    with pytest.warns(CacheWarning, match="corrupt"):
        v = c.memoize("f", {}, lambda: {"a": np.full(3, 2.0)})
    assert v["a"].tolist() == [2.0, 2.0, 2.0]
    assert c.get(cache_key("f"))["a"].tolist() == [2.0, 2.0, 2.0]


def test_least_recently_used_entries_are_evicted(tmp_path):
    c = DiskCache(tmp_path, max_bytes=3 * 8200)
    for i in range(3):
        c.put(f"{i:064x}", {"a": np.zeros(1000)})
        os.utime(c.path(f"{i:064x}"), (1000 + i, 1000 + i))
    assert c.get(f"{0:064x}") is not None  # reading entry 0 makes entry 1 the oldest
    c.put(f"{3:064x}", {"a": np.zeros(1000)})
    assert c.get(f"{1:064x}") is None
    assert all(c.get(f"{i:064x}") is not None for i in (0, 2, 3))


def test_unwritable_cache_still_computes_with_a_warning(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    c = DiskCache(blocker / "cache")  # no folder can be made under a file, even as root
    with pytest.warns(CacheWarning, match="not writable"):
        v = c.memoize("f", {}, lambda: {"a": np.ones(2)})
    assert v["a"].tolist() == [1.0, 1.0]


def test_full_disk_still_computes_with_a_warning(tmp_path, monkeypatch):
    import errno

    import explorer.cache as cache_mod

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache_mod, "atomic_write_bytes", full)
    with pytest.warns(CacheWarning, match="No space left"):
        v = DiskCache(tmp_path).memoize("f", {}, lambda: {"a": np.zeros(2)})
    assert v["a"].tolist() == [0.0, 0.0] and not list(tmp_path.rglob("*"))


def test_activations_match_a_manual_forward():
    model, _ = load_checkpoint(ZOO_DIR / "digits-mlp_clf-s0.json")
    x = load_split("digits", "test").x[:50]
    acts = extract_activations(model, x, batch_size=16, include_input=True)
    assert list(acts) == ["input", "body.relu1", "body.relu2", "body.relu3", "head"]
    h = torch.relu(model.body.fc1(model.norm(x).flatten(1)))
    assert torch.allclose(acts["body.relu1"], h, atol=1e-6)
    assert torch.allclose(acts["head"], model(x), atol=1e-6)
    assert acts["input"].shape == (50, 1, 8, 8)  # every layer keeps its own shape


def test_relative_model_activations_ignore_the_anchor_pass():
    model, _ = load_checkpoint(ZOO_DIR / "digits-rel_ae-l16-s0.json")
    x = load_split("digits", "test").x[:300]  # as many samples as anchors: the ambiguous case
    acts = extract_activations(model, x, batch_size=300)
    assert torch.allclose(acts["encoder.latent"], model.encode(x), atol=1e-6)
    assert torch.allclose(acts["rel"], model.embed(x), atol=1e-6)
    assert acts["rel"].shape == (300, 300)


def test_probe_activations_are_cached_by_content(tmp_path):
    model, ck = load_checkpoint(ZOO_DIR / "digits-mlp_ae-l2-s0.json")
    probe = load_probe("digits", 100)
    cache = DiskCache(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = probe_activations(model, ck, probe, cache)
    assert len(list(tmp_path.rglob("*.safetensors"))) == 1
    second = probe_activations(model, ck, probe, cache)
    assert list(first) == list(second) == ["input", "encoder.relu1", "encoder.relu2", "encoder.latent", "decoder.relu1", "decoder.relu2"]
    assert all(np.array_equal(first[k], second[k]) for k in first)
    assert second["encoder.latent"].shape == (100, 2)


def test_the_memory_layer_keeps_to_its_byte_budget(monkeypatch, cache_dir):
    import numpy as np

    from explorer.ui import cached

    cached._MEMORY.clear()
    monkeypatch.setenv("EXPLORER_MEMORY_MB", "1")  # 1 MiB: room for two 400 kB entries, not three
    for i in range(3):
        cached.memo("budget-test", {"i": i}, lambda i=i: {"a": np.full(100_000, i, dtype=np.float32)})
    kept = [k for k in cached._MEMORY if k in cached._MEMORY_SIZES]
    assert len(cached._MEMORY) == 2 and len(kept) == 2  # the oldest went out of memory
    # and comes back from the disk cache, equal
    again = cached.memo("budget-test", {"i": 0}, lambda: (_ for _ in ()).throw(AssertionError("recomputed")))
    assert float(again["a"][0]) == 0.0


def test_a_stored_frame_is_decoded_once_and_handed_out_as_a_copy(monkeypatch):
    import pandas as pd

    from explorer.cache import arrays_to_frame, frame_to_arrays

    stored = frame_to_arrays(pd.DataFrame({"layer": ["a", "b"], "id": [3.25, 7.5]}))
    calls = []
    real = pd.read_json
    monkeypatch.setattr(pd, "read_json", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = arrays_to_frame(stored)
    first.loc[0, "id"] = -1.0  # a page changing its frame does not change the stored one
    second = arrays_to_frame(stored)
    assert len(calls) == 1
    assert second["id"].tolist() == [3.25, 7.5] and second["layer"].tolist() == ["a", "b"]
    # the same bytes in another array (read from disk again) are decoded again, not mistaken for the first
    arrays_to_frame({"__frame__": stored["__frame__"].copy()})
    assert len(calls) == 2

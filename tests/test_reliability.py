"""Reliability sweep: bad files, bad values, concurrent sessions, killed processes, unusable cache folders.
Each case gives a clear message, keeps the app usable and loses nothing."""

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

from explorer.cache import DiskCache, cache_key
from explorer.checkpoint import list_checkpoints, save_checkpoint
from explorer.models import build_model
from tests.conftest import ROOT, open_page

_page = open_page


def _copy_zoo_model(src_name, dst_dir, new_name):
    dst_dir.mkdir(parents=True, exist_ok=True)
    meta = json.loads((ROOT / "assets/zoo" / f"{src_name}.json").read_text())
    meta["name"] = new_name
    (dst_dir / f"{new_name}.safetensors").write_bytes((ROOT / "assets/zoo" / f"{src_name}.safetensors").read_bytes())
    (dst_dir / f"{new_name}.json").write_text(json.dumps(meta))
    return dst_dir / f"{new_name}.json", meta


def test_truncated_weights_picked_in_a_page_give_a_message(models_dir):
    sidecar, _ = _copy_zoo_model("digits-mlp_ae-l16-s1", models_dir, "digits-truncated")
    w = sidecar.with_suffix(".safetensors")
    w.write_bytes(w.read_bytes()[:1000])
    at = _page("app_pages/latent_spaces.py", model_a="digits-truncated")
    assert not at.exception
    assert any("digits-truncated.safetensors" in e.value and "do not match the sidecar" in e.value for e in at.error)
    at2 = _page("app_pages/latent_spaces.py")  # the rest of the app is unaffected
    assert not at2.exception and not at2.error


def test_a_sidecar_claiming_another_architecture_gives_a_message(models_dir):
    sidecar, meta = _copy_zoo_model("digits-mlp_ae-l16-s1", models_dir, "digits-liar")
    meta.update(arch="cnn_clf", hparams={"channels": [32, 64], "fc": 128})
    sidecar.write_text(json.dumps(meta))
    at = _page("app_pages/layer_geometry.py", model_a="digits-liar")
    assert not at.exception
    assert any("do not fit the sidecar's architecture 'cnn_clf'" in e.value for e in at.error)


def _save_constant_layer_model(models_dir):
    """A digits MLP whose relu2 gives every sample the same output, saved as digits-constant."""
    torch.manual_seed(0)
    model = build_model("mlp_clf", (1, 8, 8), 10, {"hidden": [32, 32]})
    with torch.no_grad():
        model.body.fc2.weight.zero_()
        model.body.fc2.bias.fill_(0.5)
    save_checkpoint(model, models_dir, "digits-constant", {"dataset": "digits", "seed": 0, "metrics": {}})
    return model


def test_a_layer_of_duplicate_points_is_reported_and_the_other_layers_still_shown(models_dir):
    _save_constant_layer_model(models_dir)
    at = _page("app_pages/layer_geometry.py", model_a="digits-constant", g_compare="0")
    assert not at.exception
    # the decimation plot defaults to the bottleneck, which is that constant layer: it says why
    assert [e.value for e in at.error] == ["Decimation failed: the data needs at least 3 distinct points (got 300 rows)"]
    assert any("body.relu2" in w.value and "at least 3 distinct points" in w.value for w in at.warning)
    ids = at.dataframe[0].value.set_index("layer")["id"]
    assert ids["input"] > 2 and ids["body.relu1"] > 2  # the healthy layers are still measured


def test_unusable_cache_folder_means_uncached_with_a_warning(models_dir, tmp_path, monkeypatch):
    import streamlit as st

    from explorer.ui import cached

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(blocker / "cache"))
    st.cache_data.clear()
    st.cache_resource.clear()
    cached._MEMORY.clear()
    at = _page("app_pages/latent_spaces.py")
    assert not at.exception and not at.error
    assert any("not writable" in t.value for t in at.toast)
    assert any("jaccard" in d.value.columns for d in at.dataframe)


def _session_worker(args):
    root, worker = args
    cache = DiskCache(root)
    seen = []
    for i in range(30):
        shared = cache.memoize("shared", {"i": i % 5}, lambda i=i: {"v": np.full(20000, i % 5, dtype=np.float32)})
        own = cache.memoize("own", {"w": worker, "i": i}, lambda i=i: {"v": np.full(20000, worker * 100 + i, dtype=np.float32)})
        seen.append(bool(np.all(shared["v"] == i % 5)) and bool(np.all(own["v"] == worker * 100 + i)))
    return all(seen)


def test_two_sessions_computing_at_once_share_the_cache_without_corruption(tmp_path):
    with ProcessPoolExecutor(2) as ex:
        assert all(ex.map(_session_worker, [(str(tmp_path), 1), (str(tmp_path), 2)]))
    cache = DiskCache(tmp_path)
    files = list(tmp_path.rglob("*.safetensors"))
    assert len(files) == 5 + 60 and not list(tmp_path.rglob("*.tmp"))
    for i in range(5):
        assert np.all(cache.get(cache_key("shared", i=i))["v"] == i)


WRITER = """
import sys, numpy as np
sys.path.insert(0, {root!r})
from explorer.cache import DiskCache
c = DiskCache({cache!r})
print("ready", flush=True)
i = 0
while True:
    c.put(f"{{i:064x}}", {{"v": np.full(8_000_000, i, dtype=np.float32)}})
    i += 1
"""


def test_a_cache_writer_killed_mid_write_leaves_no_partial_entry(tmp_path):
    cache_dir = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-c", WRITER.format(root=str(ROOT), cache=str(cache_dir))], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"ready"
    time.sleep(1.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    entries = list(cache_dir.rglob("*.safetensors"))
    assert entries
    cache = DiskCache(cache_dir)
    for p in entries:  # every visible entry is complete
        v = cache.get(p.stem)["v"]
        assert v.shape == (8_000_000,) and np.all(v == v[0])
    for t in cache_dir.rglob("*.tmp-*"):  # what the killed writer left: invisible, and removed once stale
        os.utime(t, (time.time() - 7200,) * 2)
    DiskCache(cache_dir)
    assert not list(cache_dir.rglob("*.tmp-*"))


def test_a_training_killed_midway_leaves_no_partial_checkpoint(tmp_path):
    out = tmp_path / "zoo"
    proc = subprocess.Popen([sys.executable, "-m", "explorer", "train", "--dataset", "digits", "--arch", "mlp_clf",
                             "--epochs", "500", "--out", str(out)], cwd=ROOT, stderr=subprocess.PIPE)
    time.sleep(8)
    assert proc.poll() is None  # still training
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    found, problems = list_checkpoints(out)
    assert found == [] and problems == []
    assert not out.exists() or not [p for p in out.iterdir() if not p.name.startswith(".")]


def test_a_weights_file_without_sidecar_is_never_deleted(models_dir):
    """A user's own .safetensors in the models folder, of any age, survives `list`, Home and a restart."""
    models_dir.mkdir(parents=True)
    mine = models_dir / "my-resnet.safetensors"
    mine.write_bytes(b"not ours")
    hidden = models_dir / ".notes.tmp"  # a user's file that looks temporary, but not like our temporary names
    hidden.write_text("keep me")
    old = time.time() - 30 * 24 * 3600
    for p in (mine, hidden):
        os.utime(p, (old, old))
    found, problems = list_checkpoints(models_dir)
    assert found == [] and "weights without a sidecar" in problems[0][1] and "Your network" in problems[0][1]
    at = _page(None)  # Home lists the zoo and the user's folder
    assert not at.exception
    assert any("my-resnet.safetensors" in w.value and "without a sidecar" in w.value for w in at.warning)
    out = subprocess.run([sys.executable, "-m", "explorer", "list", str(models_dir)], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and "my-resnet.safetensors" in out.stderr
    assert mine.read_bytes() == b"not ours" and hidden.read_text() == "keep me"


def test_an_interrupted_save_leaves_only_temporary_names_which_are_cleaned_once_stale(tmp_path, monkeypatch):
    import explorer.io as io_mod

    model = build_model("mlp_ae", (1, 8, 8), 10, {"latent": 2})
    real = io_mod.os.replace
    calls = []

    def dies_after_weights(src, dst):  # killed between the two renames
        calls.append(dst)
        if str(dst).endswith(".json"):
            raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(io_mod.os, "replace", dies_after_weights)
    try:
        save_checkpoint(model, tmp_path, "digits-x", {"dataset": "digits", "seed": 0})
    except KeyboardInterrupt:
        pass
    monkeypatch.setattr(io_mod.os, "replace", real)
    assert [p.name for p in calls] == ["digits-x.safetensors", "digits-x.json"]  # weights first, sidecar last
    assert not list(tmp_path.glob("*.tmp-*"))  # the failed save removed its temporary sidecar
    # a save killed mid-write (not even renamed) leaves a temporary name, removed once stale
    stale = tmp_path / "digits-y.safetensors.tmp-0123456789abcdef"
    stale.write_bytes(b"partial")
    os.utime(stale, (time.time() - 7200,) * 2)
    list_checkpoints(tmp_path)
    assert not stale.exists()
    assert (tmp_path / "digits-x.safetensors").exists()  # complete weights without a sidecar are kept


def test_similarity_page_leaves_undefined_layers_blank_with_the_reason(models_dir):
    model = _save_constant_layer_model(models_dir)
    with torch.no_grad():
        model.body.fc1.weight[0, 0] = float("nan")  # NaN from relu1 on
    save_checkpoint(model, models_dir, "digits-nan", {"dataset": "digits", "seed": 0, "metrics": {}})
    from explorer.similarity import MEASURES

    for name, reason in (("digits-constant", "constant over the samples"), ("digits-nan", "NaN")):
        for measure in MEASURES:
            at = _page("app_pages/similarity.py", model_a=name, model_b="digits-mlp_clf-s0", s_measure=measure)
            assert not at.exception and not at.error, (name, measure)
            assert any(reason in w.value for w in at.warning), (name, measure)
            assert "csv_similarity_heatmap" in {b.key for b in at.get("download_button")}  # the defined pairs are drawn

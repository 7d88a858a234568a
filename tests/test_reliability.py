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
import pytest
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
    assert found == [] and "weights without a sidecar" in problems[0][1] and "write the JSON sidecar" in problems[0][1]
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
    with torch.no_grad():  # finite weights whose products overflow: inf in relu1, NaN from there on
        model.body.fc1.weight.fill_(3e38)
    save_checkpoint(model, models_dir, "digits-nan", {"dataset": "digits", "seed": 0, "metrics": {}})
    from explorer.similarity import MEASURES

    uncentred = ("procrustes_godfrey", "relu_procrustes")  # Godfrey et al. do not centre: a constant layer has a value
    for name, reason in (("digits-constant", "constant over the samples"), ("digits-nan", "NaN")):
        for measure in MEASURES:
            at = _page("app_pages/similarity.py", model_a=name, model_b="digits-mlp_clf-s0", s_measure=measure)
            assert not at.exception and not at.error, (name, measure)
            if name == "digits-constant" and measure in uncentred:
                assert not at.warning, (name, measure)
            else:
                assert any(reason in w.value for w in at.warning), (name, measure)
            assert "csv_similarity_heatmap" in {b.key for b in at.get("download_button")}  # the defined pairs are drawn


# ---------------------------------------------------------------- one broken checkpoint of each kind, on every page

PAGES = ["app_pages/home.py", "app_pages/latent_spaces.py", "app_pages/layer_geometry.py", "app_pages/stitching.py",
         "app_pages/interpolation.py", "app_pages/similarity.py"]


def _broken_models(models_dir):
    """digits-truncated (cut weights), digits-liar (a sidecar claiming another architecture), digits-zero
    (a zero-width latent), digits-nanw (NaN weights): each usable as far as its sidecar goes."""
    sidecar, _ = _copy_zoo_model("digits-mlp_clf-s1", models_dir, "digits-truncated")
    w = sidecar.with_suffix(".safetensors")
    w.write_bytes(w.read_bytes()[:1000])
    sidecar, meta = _copy_zoo_model("digits-mlp_clf-s1", models_dir, "digits-liar")
    meta.update(arch="cnn_clf", hparams={"channels": [32, 64], "fc": 128})
    sidecar.write_text(json.dumps(meta))
    sidecar, meta = _copy_zoo_model("digits-mlp_ae-l16-s1", models_dir, "digits-zero")
    meta["hparams"]["latent"] = 0
    sidecar.write_text(json.dumps(meta))
    model = build_model("mlp_clf", (1, 8, 8), 10, {"hidden": [32, 32]})
    with torch.no_grad():
        model.body.fc1.weight[0, 0] = float("nan")
    save_checkpoint(model, models_dir, "digits-nanw", {"dataset": "digits", "seed": 0, "metrics": {}})
    return {"digits-truncated": "digits-truncated.safetensors", "digits-liar": "digits-liar.safetensors",
            "digits-zero": "digits-zero.json", "digits-nanw": "digits-nanw.safetensors"}


def test_every_page_survives_each_kind_of_broken_checkpoint_as_a_or_b(models_dir):
    broken = _broken_models(models_dir)
    for name, file in broken.items():
        for role, other in (("model_a", "model_b"), ("model_b", "model_a")):
            for page in PAGES:
                at = _page(page, **{role: name, other: "digits-mlp_clf-s0"})
                assert not at.exception, (name, role, page, at.exception)
                messages = [e.value for e in at.error] + [w.value for w in at.warning]
                assert any(file in m for m in messages), (name, role, page, messages)


def test_a_broken_model_in_the_folder_leaves_the_stitching_grids_working(models_dir):
    sidecar, _ = _copy_zoo_model("digits-rel_clf-s2", models_dir, "digits-rel_clf-s9")
    w = sidecar.with_suffix(".safetensors")
    w.write_bytes(w.read_bytes()[:1000])
    at = _page("app_pages/stitching.py", st_group="rel_clf (latent 64) vs mlp_clf")
    assert not at.exception and not at.error
    assert any("Left out of the grids" in m.value and "digits-rel_clf-s9.safetensors" in m.value for m in at.warning)
    assert {"csv_zero_shot_relative", "csv_zero_shot_absolute"} <= {b.key for b in at.get("download_button")}
    assert not [p for p in at.get("progress")]  # no progress bar left behind


def test_the_library_and_the_cli_refuse_a_zero_width_layer(tmp_path, capsys):
    from explorer.cli import main

    with pytest.raises(ValueError, match="zero width"):
        build_model("mlp_ae", (1, 8, 8), 10, {"latent": 0})
    assert main(["train", "--latent", "0", "--out", str(tmp_path)]) == 2
    assert "latent must be between 2 and 512, got 0" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_a_failed_training_leaves_no_progress_bar(models_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(tmp_path / "empty"))
    at = _page(None, dataset="mnist")
    at.button(key="FormSubmitter:train-Train").click().run()
    assert not at.exception
    assert not at.get("progress") and not [b for b in at.button if b.label == "Cancel"]


def test_url_values_out_of_range_are_clamped_and_said_in_one_toast(models_dir):
    at = _page(None, probe="-5", ls_anchors="0", h_epochs="100000")  # AppTest: one run on Home
    assert not at.exception and not at.error
    assert at.sidebar.number_input[0].value == 10 and at.number_input(key="h_epochs").value == 500
    toasts = [t.value for t in at.toast]
    assert len(toasts) == 1 and "probe=-5 is outside 10..359: using 10" in toasts[0] and "h_epochs=100000 is outside 1..500" in toasts[0]
    at = _page("app_pages/layer_geometry.py", g_k="0", model_a="digits-mlp_clf-s0", model_b="digits-mlp_clf-s1")
    assert not at.exception and not at.error
    assert at.number_input(key="g_k").value == 1 and any("g_k=0 is outside 1..299: using 1" in t.value for t in at.toast)
    at = _page("app_pages/interpolation.py", model_a="digits-mlp_clf-s0", model_b="digits-mlp_clf-s1", wi_points="0")
    assert at.slider(key="wi_points").value == 3 and any("wi_points=0" in t.value for t in at.toast)


def test_multiselect_values_come_back_from_a_url(models_dir):
    at = _page(None, h_seeds="3", h_arch="cnn_clf", h_epochs="2")
    assert not at.exception and not at.toast
    assert at.multiselect(key="h_seeds").value == [3] and at.selectbox(key="h_arch").value == "cnn_clf"
    at = _page("app_pages/stitching.py", model_a="digits-mlp_clf-s0", model_b="digits-mlp_clf-s1", st_families="identity,affine")
    assert at.multiselect(key="st_families").value == ["identity", "affine"]  # the comma form of earlier links
    at = _page("app_pages/stitching.py", model_a="digits-mlp_clf-s0", model_b="digits-mlp_clf-s1",
               st_families=["identity", "orthogonal", "nonsense"])
    assert at.multiselect(key="st_families").value == ["identity", "orthogonal"]
    assert any("ignored nonsense" in t.value for t in at.toast)


def test_the_cli_defaults_work_on_the_default_dataset_and_bad_folders_are_named(models_dir, cache_dir, capsys):
    from explorer.cli import main

    assert main(["similarity", "digits-mlp_clf-s0"]) == 0  # --probe 1000 > the 359 test samples of digits
    captured = capsys.readouterr()
    assert "using all 359 samples" in captured.err and "359 test samples" in captured.out
    assert main(["list", "/nonexistent"]) == 2
    assert "no such folder: /nonexistent" in capsys.readouterr().err


def test_a_training_far_worse_than_the_zoo_is_flagged(tmp_path, capsys):
    from explorer.cli import main

    assert main(["train", "--arch", "mlp_ae", "--latent", "16", "--lr", "1.0", "--epochs", "3", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "warning: digits-mlp_ae-l16-s0: test MSE" in err and "learning rate (1) may be too high" in err


def test_a_training_waits_while_another_session_holds_the_server(models_dir):
    """Another session's training holds the server's one slot: Train waits (saying so) and starts
    only when the slot is free. The other session is this test holding the slot, because two
    AppTests cannot run at once in one process (each run swaps streamlit's global Runtime and
    config.get_option, and the first to finish undoes the other's: what a CI run met)."""
    import threading
    import time

    from explorer.ui import widgets

    at = _page(None, h_arch="mlp_clf", h_epochs="3", h_seeds="5")
    errors = []

    def press():
        try:
            at.button(key="FormSubmitter:train-Train").click().run()
        except Exception as e:  # a thread's exception is otherwise only a warning
            errors.append(e)

    assert widgets._EXCLUSIVE.acquire(timeout=5)
    try:
        t = threading.Thread(target=press)
        t.start()
        time.sleep(3)
        assert t.is_alive()  # still waiting for the slot
        assert not list(models_dir.glob("digits-mlp_clf-s5*"))
    finally:
        freed = time.time()
        widgets._EXCLUSIVE.release()
    t.join(timeout=170)
    assert not t.is_alive() and not errors, errors
    assert not at.exception
    meta = json.loads((models_dir / "digits-mlp_clf-s5.json").read_text())
    assert meta["train"]["started"] >= freed - 0.01, (meta["train"], freed)


def test_one_at_a_time_lets_one_thread_in_at_a_time():
    import threading
    import time

    from explorer.ui.widgets import one_at_a_time

    spans = []

    def work():
        with one_at_a_time("training"):
            t0 = time.perf_counter()
            time.sleep(0.4)
            spans.append((t0, time.perf_counter()))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spans.sort()
    assert len(spans) == 2 and spans[0][1] <= spans[1][0], spans


def test_the_models_folder_is_capped(models_dir, monkeypatch, capsys):
    from explorer.cli import main
    from explorer.zoo import check_models_room

    models_dir.mkdir(parents=True)
    (models_dir / "big.bin").write_bytes(b"x" * 5000)
    monkeypatch.setenv("EXPLORER_MODELS_MAX_BYTES", "4000")
    with pytest.raises(ValueError, match="at its cap"):
        check_models_room(models_dir)
    assert main(["train", "--epochs", "1"]) == 2  # into the user's folder: refused before training
    assert "at its cap" in capsys.readouterr().err
    assert sorted(p.name for p in models_dir.iterdir()) == ["big.bin"]


def _stopping_page():
    import streamlit as st

    from explorer.ui.state import bound, remember_url, stop_page

    remember_url()
    bound(st.number_input, "n", "n", 5, min_value=1, max_value=9)
    stop_page()
    st.write("never drawn")


def test_link_notes_survive_a_page_that_stops_early():
    """A page that stops (no usable model, a missing dataset, an error) still says which link
    parameters it changed: stop_page shows the toast before st.stop()."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_stopping_page)
    at.query_params["n"] = "99"
    at.run()
    assert not at.exception and at.number_input(key="n").value == 9
    assert [t.value for t in at.toast] == ["Link parameters not used as given: n=99 is outside 1..9: using 9"]
    assert not at.markdown


class _StandInPage:
    """What ``assert_clean`` reads of a Playwright page: no exception box, the pictures shown, the errors seen."""

    def __init__(self, shown, console_errors, bad_responses, pictures=None):
        self.shown, self.console_errors, self.bad_responses = shown, console_errors, bad_responses
        self.pictures = pictures or [[src, True, True] for src in shown]  # (src, loaded, complete) per <img>

    def locator(self, _selector):
        return type("NoMatch", (), {"count": lambda self: 0})()

    def wait_for_function(self, _script, timeout):
        if not all(done for *_, done in self.pictures):
            raise TimeoutError(f"still loading after {timeout} ms")

    def eval_on_selector_all(self, _selector, _script):
        return self.pictures


def test_a_clean_page_excuses_only_pictures_of_an_earlier_run():
    from tests.browser import assert_clean

    old, new = "http://h:1/media/" + "a" * 32 + ".jpg", "http://h:1/media/" + "b" * 32 + ".jpg"
    gone = [f"Client Error: Image source error - {old}", "Failed to load resource: 404"]
    assert_clean(_StandInPage([new], gone, [old]))  # an earlier run's picture, no longer shown: a 404 nobody sees
    with pytest.raises(AssertionError, match="Image source error"):  # a picture on show that failed once
        assert_clean(_StandInPage([old], gone[:1], []))
    with pytest.raises(AssertionError, match="TypeError"):  # any other error still fails
        assert_clean(_StandInPage([new], [*gone, "TypeError: x is undefined"], [old]))
    with pytest.raises(AssertionError, match=r"\('http://h:1/media/a+\.jpg', 'failed \(HTTP error\)'\)"):  # a shown picture's 404
        assert_clean(_StandInPage([old], [], [old], pictures=[[old, False, True]]))
    with pytest.raises(AssertionError, match=r"\('http://h:1/media/b+\.jpg', 'still loading'\)"):  # not loaded in 10 s
        assert_clean(_StandInPage([new], [], [], pictures=[[new, False, False]]))

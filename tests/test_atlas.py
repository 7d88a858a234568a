"""Zoo atlas: MDS and clustering with known answers, pairs cached one by one, the sweep CLI, and a sweep on a
local Ray equal to the bit to the one in this process (a worker killed mid-sweep included)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from explorer import atlas
from explorer.analyses import tensor
from explorer.cache import DiskCache, recording
from explorer.similarity import cka
from explorer.sources import activations, list_sources, load_any_probe

CLASSIFIERS = ["digits-mlp_clf-*", "digits-cnn_clf-*", "digits-rel_clf-*"]  # 8 networks of the shipped zoo


def _nets(patterns=CLASSIFIERS):
    return atlas.select(list_sources("digits"), patterns)


def test_classical_mds_recovers_planar_distances_and_says_when_it_cannot():
    rng = np.random.default_rng(0)
    P = rng.normal(size=(9, 2))
    D = np.sqrt(((P[:, None] - P[None]) ** 2).sum(-1))
    Y, stress = atlas.classical_mds(D)
    E = np.sqrt(((Y[:, None] - Y[None]) ** 2).sum(-1))
    assert stress < 1e-6 and np.allclose(E, D, atol=1e-6)
    cube = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=float)  # 3-D: 2-D loses some
    D3 = np.sqrt(((cube[:, None] - cube[None]) ** 2).sum(-1))
    assert 0.1 < atlas.classical_mds(D3)[1] < 0.5


def test_order_puts_clusters_side_by_side_and_silhouette_scores_them():
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    labels = [0, 1, 2, 0, 1, 2, 0, 1, 2]
    P = centres[labels] + rng.normal(scale=0.1, size=(9, 2))
    D = np.sqrt(((P[:, None] - P[None]) ** 2).sum(-1))
    fake = atlas.Atlas([None] * 9, atlas.Settings(), np.cos(D / D.max()))  # similarity whose arccos is D / max
    order = fake.order()
    runs = [labels[i] for i in order]
    assert sum(a != b for a, b in zip(runs, runs[1:])) == 2  # three contiguous groups
    assert atlas.separation(fake.distance, labels) > 0.9
    assert atlas.separation(fake.distance, [0, 0, 0, 1, 1, 1, 2, 2, 2]) < 0  # a grouping across the clusters


def test_each_pair_equals_linear_cka_of_the_two_layers_and_is_cached_alone(cache_dir):
    nets = _nets()
    probe = load_any_probe("digits", 200)
    store = DiskCache(cache_dir)
    first = atlas.atlas(nets[:-1], probe, atlas.Settings(), store=store)
    m = len(nets) - 1
    assert first.computed == m * (m - 1) // 2
    S = first.similarity
    assert np.array_equal(S, S.T) and np.all(np.diag(S) == 1.0)
    # one pair against the measure itself, on the same layers
    a, b = first.members[0], first.members[3]
    X = tensor(activations(a.source, probe, "cpu", store)[a.layer], "cpu")
    Y = tensor(activations(b.source, probe, "cpu", store)[b.layer], "cpu")
    assert S[0, 3] == pytest.approx(cka(X, Y), abs=1e-12)
    # penultimate: an MLP's last hidden layer, a CNN's fully connected one, the relative classifier's head layer
    layers = {m.source.checkpoint.arch: m.layer for m in first.members}
    assert layers == {"mlp_clf": "body.relu3", "cnn_clf": "body.relu1", "rel_clf": "head.head_relu1"}
    # one network more: only its m new pairs are computed
    with recording() as rec:
        second = atlas.atlas(nets, probe, atlas.Settings(), store=store)
    assert second.computed == m
    assert np.array_equal(second.similarity[:m, :m], S)
    assert len(rec.puts) == m + 1 + 1  # m pairs, the new network's activations, the whole matrix
    # the same atlas again: one entry read, nothing computed
    with recording() as rec:
        third = atlas.atlas(nets, probe, atlas.Settings(), store=store)
    assert third.computed == 0 and not rec.puts and np.array_equal(third.similarity, second.similarity)


def test_bad_sets_of_networks_are_named():
    nets = _nets()
    with pytest.raises(atlas.AtlasError, match="at least 3 networks; 2 were given"):
        atlas.members(nets[:2], "penultimate")
    mnist = [s for s in list_sources("mnist") if s.name.startswith("mnist-mlp_clf")]
    with pytest.raises(atlas.AtlasError, match="different datasets"):
        atlas.members(nets[:2] + mnist[:1], "penultimate")
    with pytest.raises(atlas.AtlasError, match="no network matches nothing-*"):
        atlas.select(nets, ["nothing-*"])
    with pytest.raises(atlas.AtlasError, match="unknown depth"):
        atlas.members(nets, "deepest")


def test_sweep_cli_prints_the_matrix_and_refuses_bad_input(cache_dir, tmp_path, capsys):
    from explorer.cli import main

    assert main(["sweep", "--models", *CLASSIFIERS, "--probe", "150", "--cache", str(cache_dir)]) == 0
    out = capsys.readouterr()
    assert "28 pairs: 0 in the cache" in out.err and "Linear CKA at depth penultimate" in out.out
    assert "silhouette by architecture" in out.out and "Kruskal stress-1" in out.out
    rows = [line for line in out.out.splitlines() if "digits-" in line and "1.000" in line]
    assert len(rows) == 8
    assert main(["sweep", "--models", *CLASSIFIERS, "--probe", "150", "--cache", str(cache_dir)]) == 0
    assert "28 in the cache" in capsys.readouterr().err  # a second sweep computes nothing
    assert main(["sweep", "--models", "digits-cnn_clf-*", "--probe", "150"]) == 2
    assert "at least 3 networks; 2 were given" in capsys.readouterr().err
    assert main(["sweep", "--models", "*-mlp_clf-s0", "--probe", "150"]) == 2
    assert "different datasets" in capsys.readouterr().err
    kept = tmp_path / "mine.csv"
    kept.write_text("my notes\n")
    assert main(["sweep", "--models", *CLASSIFIERS, "--probe", "150", "--cache", str(cache_dir), "--csv", str(kept)]) == 2
    assert "exists" in capsys.readouterr().err and kept.read_text() == "my notes\n"


def test_a_ray_address_that_does_not_answer_is_refused_quickly(cache_dir, capsys):
    from explorer.cli import main
    from tests.browser import free_port

    t0 = time.perf_counter()
    code = main(["sweep", "--models", *CLASSIFIERS, "--probe", "100", "--cache", str(cache_dir), "--ray", f"127.0.0.1:{free_port()}"])
    assert code == 2 and time.perf_counter() - t0 < 10
    assert "no Ray cluster answers at 127.0.0.1:" in capsys.readouterr().err
    assert not list(cache_dir.rglob("*.*"))  # nothing computed or written: the members' layers need no weights


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    """A local Ray as the issue asks (2 CPUs, no dashboard); its workers kill themselves once (see below)."""
    import os

    import ray

    marker = tmp_path_factory.mktemp("ray") / "killed-once"
    os.environ["EXPLORER_TEST_KILL_ONCE"] = str(marker)  # read by the workers Ray starts (they inherit the environment)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield marker
    finally:
        ray.shutdown()
        os.environ.pop("EXPLORER_TEST_KILL_ONCE", None)


def test_a_sweep_on_local_ray_equals_the_in_process_one_exactly(local_ray, tmp_path):
    from explorer import ray_sweep

    nets = _nets()
    probe = load_any_probe("digits", 200)
    settings = atlas.Settings().checked()
    here = DiskCache(tmp_path / "here")
    expected = atlas.atlas(nets, probe, settings, store=here)
    there = DiskCache(tmp_path / "there")
    ms = atlas.members(nets, settings.depth, probe, "cpu", there)
    found, missing = atlas.look_up(ms, probe, settings, there)
    assert not found and len(missing) == 28
    tasks = ray_sweep.sweep("digits", [m.name for m in ms], {"n": 200, "split": "test"}, settings, missing,
                            str(there.root), per_task=3)
    assert tasks == 8 + 6  # one per network, one per block of 3 x 3 networks
    assert local_ray.exists()  # a worker was killed in its first pair task, and Ray ran that task again
    found, missing = atlas.look_up(ms, probe, settings, there)
    assert not missing
    result = atlas.assemble(ms, settings, found)
    assert np.array_equal(result.similarity, expected.similarity)  # to the bit
    for p in there.root.rglob("*"):  # no partial entry: every file is a whole entry
        assert p.is_dir() or p.suffix == ".safetensors"
    assert all(there.get(p.stem) is not None for p in there.root.rglob("*.safetensors"))


def test_atlas_page_shows_the_zoo_and_its_groups(cache_dir):
    from tests.conftest import open_page

    at = open_page("app_pages/atlas.py")
    assert not at.exception, at.exception
    assert len(at.get("vega_lite_chart")) == 2  # the map and the matrix
    metrics = {m.label: m.value for m in at.metric}
    assert set(metrics) == {f"Silhouette by {w}" for w in ("architecture", "shape", "seed", "representation")}
    assert float(metrics["Silhouette by architecture"]) > float(metrics["Silhouette by seed"])
    assert any("Kruskal stress-1" in c.value for c in at.caption)
    at.multiselect(key="at_arch").set_value(["mlp_clf"]).run()  # the three seeds of one architecture
    assert not at.exception and len(at.get("vega_lite_chart")) == 2
    assert metrics != {m.label: m.value for m in at.metric}
    at.multiselect(key="at_seed").set_value(["0"]).run()
    assert any("1 network(s) pass the filters" in i.value for i in at.info)


def test_sweep_cli_on_ray_fills_the_cache_the_in_process_sweep_then_reads(local_ray, tmp_path, capsys):
    from explorer.cli import main

    cache = tmp_path / "shared-cache"
    args = ["sweep", "--models", *CLASSIFIERS, "--probe", "120", "--cache", str(cache)]
    assert main([*args, "--ray", "local"]) == 0  # the Ray this process already runs
    out = capsys.readouterr()
    assert "28 to compute on Ray (local)" in out.err and "silhouette by architecture" in out.out
    assert main(args) == 0
    assert "28 in the cache" in capsys.readouterr().err


def test_zero_shot_stitching_score_is_the_stitching_grid_in_both_directions(cache_dir):
    from explorer.checkpoint import load_checkpoint
    from explorer.stitching import zero_shot_grid

    nets = _nets(["digits-rel_clf-*", "digits-mlp_clf-s0"])  # 3 relative classifiers and an absolute one
    probe = load_any_probe("digits", 200)
    result = atlas.atlas(nets, probe, atlas.Settings("zero_shot", "penultimate"), store=DiskCache(cache_dir))
    names = result.names
    rel = [i for i, n in enumerate(names) if "rel_clf" in n]
    models = [load_checkpoint(nets[i].checkpoint)[0] for i in rel]
    grid = zero_shot_grid(models, [names[i] for i in rel], probe.x, probe.y).set_index(["encoder", "decoder"])["accuracy"]
    a, b = names[rel[0]], names[rel[1]]
    expected = min((grid[(a, b)] + grid[(b, a)]) / (grid[(a, a)] + grid[(b, b)]), 1.0)
    assert result.similarity[rel[0], rel[1]] == pytest.approx(expected, abs=1e-12) and 0.9 < expected <= 1.0
    absolute = names.index("digits-mlp_clf-s0")
    assert np.isnan(result.similarity[absolute, rel[0]])
    assert "absolute" in result.notes[tuple(sorted((absolute, rel[0])))]
    assert result.distance[rel[0], rel[1]] == pytest.approx(1 - expected)  # 1 - score, not an angle


TINY_ATLAS = [(f"digits-atlas-tiny-s{s}", s) for s in range(3)]


@pytest.fixture
def tiny_atlas(monkeypatch):
    """The atlas zoo cut to three 1-epoch MLPs, so that training it takes a second."""
    from explorer import zoo
    from explorer.train import TrainConfig

    spec = [(name, TrainConfig("digits", "mlp_clf", s, 1, hparams={"hidden": [16]})) for name, s in TINY_ATLAS]
    monkeypatch.setattr(zoo, "ATLAS_SPEC", spec)
    return spec


def test_the_atlas_zoo_trains_what_is_missing_keeps_what_is_done_and_never_overwrites(tiny_atlas, tmp_path):
    from explorer.zoo import atlas_todo, train_atlas

    class Stop(Exception):
        pass

    def stop_in_the_second(i, n, name, p):
        assert n == 3 and 0 <= p.fraction <= 1
        if i == 1:
            raise Stop

    with pytest.raises(Stop):  # a Cancel: the first network is saved, nothing of the second
        train_atlas(tmp_path, "cpu", stop_in_the_second)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits-atlas-tiny-s0.json", "digits-atlas-tiny-s0.safetensors"]
    assert [name for name, _ in atlas_todo(tmp_path)] == ["digits-atlas-tiny-s1", "digits-atlas-tiny-s2"]
    first = (tmp_path / "digits-atlas-tiny-s0.safetensors").read_bytes()
    trained = train_atlas(tmp_path, "cpu")
    assert [ck.name for ck in trained] == ["digits-atlas-tiny-s1", "digits-atlas-tiny-s2"]
    assert (tmp_path / "digits-atlas-tiny-s0.safetensors").read_bytes() == first  # kept, not trained again
    assert atlas_todo(tmp_path) == [] and train_atlas(tmp_path, "cpu") == []
    # a file of an atlas name trained otherwise (another seed): an error naming it, and the file as it was
    other = tmp_path / "digits-atlas-tiny-s1.json"
    text = other.read_text().replace('"seed": 1', '"seed": 7')
    assert text != other.read_text()
    other.write_text(text)
    with pytest.raises(ValueError, match="digits-atlas-tiny-s1.json exists and was not trained as"):
        train_atlas(tmp_path, "cpu")
    assert other.read_text() == text
    assert '"train": {' in text
    other.write_text(text.replace('"train": {', '"train": null, "was": {', 1))  # a sidecar with no training record
    with pytest.raises(ValueError, match="digits-atlas-tiny-s1.json exists and was not trained as"):
        train_atlas(tmp_path, "cpu")
    for p in tmp_path.glob("digits-atlas-tiny-s[12].json"):
        p.unlink()  # (files this test wrote)
    orphan = tmp_path / "digits-atlas-tiny-s1.safetensors"  # weights of that name without a sidecar: not replaced
    before = orphan.read_bytes()
    with pytest.raises(ValueError, match="digits-atlas-tiny-s1.safetensors exists without its sidecar"):
        train_atlas(tmp_path, "cpu")
    assert orphan.read_bytes() == before and not (tmp_path / "digits-atlas-tiny-s1.json").exists()


def test_atlas_page_trains_the_missing_atlas_networks_on_request(tiny_atlas, models_dir, cache_dir):
    from tests.conftest import open_page

    at = open_page("app_pages/atlas.py")
    assert not at.exception, at.exception
    assert any("0 of them are there" in c.value for c in at.caption), ([c.value for c in at.caption], [e.value for e in at.error], [w.value for w in at.warning], [i.value for i in at.info])
    before = len(at.multiselect(key="at_arch").options)
    at.button(key="at_train_zoo").click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == [
        f"Trained 3 atlas networks into {models_dir} (test accuracy "
        f"{min(_accuracy(models_dir / f'{n}.json') for n, _ in TINY_ATLAS):.1%} or better); they are on the map below."]
    assert not [b for b in at.button if b.key == "at_train_zoo"]  # nothing left to train
    names = at.text_input(key="at_names").set_value("digits-atlas-*").run()
    assert not names.exception and len(names.get("vega_lite_chart")) == 2  # the map and the matrix of the 3
    assert len(at.multiselect(key="at_arch").options) == before  # MLP classifiers, an architecture already there


def test_atlas_page_says_why_it_cannot_train_the_atlas_zoo_and_leaves_the_file(tiny_atlas, models_dir, cache_dir):
    from tests.conftest import open_page

    models_dir.mkdir(parents=True)
    mine = models_dir / "digits-atlas-tiny-s1.json"
    mine.write_text("{ my notes, not a sidecar")
    at = open_page("app_pages/atlas.py")
    assert not at.exception, at.exception
    assert [w.value for w in at.warning if "atlas zoo" in w.value] == [
        f"The atlas zoo cannot be trained here: {mine.name}: sidecar is not valid JSON "
        "(Expecting property name enclosed in double quotes: line 1 column 3 (char 2))"]
    assert not [b for b in at.button if b.key == "at_train_zoo"] and len(at.get("vega_lite_chart")) == 2  # the rest works
    assert mine.read_text() == "{ my notes, not a sidecar" and sorted(p.name for p in models_dir.iterdir()) == [mine.name]


def _accuracy(sidecar) -> float:
    import json

    return json.loads(sidecar.read_text())["metrics"]["test"]["accuracy"]


def test_zoo_atlas_cli_trains_the_missing_networks_once(tiny_atlas, tmp_path, capsys):
    from explorer.cli import main

    assert main(["zoo", "--atlas", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "0 of 3 networks already in" in out and "trained 3 networks" in out
    assert all(f"{name}: test accuracy " in out for name, _ in TINY_ATLAS)
    assert main(["zoo", "--atlas", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "3 of 3 networks already in" in out and "training 0" in out and "trained 3" not in out

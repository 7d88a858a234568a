import json
import os
import time

import pytest
import torch

from explorer.checkpoint import CheckpointError, list_checkpoints, load_checkpoint, read_sidecar, save_checkpoint
from explorer.data import load_split
from explorer.models import ARCHS, build_model
from explorer.train import TrainConfig, anchor_indices_for, train


def _model(arch, seed=0):
    torch.manual_seed(seed)
    hp = {"n_anchors": 20} if ARCHS[arch].relative else {}
    m = build_model(arch, (1, 8, 8), 10, hp)
    if m.is_relative:
        m.set_anchors(load_split("digits", "train").x[:20])
    return m.eval()


@pytest.mark.parametrize("arch", list(ARCHS))
def test_every_arch_runs_and_names_its_layers(arch):
    m = _model(arch)
    x = load_split("digits", "test").x[:7]
    out = m(x)
    assert out.shape == ((7, 1, 8, 8) if m.kind == "ae" else (7, 10))
    assert torch.allclose(out, m.readout(m.embed(x)))
    modules = dict(m.named_modules())
    assert m.layer_names and all(n in modules for n in m.layer_names)
    assert m.bottleneck in m.layer_names


def test_relative_embedding_is_its_anchor_similarities():
    m = _model("rel_ae")
    x = load_split("digits", "test").x[:5]
    z, za = m.encode(x), m.encode(m.anchors)
    expected = torch.nn.functional.normalize(z, dim=1) @ torch.nn.functional.normalize(za, dim=1).T
    assert torch.allclose(m.embed(x), expected, atol=1e-6)
    assert m.embed(x).shape == (5, 20)


def _trained(tmp_path, arch="rel_clf", epochs=2):
    model, meta = train(TrainConfig("digits", arch, seed=1, epochs=epochs, hparams={"n_anchors": 30} if ARCHS[arch].relative else {}))
    return model, save_checkpoint(model, tmp_path, f"t-{arch}", meta)


def test_checkpoint_round_trip_is_bit_exact(tmp_path):
    model, ck = _trained(tmp_path)
    loaded, ck2 = load_checkpoint(ck.sidecar)
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    x = load_split("digits", "test").x
    assert torch.equal(model.eval()(x), loaded(x))
    meta = json.loads(ck.sidecar.read_text())
    assert meta["arch"] == "rel_clf" and meta["seed"] == 1 and meta["dataset"] == "digits"
    assert meta["anchor_indices"] == anchor_indices_for("digits", 30)
    assert 0.3 < meta["metrics"]["test"]["accuracy"] <= 1 and meta["train"]["time_s"] > 0
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))


def test_truncated_weights_are_refused(tmp_path):
    _, ck = _trained(tmp_path, "mlp_ae")
    blob = ck.weights.read_bytes()
    ck.weights.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError, match="do not match the sidecar"):
        load_checkpoint(ck.sidecar)


def test_sidecar_claiming_another_architecture_is_refused(tmp_path):
    _, ck = _trained(tmp_path, "mlp_ae")
    meta = json.loads(ck.sidecar.read_text())
    meta["arch"], meta["hparams"] = "mlp_clf", {"hidden": [512, 512, 512]}
    ck.sidecar.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="do not fit the sidecar's architecture 'mlp_clf'"):
        load_checkpoint(ck.sidecar)


def test_bad_sidecars_are_listed_as_problems_not_crashes(tmp_path):
    _, good = _trained(tmp_path, "mlp_ae")
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "alien.json").write_text(json.dumps({**good.meta, "arch": "transformer", "name": "alien"}))
    (tmp_path / "orphan.safetensors").write_bytes(b"x")
    os.utime(tmp_path / "orphan.safetensors", (time.time() - 120,) * 2)  # old, and maybe the user's own: kept
    found, problems = list_checkpoints(tmp_path)
    assert [c.name for c in found] == ["t-mlp_ae"]
    msgs = " | ".join(m for _, m in problems)
    assert "not valid JSON" in msgs and "unknown architecture 'transformer'" in msgs and "weights without a sidecar" in msgs
    assert (tmp_path / "orphan.safetensors").read_bytes() == b"x"
    with pytest.raises(CheckpointError, match="unknown architecture"):
        read_sidecar(tmp_path / "alien.json")


def test_shipped_zoo_is_complete_and_loads():
    from explorer.zoo import ZOO_DIR, ZOO_SPEC

    found, problems = list_checkpoints(ZOO_DIR)
    assert problems == []
    assert sorted(c.name for c in found) == sorted(c.run_name() for c in ZOO_SPEC)
    assert sum(p.stat().st_size for p in ZOO_DIR.iterdir()) < 40 * 1024 * 1024
    digits = [c for c in found if c.dataset == "digits"]
    assert len(digits) == 22
    rel = [c for c in found if c.relative and c.dataset == "digits"]
    assert len({tuple(c.anchor_indices) for c in rel}) == 1  # shared anchors: stitchable
    model, ck = load_checkpoint(next(c for c in digits if c.arch == "mlp_clf"))
    x, y = load_split("digits", "test").x, load_split("digits", "test").y
    acc = int((model(x).argmax(1) == y).sum()) / len(y)
    assert acc == pytest.approx(ck.meta["metrics"]["test"]["accuracy"], abs=1e-9) and acc > 0.95

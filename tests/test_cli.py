import json
import subprocess
import sys

from explorer.cli import main
from tests.conftest import ROOT


def test_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "explorer", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0
    for cmd in ("train", "zoo", "list", "datasets", "download", "precompute"):
        assert cmd in out.stdout


def test_train_writes_checkpoints_with_progress(tmp_path, capsys):
    rc = main(["train", "--dataset", "digits", "--arch", "mlp_ae", "--latent", "2", "--seeds", "0", "1", "--epochs", "2", "--out", str(tmp_path)])
    assert rc == 0
    err = capsys.readouterr().err
    assert "digits-mlp_ae-l2-s0" in err and "24/24" in err  # tqdm bar: 2 epochs x 12 steps
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["digits-mlp_ae-l2-s0.json", "digits-mlp_ae-l2-s0.safetensors", "digits-mlp_ae-l2-s1.json", "digits-mlp_ae-l2-s1.safetensors"]
    meta = json.loads((tmp_path / "digits-mlp_ae-l2-s1.json").read_text())
    assert meta["seed"] == 1 and meta["hparams"]["latent"] == 2 and meta["train"]["epochs"] == 2


def test_bad_input_gives_a_message_not_a_traceback(tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{")
    assert main(["list", str(tmp_path)]) == 0
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["train", "--epochs", "0", "--out", str(tmp_path)]) == 2
    assert "epochs must be at least 1" in capsys.readouterr().err


def test_missing_dataset_is_reported_by_the_cli(tmp_path):
    env = {"EXPLORER_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "explorer", "train", "--dataset", "fashion_mnist", "--out", str(tmp_path / "m")],
        cwd=ROOT, capture_output=True, text=True, env=env,
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "not on disk" in out.stderr and "t10k-labels-idx1-ubyte" in out.stderr
    assert not (tmp_path / "m").exists()

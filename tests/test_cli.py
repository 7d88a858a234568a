import json
import subprocess
import sys

from explorer.cli import main
from tests.conftest import ROOT


def test_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "explorer", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0
    for cmd in ("train", "zoo", "list", "datasets", "download", "precompute", "words", "similarity"):
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
    assert "epochs must be between 1 and 500, got 0" in capsys.readouterr().err


def test_missing_dataset_is_reported_by_the_cli(tmp_path):
    env = {"EXPLORER_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "explorer", "train", "--dataset", "fashion_mnist", "--out", str(tmp_path / "m")],
        cwd=ROOT, capture_output=True, text=True, env=env,
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "not on disk" in out.stderr and "t10k-labels-idx1-ubyte" in out.stderr
    assert not (tmp_path / "m").exists()


def test_similarity_prints_the_layer_pair_matrix(models_dir, cache_dir, capsys):
    assert main(["similarity", "digits-mlp_clf-s0", "digits-mlp_clf-s1", "--probe", "200"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("Linear CKA: rows = layers of digits-mlp_clf-s0, columns = layers of digits-mlp_clf-s1; 200")
    row = next(line for line in lines if line.startswith("input "))
    assert float(row.split()[1]) == 1.0  # the same samples in both models
    assert "corresponding-layer test:" in out
    assert main(["similarity", "digits-mlp_clf-s0", "--measure", "relu_procrustes", "--probe", "200"]) == 0
    out = capsys.readouterr().out
    values = [float(v) for line in out.splitlines()[3:] for v in line.split()[1:]]
    assert len(values) == 25 and max(values) == 1.0 and min(values) < 0.5  # A against itself


def test_similarity_bad_input_gives_a_message(models_dir, capsys):
    for argv, message in ((["similarity", "nope"], "no source named nope"),
                          (["similarity", "digits-mlp_clf-s0", "--measure", "procrustes", "--debiased"], "CKA measures"),
                          (["similarity", "digits-mlp_clf-s0", "--measure", "cka_rbf", "--fraction", "0"], "must be positive"),
                          (["similarity", "digits-mlp_clf-s0", "digits-mlp_clf-s1", "--probe", "0"], "probe")):
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err

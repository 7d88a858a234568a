import pickle
import struct

import numpy as np
import pytest
import torch

from explorer import data


def test_digits_split_is_fixed_and_stratified():
    tr, te = data.load_split("digits", "train"), data.load_split("digits", "test")
    assert (len(tr), len(te)) == (1438, 359)  # 20% of 1797, rounded
    assert tr.x.shape[1:] == (1, 8, 8) and tr.x.dtype == torch.float32
    assert float(tr.x.min()) == 0.0 and float(tr.x.max()) == 1.0
    # every class is in the test split in its overall proportion (within one sample)
    counts = np.bincount(te.y.numpy(), minlength=10)
    total = np.bincount(np.concatenate([tr.y.numpy(), te.y.numpy()]), minlength=10)
    assert np.all(np.abs(counts - total * len(te) / total.sum()) <= 1)
    assert torch.equal(te.y, data.load_split("digits", "test").y)  # the same split every time


def test_probe_is_stratified_seeded_and_checked():
    labels = np.repeat(np.arange(4), [10, 20, 30, 40])
    idx = data.probe_indices(labels, 50, seed=3)
    assert len(idx) == 50 and len(set(idx)) == 50 and np.all(np.diff(idx) > 0)
    assert np.bincount(labels[idx]).tolist() == [5, 10, 15, 20]
    assert np.array_equal(idx, data.probe_indices(labels, 50, seed=3))
    assert not np.array_equal(idx, data.probe_indices(labels, 50, seed=4))
    with pytest.raises(ValueError, match="larger than the split"):
        data.probe_indices(labels, 101)
    with pytest.raises(ValueError, match="positive"):
        data.probe_indices(labels, 0)


def test_real_mnist_from_shared(mnist_root):
    te = data.load_split("mnist", "test", mnist_root)
    tr = data.load_split("mnist", "train", mnist_root)
    assert te.x.shape == (10000, 1, 28, 28) and tr.x.shape == (60000, 1, 28, 28)
    assert np.bincount(te.y.numpy()).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert float(te.x.max()) == 1.0 and float(te.x.min()) == 0.0
    p = data.load_probe("mnist", 1000, root=mnist_root)
    assert len(p) == 1000 and np.bincount(p.y.numpy()).tolist()[1] == 114  # 1135/10000 of 1000, rounded


def test_missing_dataset_names_files_and_place(tmp_path):
    with pytest.raises(data.DatasetUnavailable) as e:
        data.load_split("fashion_mnist", "test", tmp_path)
    msg = str(e.value)
    assert str(tmp_path / "FashionMNIST") in msg and "t10k-images-idx3-ubyte" in msg and "EXPLORER_DATA_DIR" in msg
    assert data.missing_files("digits") == []


def _idx(path, arr):
    arr = np.asarray(arr, dtype=np.uint8)
    magic = 0x0800 | arr.ndim
    path.write_bytes(struct.pack(">I", magic) + b"".join(struct.pack(">I", s) for s in arr.shape) + arr.tobytes())


def test_fashion_mnist_tiny_files_in_torchvision_format(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 30), ("t10k", 20)):
        imgs = rng.integers(0, 256, (n, 28, 28))
        _idx(raw / f"{prefix}-images-idx3-ubyte", imgs)
        _idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    te = data.load_split("fashion_mnist", "test", tmp_path)
    assert te.x.shape == (20, 1, 28, 28) and te.y.tolist() == [i % 10 for i in range(20)]
    assert torch.allclose(te.x[0, 0] * 255, torch.from_numpy(imgs[0].astype(np.float32)))


def test_cifar10_tiny_files_in_torchvision_format(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    first = None
    for name, n in [(f"data_batch_{i}", 4) for i in range(1, 6)] + [("test_batch", 6)]:
        arr = rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8)
        first = arr if name == "test_batch" else first
        with open(folder / name, "wb") as f:  # the format torchvision reads (the test writes it)
            pickle.dump({"data": arr, "labels": list(range(n))}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": list(data.DATASETS["cifar10"].classes)}, f)
    tr, te = data.load_split("cifar10", "train", tmp_path), data.load_split("cifar10", "test", tmp_path)
    assert tr.x.shape == (20, 3, 32, 32) and te.x.shape == (6, 3, 32, 32)
    assert te.y.tolist() == list(range(6))
    assert torch.equal((te.x[0] * 255).round().to(torch.uint8), torch.from_numpy(first[0].reshape(3, 32, 32)))


def test_unknown_dataset_and_split():
    with pytest.raises(ValueError, match="unknown dataset"):
        data.load_split("imagenet")
    with pytest.raises(ValueError, match="split"):
        data.load_split("digits", "val")


def test_our_idx_reader_equals_torchvisions_on_real_mnist(mnist_root):
    from torchvision.datasets import MNIST

    data._load_cached.cache_clear()
    for split, train in (("test", False), ("train", True)):
        ours = data.load_split("mnist", split, mnist_root)
        theirs = MNIST(str(mnist_root), train=train)
        assert torch.equal(ours.x, theirs.data.unsqueeze(1).to(torch.float32).div_(255.0))
        assert torch.equal(ours.y, theirs.targets.to(torch.int64))


def test_a_truncated_or_foreign_idx_file_is_a_clear_message(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", 3), ("t10k", 2)):
        _idx(raw / f"{prefix}-images-idx3-ubyte", np.zeros((n, 28, 28)))
        _idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n))
    images = raw / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-5])
    data._load_cached.cache_clear()
    with pytest.raises(data.DatasetUnavailable, match="t10k-images-idx3-ubyte holds 1563 values, its header says 1568"):
        data.load_split("fashion_mnist", "test", tmp_path)
    images.write_bytes(b"PK\x03\x04 a zip, not IDX")
    data._load_cached.cache_clear()
    with pytest.raises(data.DatasetUnavailable, match="is not an IDX file"):
        data.load_split("fashion_mnist", "test", tmp_path)

"""Datasets: a small registry, standard splits, and the stratified probe set.

Every dataset is returned as a :class:`Split`: images as float32 in ``[0, 1]`` with shape
``[N, C, H, W]`` and integer labels. ``digits`` (scikit-learn's 8x8 digits) is embedded and always
works offline; the others are read from a data root in torchvision's layout (``EXPLORER_DATA_DIR``,
default ``data/`` in the project): MNIST and Fashion-MNIST from their IDX files (``read_idx``),
CIFAR-10 through ``torchvision.datasets``. They are downloaded (by torchvision) only when the caller
asks for it explicitly.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class DatasetUnavailable(RuntimeError):
    """The files of a dataset are not where we look for them. The message says which and where."""


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    shape: tuple[int, int, int]  # C, H, W
    classes: tuple[str, ...]
    source: str  # "embedded" or "torchvision"
    folder: str = ""  # sub-folder of the data root that torchvision reads
    files: tuple[str, ...] = ()  # files torchvision needs under root/folder

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def input_dim(self) -> int:
        c, h, w = self.shape
        return c * h * w


_MNIST_FILES = (
    "raw/train-images-idx3-ubyte",
    "raw/train-labels-idx1-ubyte",
    "raw/t10k-images-idx3-ubyte",
    "raw/t10k-labels-idx1-ubyte",
)
_DIGIT_NAMES = tuple(str(i) for i in range(10))

DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo("digits", "scikit-learn digits (8x8, embedded)", (1, 8, 8), _DIGIT_NAMES, "embedded"),
    "mnist": DatasetInfo("mnist", "MNIST (28x28)", (1, 28, 28), _DIGIT_NAMES, "torchvision", "MNIST", _MNIST_FILES),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist",
        "Fashion-MNIST (28x28)",
        (1, 28, 28),
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        "torchvision",
        "FashionMNIST",
        _MNIST_FILES,
    ),
    "cifar10": DatasetInfo(
        "cifar10",
        "CIFAR-10 (32x32 colour)",
        (3, 32, 32),
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        "torchvision",
        "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta"),
    ),
}
DEFAULT_DATASET = "digits"


@dataclass(frozen=True)
class Split:
    """One split of a dataset: ``x`` float32 [N, C, H, W] in [0, 1], ``y`` int64 [N]."""

    dataset: str
    split: str
    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    @property
    def info(self) -> DatasetInfo:
        return DATASETS[self.dataset]


def data_root() -> Path:
    return Path(os.environ.get("EXPLORER_DATA_DIR", PROJECT_ROOT / "data"))


def dataset_info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}") from None


def missing_files(name: str, root: Path | str | None = None) -> list[Path]:
    """The files a torchvision dataset needs that are not under ``root`` (empty when all present)."""
    info = dataset_info(name)
    if info.source == "embedded":
        return []
    base = Path(root if root is not None else data_root()) / info.folder
    return [base / f for f in info.files if not (base / f).is_file()]


def is_available(name: str, root: Path | str | None = None) -> bool:
    return not missing_files(name, root)


def _unavailable_message(name: str, root: Path, missing: list[Path]) -> str:
    info = DATASETS[name]
    listed = "\n".join(f"  {p}" for p in missing)
    return (
        f"Dataset {name!r} ({info.title}) is not on disk. Expected under {root / info.folder}:\n{listed}\n"
        f"Set EXPLORER_DATA_DIR to the folder that holds '{info.folder}/', or download it explicitly "
        f"(`python -m explorer download {name}` or the download button in the app)."
    )


class _CIFAR10Present:
    """torchvision's CIFAR10, checking that its files exist rather than their md5 sums.

    torchvision's MNIST classes already trust files by name; CIFAR10 insists on the md5 of the
    original release, which would reject the small files our tests write in the same format.
    """

    @staticmethod
    def make(root: str, train: bool, download: bool):
        from torchvision.datasets import CIFAR10

        class _Cifar(CIFAR10):
            def _check_integrity(self) -> bool:  # presence only, as torchvision's MNIST does
                return all(
                    os.path.isfile(os.path.join(self.root, self.base_folder, f)) for f, _ in self.train_list + self.test_list
                )

            def _load_meta(self) -> None:
                self.classes = list(DATASETS["cifar10"].classes)
                self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

        if download:
            return CIFAR10(root, train=train, download=True)
        return _Cifar(root, train=train, download=False)


def read_idx(path: Path) -> np.ndarray:
    """An unsigned-byte IDX file (the format of MNIST and Fashion-MNIST, as torchvision stores them under
    ``raw/``): two zero bytes, the type code 0x08, the number of dimensions, each dimension as a big-endian
    int32, then the values. Read here rather than through ``torchvision.datasets``, whose import pulls in
    ``torch._dynamo``: 3 s of a server's first page with compiled bytecode, 10 s without, for a 16-byte header."""
    raw = path.read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path.name} is not an IDX file")
    if raw[2] != 0x08:
        raise ValueError(f"{path.name}: IDX type 0x{raw[2]:02x}, expected unsigned bytes (0x08)")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">i4", count=ndim, offset=4).astype(np.int64)
    start = 4 + 4 * ndim
    if len(raw) - start != int(np.prod(dims)):
        raise ValueError(f"{path.name} holds {len(raw) - start} values, its header says {int(np.prod(dims))} (truncated?)")
    return np.frombuffer(raw, dtype=np.uint8, offset=start).reshape(tuple(dims)).copy()


def _load_image_files(name: str, split: str, root: Path, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    missing = missing_files(name, root)
    if missing and not download:
        raise DatasetUnavailable(_unavailable_message(name, root, missing))
    train = split == "train"
    try:
        if name == "cifar10":
            ds = _CIFAR10Present.make(str(root), train, download)
            x = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2)
            y = torch.as_tensor(ds.targets, dtype=torch.int64)
        elif download:
            from torchvision import datasets as tvd

            cls = {"mnist": tvd.MNIST, "fashion_mnist": tvd.FashionMNIST}[name]
            ds = cls(str(root), train=train, download=download)
            x = ds.data.unsqueeze(1)
            y = ds.targets.to(torch.int64)
        else:
            prefix = "train" if train else "t10k"
            base = root / DATASETS[name].folder / "raw"
            x = torch.from_numpy(read_idx(base / f"{prefix}-images-idx3-ubyte")).unsqueeze(1)
            y = torch.from_numpy(read_idx(base / f"{prefix}-labels-idx1-ubyte")).to(torch.int64)
            if len(x) != len(y):
                raise ValueError(f"{len(x)} images but {len(y)} labels")
    except DatasetUnavailable:
        raise
    except Exception as exc:  # unreadable or truncated files, failed download
        raise DatasetUnavailable(
            f"Dataset {name!r} could not be read from {root / DATASETS[name].folder}: {exc}"
        ) from exc
    return x.to(torch.float32).div_(255.0), y


def _load_digits(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.images.astype(np.float32) / 16.0
    y = d.target.astype(np.int64)
    # scikit-learn ships no split: a fixed stratified 80/20 split, the same on every machine.
    test_idx = probe_indices(y, int(round(0.2 * len(y))), seed=0)
    mask = np.zeros(len(y), dtype=bool)
    mask[test_idx] = True
    sel = mask if split == "test" else ~mask
    return torch.from_numpy(x[sel]).unsqueeze(1), torch.from_numpy(y[sel])


@functools.lru_cache(maxsize=8)
def _load_cached(name: str, split: str, root: str, download: bool) -> Split:
    if DATASETS[name].source == "embedded":
        x, y = _load_digits(split)
    else:
        x, y = _load_image_files(name, split, Path(root), download)
    x.requires_grad_(False)
    return Split(name, split, x, y)


def load_split(name: str, split: str = "test", root: Path | str | None = None, download: bool = False) -> Split:
    """Load ``split`` ("train" or "test") of dataset ``name``; raises DatasetUnavailable when missing."""
    dataset_info(name)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    root = Path(root if root is not None else data_root()).resolve()
    return _load_cached(name, split, str(root), download)


def download(name: str, root: Path | str | None = None) -> None:
    """Fetch a torchvision dataset into the data root (needs network; never called by tests)."""
    for split in ("train", "test"):
        load_split(name, split, root, download=True)


def channel_stats(name: str, root: Path | str | None = None) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the training split (used by classifiers to standardise inputs)."""
    x = load_split(name, "train", root).x
    return x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).clamp_min(1e-6).tolist()


def probe_indices(labels, n: int, seed: int = 0) -> np.ndarray:
    """A stratified, seeded sample of ``n`` indices (sorted), class proportions kept.

    Each class gets its share by largest remainder, then that many of its indices at random.
    """
    labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    total = len(labels)
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"probe size must be a positive integer, got {n!r}")
    if n > total:
        raise ValueError(f"probe size {n} is larger than the split ({total} samples); pick at most {total}")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * n / total
    take = np.floor(exact).astype(int)
    short = n - take.sum()
    if short:
        order = np.argsort(-(exact - take), kind="stable")
        take[order[:short]] += 1
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take)]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


@dataclass(frozen=True)
class Probe:
    """The samples every analysis runs on: a stratified subset of one split (images), the first
    words of a vocabulary, or rows of an embeddings file. ``x`` is None without images, ``y`` None
    without labels, ``texts`` None without text."""

    dataset: str
    split: str
    indices: np.ndarray
    x: torch.Tensor | None
    y: torch.Tensor | None
    texts: tuple[str, ...] | None = None
    classes: tuple[str, ...] | None = None
    content: str | None = None  # a hash of what the dataset name does not pin down (a file's bytes, a vocabulary)

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def key(self) -> dict:
        """What a cache key needs of the probe: which samples of which split of which dataset."""
        key = {"dataset": self.dataset, "split": self.split, "indices": self.indices}
        return key if self.content is None else {**key, "content": self.content}


def load_probe(name: str, n: int, split: str = "test", seed: int = 0, root: Path | str | None = None) -> Probe:
    s = load_split(name, split, root)
    idx = probe_indices(s.y, n, seed)
    t = torch.from_numpy(idx)
    return Probe(name, split, idx, s.x[t], s.y[t])

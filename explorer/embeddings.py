"""Embeddings files: the user's own vectors as a source of representations.

A file holds one or several named arrays [N, D] (several = layers, in file order), and optionally
``labels`` (N integers or strings), ``text`` (N strings, shown on hover) or ``image`` (N data URLs).
Formats: ``.npz`` and ``.npy`` (read with ``allow_pickle=False``: nothing is ever unpickled),
``.safetensors``, ``.parquet`` and ``.csv``. In a table, a column of lists is one layer; scalar
numeric columns form layers by their prefix (``enc_0, enc_1, ...`` -> ``enc``; bare numbers ->
``embedding``).

Every problem is an :class:`EmbeddingsError` whose message names the file and what to change.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMATS = (".npz", ".npy", ".safetensors", ".parquet", ".csv")
EXTRAS = ("labels", "text", "image")
MAX_BYTES = 200 * 1024**2  # the app's upload limit too (.streamlit/config.toml maxUploadSize)
MIN_ROWS = 3


class EmbeddingsError(ValueError):
    """An embeddings file that cannot be used; the message says why."""


@dataclass(frozen=True)
class Embeddings:
    layers: dict[str, np.ndarray]  # float32 [N, D] each, in file order
    labels: np.ndarray | None  # int64 [N] codes into ``classes``
    classes: tuple[str, ...] | None
    text: tuple[str, ...] | None
    image: tuple[str, ...] | None
    sha256: str

    @property
    def n(self) -> int:
        return len(next(iter(self.layers.values()))) if self.layers else len(self.text or ())


def _npz(buf: bytes) -> dict[str, np.ndarray]:
    if not buf.startswith(b"PK"):
        raise EmbeddingsError("not a .npz file (numpy.savez writes a zip archive)")
    with np.load(io.BytesIO(buf), allow_pickle=False) as z:
        return {name: z[name] for name in z.files}


def _npy(buf: bytes) -> dict[str, np.ndarray]:
    if not buf.startswith(b"\x93NUMPY"):
        raise EmbeddingsError("not a .npy file (numpy.save writes one)")
    return {"embedding": np.load(io.BytesIO(buf), allow_pickle=False)}


def _safetensors(buf: bytes) -> dict[str, np.ndarray]:
    from safetensors.numpy import load

    arrays = load(buf)
    (n,) = struct.unpack("<Q", buf[:8])  # the header's own order of names (json keeps it)
    order = [k for k in json.loads(buf[8 : 8 + n]) if k != "__metadata__"]
    return {k: arrays[k] for k in order}


_PREFIX = re.compile(r"^(.*?)[_.:-]?(\d+)$")


def _table(df) -> dict[str, np.ndarray]:
    import pandas as pd

    out: dict[str, np.ndarray] = {}
    groups: dict[str, list[str]] = {}
    bad = []
    for col in df.columns:
        name = str(col)
        if name in EXTRAS:
            out[name] = df[col].to_numpy()
            continue
        s = df[col]
        first = s.iloc[0] if len(s) else None
        if isinstance(first, (list, tuple, np.ndarray)):
            try:
                out[name] = np.stack([np.asarray(v, dtype=np.float64) for v in s])
            except (ValueError, TypeError):
                bad.append(name)
        elif pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            m = _PREFIX.match(name)
            groups.setdefault((m.group(1) or "embedding") if m else name, []).append(col)
        else:
            bad.append(name)
    if bad:
        raise EmbeddingsError(f"non-numeric column(s) {', '.join(bad[:5])}{' …' if len(bad) > 5 else ''}: only "
                              f"numbers, lists of numbers and the columns {', '.join(EXTRAS)} can be read")
    for name, cols in groups.items():
        out[name] = df[cols].to_numpy(dtype=np.float64)
    return out


def _parquet(buf: bytes) -> dict[str, np.ndarray]:
    import pandas as pd

    return _table(pd.read_parquet(io.BytesIO(buf)))


def _csv(buf: bytes) -> dict[str, np.ndarray]:
    import pandas as pd

    return _table(pd.read_csv(io.BytesIO(buf)))


READERS = {".npz": _npz, ".npy": _npy, ".safetensors": _safetensors, ".parquet": _parquet, ".csv": _csv}


def _strings(name: str, values, n: int, what: str) -> tuple[str, ...]:
    values = np.asarray(values)
    if values.ndim != 1 or len(values) != n:
        raise EmbeddingsError(f"'{name}' has {len(values) if values.ndim else 1} entries for {n} rows: give one {what} per row")
    return tuple(str(v) for v in values)


def parse_embeddings(buf: bytes, filename: str) -> Embeddings:
    """Read and check an embeddings file given as bytes (``filename`` tells the format)."""
    ext = Path(filename).suffix.lower()
    if ext not in READERS:
        raise EmbeddingsError(f"{filename}: unknown format {ext or '(no extension)'}; use one of {', '.join(FORMATS)}")
    if len(buf) > MAX_BYTES:
        raise EmbeddingsError(f"{filename} is {len(buf) / 1024**2:.0f} MB; the limit is {MAX_BYTES // 1024**2} MB")
    try:
        raw = READERS[ext](buf)
    except EmbeddingsError as exc:
        raise EmbeddingsError(f"{filename}: {exc}") from None
    except ValueError as exc:
        if "pickle" in str(exc):
            raise EmbeddingsError(f"{filename} holds Python objects, which are never unpickled here: save plain "
                                  "numeric arrays (and strings for labels/text)") from None
        raise EmbeddingsError(f"{filename} cannot be read as {ext}: {exc}") from None
    except Exception as exc:  # a truncated or foreign file: every reader has its own exception types
        raise EmbeddingsError(f"{filename} cannot be read as {ext}: {type(exc).__name__}: {exc}") from None
    extras = {k: raw.pop(k) for k in EXTRAS if k in raw}
    layers: dict[str, np.ndarray] = {}
    for name, a in raw.items():
        a = np.asarray(a)
        if a.dtype.kind not in "biuf":
            raise EmbeddingsError(f"{filename}: array '{name}' is not numeric ({a.dtype}); name label or text arrays "
                                  f"{' / '.join(EXTRAS)}")
        if a.ndim != 2:
            hint = " (a single vector? give one row per sample)" if a.ndim == 1 else " (flatten each sample: [N, D])"
            raise EmbeddingsError(f"{filename}: array '{name}' is {a.ndim}-D with shape {list(a.shape)}; expected [N, D]{hint}")
        layers[name] = a
    if not layers and "text" not in extras:
        raise EmbeddingsError(f"{filename}: no array of embeddings and no 'text' column")
    sizes = {name: len(a) for name, a in layers.items()}
    if len(set(sizes.values())) > 1:
        raise EmbeddingsError(f"{filename}: the arrays have different numbers of rows: "
                              + ", ".join(f"{k} {v}" for k, v in sizes.items()) + "; every layer needs the same rows")
    n = next(iter(sizes.values())) if sizes else len(np.asarray(extras["text"]))
    if n < MIN_ROWS:
        raise EmbeddingsError(f"{filename}: {n} rows; at least {MIN_ROWS} are needed")
    for name, a in layers.items():
        bad = ~np.isfinite(a.astype(np.float64, copy=False)).all(axis=1)
        if bad.any():
            rows = np.flatnonzero(bad)
            raise EmbeddingsError(f"{filename}: array '{name}' has NaN or inf in {bad.sum()} of {n} rows (rows "
                                  f"{', '.join(map(str, rows[:5]))}{' …' if len(rows) > 5 else ''}); remove or fix them")
        if a.shape[1] == 0:
            raise EmbeddingsError(f"{filename}: array '{name}' has zero columns")
    labels = classes = None
    if "labels" in extras:
        lab = np.asarray(extras["labels"])
        if lab.ndim != 1 or len(lab) != n:
            raise EmbeddingsError(f"{filename}: 'labels' has {lab.size} entries for {n} rows")
        if lab.dtype.kind in "iub":
            classes_i, labels = np.unique(lab, return_inverse=True)
            classes = tuple(str(c) for c in classes_i)
        elif lab.dtype.kind == "f" and np.isfinite(lab).all() and (lab == np.round(lab)).all():
            classes_i, labels = np.unique(lab.astype(np.int64), return_inverse=True)
            classes = tuple(str(c) for c in classes_i)
        else:
            classes_s, labels = np.unique(lab.astype(str), return_inverse=True)
            classes = tuple(classes_s)
        labels = labels.astype(np.int64)
    text = _strings("text", extras["text"], n, "string") if "text" in extras else None
    image = _strings("image", extras["image"], n, "image (a data URL)") if "image" in extras else None
    return Embeddings({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in layers.items()}, labels, classes, text, image,
                      hashlib.sha256(buf).hexdigest())


def read_embeddings(path: Path | str) -> Embeddings:
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise EmbeddingsError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if size > MAX_BYTES:
        raise EmbeddingsError(f"{path.name} is {size / 1024**2:.0f} MB; the limit is {MAX_BYTES // 1024**2} MB")
    return parse_embeddings(path.read_bytes(), path.name)

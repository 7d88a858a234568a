"""On-disk cache keyed by content, so a second visit is instant and survives a restart.

A key is the sha256 of a canonical JSON of everything the value depends on: the function name,
its parameters, the sha256 of each checkpoint involved, dataset + split + probe indices, and the
cache-format version. Values are dicts of numpy arrays stored as one safetensors file each, written
atomically (temp file + rename), so readers never see a partial entry. A corrupt entry is dropped
with a warning and recomputed; a size cap evicts the least recently used entries; a cache folder
that is read-only or full degrades to computing without caching, with a warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load as np_load
from safetensors.numpy import save as np_save

from explorer.io import atomic_write_bytes, remove_stale_tmp

CACHE_FORMAT = 1
DEFAULT_MAX_BYTES = 2 * 1024**3


class CacheWarning(UserWarning):
    """Something went wrong with the cache; the value was computed anyway."""


def default_cache_dir() -> Path:
    return Path(os.environ.get("EXPLORER_CACHE_DIR", Path.home() / ".cache" / "latent-explorer"))


def _canon(obj):
    """A JSON-able, order-independent form of ``obj``; arrays and tensors become content hashes."""
    if isinstance(obj, torch.Tensor):
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj)
        return {"__array__": hashlib.sha256(a.tobytes()).hexdigest(), "dtype": str(a.dtype), "shape": list(a.shape)}
    if isinstance(obj, dict):
        return {str(k): _canon(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canon(v) for v in obj]
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"cannot use a {type(obj).__name__} in a cache key")


def cache_key(fn: str, **parts) -> str:
    payload = json.dumps({"format": CACHE_FORMAT, "fn": fn, "parts": _canon(parts)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


class Record:
    """The disk-cache keys read (hits), missed and written while a ``recording()`` block runs."""

    def __init__(self):
        self.hits: set[str] = set()
        self.misses: set[str] = set()
        self.puts: set[str] = set()

    @property
    def used(self) -> set[str]:
        """Every entry the block needed (hit, or computed and stored)."""
        return self.hits | self.puts


_RECORDS: list[Record] = []
_RECORDS_LOCK = threading.Lock()


class recording:
    """``with recording() as r:`` collects every disk-cache access of this process (any thread) in ``r``:
    what a deck's slides use (to pack them) and whether a view computed anything (precompute's check)."""

    def __enter__(self) -> Record:
        self.record = Record()
        with _RECORDS_LOCK:
            _RECORDS.append(self.record)
        return self.record

    def __exit__(self, *exc):
        with _RECORDS_LOCK:
            _RECORDS.remove(self.record)


def is_recording() -> bool:
    return bool(_RECORDS)


def _log(kind: str, key: str) -> None:
    if _RECORDS:
        with _RECORDS_LOCK:
            for r in _RECORDS:
                getattr(r, kind).add(key)


class DiskCache:
    RESCAN_PUTS = 64

    def __init__(self, root: Path | str | None = None, max_bytes: int = DEFAULT_MAX_BYTES):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()
        # Eviction scans the whole folder; after a scan, puts only add their sizes to ``_used`` and the
        # next scan comes when that estimate passes the cap, or after RESCAN_PUTS puts (other writers:
        # sessions, CLI, sweep workers). A sweep storing hundreds of small pair entries otherwise spent
        # more time listing the cache than computing (2.5 s of 8 for 276 pairs).
        self._used: int | None = None
        self._puts_since_scan = 0
        if self.root.is_dir():  # leftovers of writers killed mid-write (never read: not *.safetensors)
            remove_stale_tmp(self.root, "*/*")

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.safetensors"

    def get(self, key: str, record: bool = True) -> dict[str, np.ndarray] | None:
        """The entry under ``key``, or None. ``record=False``: not seen by ``recording`` (a warm-up's read,
        which is not what a view needs)."""
        log = _log if record else (lambda kind, key: None)
        p = self.path(key)
        try:
            blob = p.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            log("misses", key)
            return None
        except OSError as exc:
            warnings.warn(f"cache entry {p.name} unreadable ({exc}); recomputing", CacheWarning, stacklevel=2)
            log("misses", key)
            return None
        try:
            value = np_load(blob)
        except Exception as exc:
            warnings.warn(f"cache entry {p.name} is corrupt ({exc}); dropped and recomputed", CacheWarning, stacklevel=2)
            try:
                p.unlink()
            except OSError:
                pass
            log("misses", key)
            return None
        log("hits", key)
        try:
            os.utime(p)  # least-recently-used order follows reads, not only writes
        except OSError:
            pass
        return value

    def put(self, key: str, value: dict[str, np.ndarray]) -> bool:
        """Store ``value``; returns False (with a warning) when the disk refuses."""
        arrays = {k: np.ascontiguousarray(v) for k, v in value.items()}
        blob = np_save(arrays)
        try:
            atomic_write_bytes(self.path(key), blob)
        except OSError as exc:
            warnings.warn(f"cache at {self.root} not writable ({exc.strerror or exc}); working uncached", CacheWarning, stacklevel=2)
            return False
        _log("puts", key)
        with self._lock:
            self._puts_since_scan += 1
            due = self._used is None or self._used + len(blob) > self.max_bytes or self._puts_since_scan >= self.RESCAN_PUTS
            if not due:
                self._used += len(blob)
        if due:
            self.evict()
        return True

    def entries(self) -> list[tuple[Path, int, float]]:
        out = []
        if not self.root.is_dir():
            return out
        for p in self.root.glob("*/*.safetensors"):
            try:
                st = p.stat()
            except OSError:
                continue
            out.append((p, st.st_size, st.st_mtime))
        return out

    def size(self) -> int:
        return sum(s for _, s, _ in self.entries())

    def evict(self) -> int:
        """Delete least recently used entries until the cache fits its cap; returns how many."""
        with self._lock:
            entries = sorted(self.entries(), key=lambda e: e[2])
            total = sum(s for _, s, _ in entries)
            removed = 0
            for p, s, _ in entries:
                if total <= self.max_bytes:
                    break
                try:
                    p.unlink()
                    removed += 1
                except OSError:
                    pass
                total -= s
            self._used, self._puts_since_scan = total, 0
            return removed

    def clear(self) -> None:
        for p, _, _ in self.entries():
            try:
                p.unlink()
            except OSError:
                pass

    def peek(self, fn: str, parts: dict) -> dict[str, np.ndarray] | None:
        """The stored value for (fn, parts), or None; never computes."""
        return self.get(cache_key(fn, **parts))

    def memoize(self, fn: str, parts: dict, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """The cached value for (fn, parts), computing and storing it on a miss."""
        return self.memoize_key(cache_key(fn, **parts), compute)

    def memoize_key(self, key: str, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        hit = self.get(key)
        if hit is not None:
            return hit
        value = {k: _to_numpy(v) for k, v in compute().items()}
        self.put(key, value)
        return value


def _to_numpy(v) -> np.ndarray:
    if isinstance(v, torch.Tensor):
        return v.detach().cpu().numpy()
    return np.asarray(v)


def frame_to_arrays(df) -> dict[str, np.ndarray]:
    """A DataFrame as a cacheable dict: its JSON (split orient) as bytes."""
    return {"__frame__": np.frombuffer(df.to_json(orient="split", double_precision=15).encode(), dtype=np.uint8).copy()}


def arrays_to_frame(value: dict[str, np.ndarray]):
    """The DataFrame ``frame_to_arrays`` stored (a copy: the caller may change it). A value read before is
    decoded once: the memory cache hands back the same arrays on every rerun, and parsing the JSON again
    cost a tenth of a warm page's run."""
    import io

    import pandas as pd

    buf = value["__frame__"]
    with _FRAMES_LOCK:
        hit = _FRAMES.get(id(buf))
        if hit is not None and hit[0] is buf:
            _FRAMES.move_to_end(id(buf))
            return hit[1].copy()
    df = pd.read_json(io.StringIO(buf.tobytes().decode()), orient="split")
    with _FRAMES_LOCK:
        _FRAMES[id(buf)] = (buf, df)  # holding ``buf`` keeps its id from being reused
        while len(_FRAMES) > 1 and (len(_FRAMES) > _FRAMES_ENTRIES or sum(b.nbytes for b, _ in _FRAMES.values()) > _FRAMES_BYTES):
            _FRAMES.popitem(last=False)
    return df.copy()


_FRAMES: OrderedDict = OrderedDict()  # id(stored bytes) -> (the bytes, the decoded frame)
_FRAMES_LOCK = threading.Lock()
_FRAMES_ENTRIES, _FRAMES_BYTES = 128, 64 * 2**20

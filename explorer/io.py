"""Small file helpers shared by checkpoints and the cache: atomic writes and content hashes.

Every file the program writes goes first to a temporary name that only this program makes,
``NAME.tmp-<16 hex digits>`` beside the target, and is then renamed into place. Clean-up after a
killed writer removes only names of that exact form: a user's own file is never deleted, whatever
its name or age.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
from pathlib import Path

TMP_RE = re.compile(r"^.+\.tmp-[0-9a-f]{16}$")


def temporary_name(path: Path) -> Path:
    """A fresh temporary name beside ``path`` that ``remove_stale_tmp`` recognises as ours."""
    return path.with_name(f"{path.name}.tmp-{secrets.token_hex(8)}")


def _write_tmp(path: Path, data: bytes) -> Path:
    tmp = temporary_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


def _unlink_quietly(p: Path) -> None:
    try:
        os.unlink(p)
    except OSError:
        pass


def atomic_write_many(files: list[tuple[Path | str, bytes]]) -> None:
    """Write several files so that each reader sees the old file or the whole new one, never a part.

    Every file is written to its temporary name and flushed to disk first; only then are they
    renamed into place, in the order given (checkpoints: weights first, sidecar last, so a sidecar
    only ever names complete weights). On any error before the renames every temporary file is
    removed and no target changes.
    """
    paths = [Path(p) for p, _ in files]
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
    tmps: list[Path] = []
    try:
        for p, (_, data) in zip(paths, files):
            tmps.append(_write_tmp(p, data))
        for tmp, p in zip(tmps, paths):
            os.replace(tmp, p)
    except BaseException:
        for tmp in tmps:
            _unlink_quietly(tmp)
        raise


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary name, fsync, rename)."""
    atomic_write_many([(path, data)])


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def remove_stale_tmp(folder: Path | str, pattern: str = "*", max_age_s: float = 3600) -> int:
    """Delete this program's temporary files left by killed writers (older than ``max_age_s``).

    Only names made by ``temporary_name`` are considered (``NAME.tmp-`` and 16 hex digits); any
    other file under ``folder`` is left alone. Younger ones may belong to a writer still at work in
    another process, so they stay.
    """
    removed, now = 0, time.time()
    for p in Path(folder).glob(pattern):
        if not TMP_RE.match(p.name):
            continue
        try:
            if p.is_file() and now - p.stat().st_mtime > max_age_s:
                p.unlink()
                removed += 1
        except OSError:
            pass
    return removed

"""Checkpoints: weights in safetensors plus a JSON sidecar. Nothing is ever unpickled.

``NAME.safetensors`` holds the state dict; ``NAME.json`` holds what is needed to rebuild and judge
the model (architecture, hyperparameters, dataset, seed, anchor indices, test metrics, training
time) and the sha256 of the weights file, which doubles as the model's content key for the cache.
Both files are written to temporary names first and then renamed into place, weights first and
sidecar last: a sidecar only ever names complete weights, and an interrupted save leaves only
temporary names that the program owns (``explorer.io``). A weights file without a sidecar is never
deleted: it may be the user's own, and is listed as unusable with how to make it usable.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from explorer.io import atomic_write_many, remove_stale_tmp, sha256_bytes
from explorer.models import arch_info, build_model

FORMAT = "latent-explorer/checkpoint-1"
REQUIRED = ("format", "name", "arch", "hparams", "dataset", "seed", "sha256")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message says which file and why."""


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint on disk, described by its sidecar (the weights are read only by ``load``)."""

    sidecar: Path
    meta: dict

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def weights(self) -> Path:
        return self.sidecar.with_suffix(".safetensors")

    @property
    def sha256(self) -> str:
        return self.meta["sha256"]

    @property
    def arch(self) -> str:
        return self.meta["arch"]

    @property
    def dataset(self) -> str:
        return self.meta["dataset"]

    @property
    def seed(self) -> int:
        return self.meta["seed"]

    @property
    def kind(self) -> str:
        return arch_info(self.arch).kind

    @property
    def relative(self) -> bool:
        return arch_info(self.arch).relative

    @property
    def anchor_indices(self) -> list[int] | None:
        return self.meta.get("anchor_indices")

    def label(self) -> str:
        m = self.meta
        hp = m["hparams"]
        extra = f" latent {hp['latent']}" if "latent" in hp and self.kind == "ae" else ""
        return f"{m['name']}  ({arch_info(self.arch).description}{extra}, seed {m['seed']})"


def save_checkpoint(model: torch.nn.Module, out_dir: Path | str, name: str, meta: dict) -> Checkpoint:
    """Write ``model``'s weights and sidecar under ``out_dir`` as ``name``.{safetensors,json}."""
    if not name or "/" in name or name.startswith("."):
        raise CheckpointError(f"invalid checkpoint name {name!r}")
    out_dir = Path(out_dir)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    blob = st_save(state, metadata={"format": FORMAT, "arch": model.arch})
    sidecar = {
        "format": FORMAT,
        "name": name,
        "arch": model.arch,
        "hparams": model.hparams,
        "n_params": sum(p.numel() for p in model.parameters()),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **meta,
        "sha256": sha256_bytes(blob),
    }
    atomic_write_many([(out_dir / f"{name}.safetensors", blob),
                       (out_dir / f"{name}.json", (json.dumps(sidecar, indent=1) + "\n").encode())])
    return Checkpoint(out_dir / f"{name}.json", sidecar)


def read_sidecar(path: Path | str) -> Checkpoint:
    """Parse and check a sidecar; raises CheckpointError with the reason."""
    path = Path(path)
    if path.suffix != ".json":
        path = path.with_suffix(".json")
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path.name}: sidecar file not found in {path.parent}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path.name}: sidecar is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path.name}: sidecar is not a JSON object")
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise CheckpointError(f"{path.name}: sidecar lacks {', '.join(missing)}")
    if meta["format"] != FORMAT:
        raise CheckpointError(f"{path.name}: unsupported checkpoint format {meta['format']!r} (expected {FORMAT})")
    try:
        arch_info(meta["arch"])
    except ValueError as exc:
        raise CheckpointError(f"{path.name}: {exc}") from None
    ck = Checkpoint(path, meta)
    if not ck.weights.is_file():
        raise CheckpointError(f"{path.name}: weights file {ck.weights.name} is missing")
    return ck


def load_checkpoint(path: Path | str | Checkpoint, device: str | torch.device = "cpu", data_root=None):
    """Rebuild the model of a checkpoint; returns ``(model, checkpoint)`` with the model in eval mode.

    Every way a checkpoint can be wrong raises CheckpointError naming the file: sidecar unreadable,
    weights missing, truncated or not matching the sidecar's hash, an architecture the weights do
    not fit. Relative models get their anchors from the training split of their dataset.
    """
    ck = path if isinstance(path, Checkpoint) else read_sidecar(path)
    blob = ck.weights.read_bytes()
    if sha256_bytes(blob) != ck.sha256:
        raise CheckpointError(
            f"{ck.weights.name}: weights do not match the sidecar's sha256 (truncated, corrupt or replaced); "
            "retrain it or restore the file"
        )
    try:
        state = st_load(blob)
    except Exception as exc:
        raise CheckpointError(f"{ck.weights.name}: not a readable safetensors file ({exc})") from None
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(f"{ck.weights.name}: {len(bad)} weight tensor(s) hold NaN or infinite values "
                              f"({', '.join(bad[:5])}): the training diverged; retrain it with a lower learning rate")
    from explorer.data import dataset_info

    try:
        info = dataset_info(ck.dataset)
        with torch.device("meta"):  # no random initialisation of weights the file replaces (a third of a warm page)
            model = build_model(ck.arch, info.shape, info.n_classes, ck.meta["hparams"])
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{ck.sidecar.name}: cannot build {ck.arch!r}: {exc}") from None
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = "; ".join(line.strip() for line in first[1:4]) or first[0]
        raise CheckpointError(
            f"{ck.weights.name}: the weights do not fit the sidecar's architecture {ck.arch!r} "
            f"with {ck.meta['hparams']} ({detail})"
        ) from None
    if ck.relative:
        from explorer.data import load_split

        idx = ck.anchor_indices
        if not idx or len(idx) != model.n_anchors:
            raise CheckpointError(f"{ck.sidecar.name}: relative model needs {model.n_anchors} anchor indices in its sidecar")
        train = load_split(ck.dataset, "train", data_root)
        model.set_anchors(train.x[torch.as_tensor(idx)])
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:  # every tensor comes from the file (strict) or from set_anchors
        raise CheckpointError(f"{ck.weights.name}: no values for {', '.join(left[:5])}")
    model.eval()
    return model.to(device), ck


def list_checkpoints(*dirs: Path | str) -> tuple[list[Checkpoint], list[tuple[Path, str]]]:
    """Every usable sidecar under ``dirs`` (sorted by name) and the problems of the unusable ones."""
    found: list[Checkpoint] = []
    problems: list[tuple[Path, str]] = []
    seen: set[str] = set()
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            continue
        remove_stale_tmp(d)  # a save killed mid-write leaves only a temporary file, never a checkpoint
        for p in sorted(d.glob("*.json")):
            try:
                ck = read_sidecar(p)
            except CheckpointError as exc:
                problems.append((p, str(exc)))
                continue
            if ck.name in seen:  # the pickers go by name: the first folder wins, the other is reported
                problems.append((p, f"{p.name}: another checkpoint named {ck.name!r} is listed already; rename one"))
                continue
            seen.add(ck.name)
            found.append(ck)
        for w in sorted(d.glob("*.safetensors")):
            if not w.with_suffix(".json").exists():
                problems.append((w, orphan_message(w)))
    return found, problems


def orphan_message(weights: Path) -> str:
    """Why a weights file without a sidecar is not listed, and how to make it usable (it is never deleted)."""
    return (f"{weights.name}: weights without a sidecar {weights.with_suffix('.json').name}, so the architecture is "
            "unknown; the file is left as it is. To use it, write the JSON sidecar that `python -m explorer train` "
            "writes beside its weights (format, name, arch, hparams, dataset, seed and the file's sha256; "
            "README: Adding a dataset or a model)")

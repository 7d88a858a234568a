"""Training: deterministic per seed, CPU or CUDA, with a progress callback and cancellation."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from explorer.checkpoint import Checkpoint, save_checkpoint
from explorer.data import channel_stats, dataset_info, load_split
from explorer.data import data_root as data_root_default
from explorer.models import arch_info, build_model, resolve_hparams
from explorer.relative import select_anchors

ANCHOR_SEED = 0  # every relative model of one dataset uses the same anchors, so they can be stitched
# The bounds of a training run, shared by the Home form and the CLI: (lowest, highest)
LIMITS = {"latent": (2, 512), "epochs": (1, 500), "lr": (1e-5, 1.0), "batch_size": (8, 4096)}


class TrainingCancelled(RuntimeError):
    """Raised inside ``train`` when ``should_stop`` returns True; nothing is written."""


@dataclass
class TrainConfig:
    dataset: str = "digits"
    arch: str = "mlp_ae"
    seed: int = 0
    epochs: int = 30
    lr: float = 1e-3
    batch_size: int = 128
    hparams: dict = field(default_factory=dict)
    anchor_strategy: str = "per_class"

    def run_name(self) -> str:
        hp = resolve_hparams(self.arch, self.hparams)
        suffix = f"-l{hp['latent']}" if arch_info(self.arch).kind == "ae" else ""
        return f"{self.dataset}-{self.arch}{suffix}-s{self.seed}"

    def validate(self) -> None:
        dataset_info(self.dataset)
        hp = resolve_hparams(self.arch, self.hparams)
        values = {"epochs": self.epochs, "lr": self.lr, "batch_size": self.batch_size}
        if "latent" in hp:
            values["latent"] = hp["latent"]
        for name, value in values.items():
            lo, hi = LIMITS[name]
            if not lo <= value <= hi:
                raise ValueError(f"{name.replace('_', ' ')} must be between {lo:g} and {hi:g}, got {value:g}")


@dataclass
class Progress:
    step: int
    total: int
    epoch: int
    loss: float

    @property
    def fraction(self) -> float:
        return self.step / max(self.total, 1)


def anchor_indices_for(dataset: str, n_anchors: int, strategy: str = "per_class", data_root=None) -> list[int]:
    """The seeded anchors of ``dataset``'s training split (indices); chosen once per process for each
    (dataset, count, strategy, data folder): the Stitching page asks on every rerun."""
    root = str(Path(data_root if data_root is not None else data_root_default()).resolve())
    return list(_anchor_indices(dataset, int(n_anchors), strategy, root))


@functools.lru_cache(maxsize=16)
def _anchor_indices(dataset: str, n_anchors: int, strategy: str, root: str) -> tuple[int, ...]:
    train = load_split(dataset, "train", root)
    idx = select_anchors(train.x.flatten(1), n_anchors, strategy, labels=train.y, seed=ANCHOR_SEED)
    return tuple(sorted(int(i) for i in idx))


def _loss(model, x, y):
    if model.arch == "vae":
        recon, kl = model.elbo_terms(x)
        rec = F.mse_loss(recon, x, reduction="none").flatten(1).sum(1)
        return (rec + model.beta * kl).mean() / model.in_dim
    out = model(x)
    if model.kind == "ae":
        return F.mse_loss(out, x)
    return F.cross_entropy(out, y)


@torch.no_grad()
def predict(model, x: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    """Model outputs on ``x`` in eval mode, batched, on the model's device."""
    dev = next(model.parameters()).device
    was = model.training
    model.eval()
    outs = [model(x[i : i + batch_size].to(dev)) for i in range(0, len(x), batch_size)]
    model.train(was)
    return torch.cat(outs)


def metrics_from_outputs(kind: str, out: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Test metrics from model outputs: MSE for autoencoders, accuracy and macro-F1 for classifiers."""
    if kind == "ae":
        return {"mse": float(F.mse_loss(out.float().cpu(), x.float().cpu()))}
    from sklearn.metrics import f1_score

    pred = out.argmax(1).cpu().numpy()
    true = y.cpu().numpy()
    return {"accuracy": float((pred == true).mean()), "macro_f1": float(f1_score(true, pred, average="macro"))}


def evaluate(model, x: torch.Tensor, y: torch.Tensor) -> dict:
    return metrics_from_outputs(model.kind, predict(model, x), x, y)


def train(
    cfg: TrainConfig,
    device: str | torch.device = "cpu",
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    data_root=None,
):
    """Train one model; returns ``(model, meta)`` where ``meta`` is ready for the sidecar.

    Deterministic for a given config and device: the seed fixes the initial weights, the
    anchors of relative models come from the shared ANCHOR_SEED, and the batch order comes from a
    generator seeded with the config's seed.
    """
    cfg.validate()
    info = dataset_info(cfg.dataset)
    tr = load_split(cfg.dataset, "train", data_root)
    te = load_split(cfg.dataset, "test", data_root)
    a = arch_info(cfg.arch)
    hp = resolve_hparams(cfg.arch, cfg.hparams)
    if a.kind == "clf":
        hp["mean"], hp["std"] = channel_stats(cfg.dataset, data_root)
    anchors = None
    if a.relative:
        anchors = anchor_indices_for(cfg.dataset, hp["n_anchors"], cfg.anchor_strategy, data_root)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.arch, info.shape, info.n_classes, hp).to(device)
    if anchors is not None:
        model.set_anchors(tr.x[torch.as_tensor(anchors)])
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    n = len(tr)
    steps_per_epoch = (n + cfg.batch_size - 1) // cfg.batch_size
    total = steps_per_epoch * cfg.epochs
    x_all, y_all = tr.x.to(device), tr.y.to(device)
    step, t0, started, losses = 0, time.perf_counter(), time.time(), []
    model.train()
    for epoch in range(cfg.epochs):
        perm = torch.randperm(n, generator=gen).to(device)
        ep_loss = 0.0
        for b in range(steps_per_epoch):
            if should_stop is not None and should_stop():
                raise TrainingCancelled(f"training of {cfg.run_name()} cancelled at step {step}/{total}")
            idx = perm[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            loss = _loss(model, x_all[idx], y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            ep_loss += loss.item()
            if progress is not None and (step % 10 == 0 or step == total):
                progress(Progress(step, total, epoch + 1, loss.item()))
        losses.append(ep_loss / steps_per_epoch)
        if not np.isfinite(losses[-1]):
            raise FloatingPointError(f"training diverged (loss {losses[-1]}) in epoch {epoch + 1}; lower the learning rate")
    elapsed = time.perf_counter() - t0
    model.eval()
    metrics = evaluate(model, te.x, te.y)
    meta = {
        "dataset": cfg.dataset,
        "seed": cfg.seed,
        "anchor_indices": anchors,
        "metrics": {"test": metrics},
        "train": {**asdict(cfg), "device": str(device), "time_s": round(elapsed, 3), "epoch_loss": losses,
                  "started": started, "finished": time.time()},
    }
    model.hparams = hp
    return model, meta


def train_and_save(cfg: TrainConfig, out_dir: Path | str, name: str | None = None, **kwargs) -> Checkpoint:
    model, meta = train(cfg, **kwargs)
    return save_checkpoint(model, out_dir, name or cfg.run_name(), meta)

"""The model zoo: the shipped checkpoints in ``assets/zoo`` plus the user's own trained models."""

from __future__ import annotations

import os
from pathlib import Path

from explorer.checkpoint import Checkpoint, list_checkpoints
from explorer.data import PROJECT_ROOT
from explorer.train import TrainConfig

ZOO_DIR = PROJECT_ROOT / "assets" / "zoo"


def user_models_dir() -> Path:
    """Where models trained in the app (or by the CLI without --out) go; git-ignored."""
    return Path(os.environ.get("EXPLORER_MODELS_DIR", PROJECT_ROOT / "models"))


def zoo_dirs() -> list[Path]:
    extra = os.environ.get("EXPLORER_ZOO_DIR")
    return [Path(extra) if extra else ZOO_DIR, user_models_dir()]


def all_checkpoints(dataset: str | None = None) -> tuple[list[Checkpoint], list[tuple[Path, str]]]:
    found, problems = list_checkpoints(*zoo_dirs())
    if dataset is not None:
        found = [c for c in found if c.dataset == dataset]
    return found, problems


def unique_name(base: str) -> str:
    """``base``, or ``base-2``, ``base-3``... so that a new model never shadows one in the pickers."""
    taken = {c.name for c in list_checkpoints(*zoo_dirs())[0]}
    taken |= {p.stem for d in zoo_dirs() if d.is_dir() for p in d.glob("*.json")}
    name, i = base, 1
    while name in taken:
        i += 1
        name = f"{base}-{i}"
    return name


# The shipped zoo. Sizes keep assets/zoo under 40 MB; the MNIST MLP classifier is the
# 784-512-512-512-10 network used for weight matching.
ZOO_SPEC: list[TrainConfig] = [
    *[TrainConfig("digits", "mlp_ae", s, 60, hparams={"latent": 2, "hidden": [256, 128]}) for s in range(3)],
    *[TrainConfig("digits", "mlp_ae", s, 60, hparams={"latent": 16, "hidden": [256]}) for s in range(3)],
    *[TrainConfig("digits", "rel_ae", s, 60, hparams={"latent": 16, "hidden": [256], "n_anchors": 300}) for s in range(3)],
    *[TrainConfig("digits", "vae", s, 60, hparams={"latent": 16, "hidden": [256]}) for s in range(3)],
    *[TrainConfig("digits", "mlp_clf", s, 30, hparams={"hidden": [512, 512, 512]}) for s in range(3)],
    *[TrainConfig("digits", "rel_clf", s, 30, hparams={"hidden": [256], "latent": 64, "n_anchors": 300}) for s in range(3)],
    *[TrainConfig("digits", "cnn_clf", s, 30) for s in range(2)],
    *[TrainConfig("digits", "rel_cnn_clf", s, 30, hparams={"hidden": [16, 32], "latent": 64, "n_anchors": 300}) for s in range(2)],
    # Two hidden layers: with one (784-256-64) relative stitching costs 2.6x the unstitched MSE, with
    # two (784-192-192-64) 1.75x, with 784-512-256-64 1.34x (measured, 2 seeds, 5 epochs); 192 keeps
    # the zoo under 40 MB. The absolute twins have the same shape.
    *[TrainConfig("mnist", "mlp_ae", s, 5, batch_size=256, hparams={"latent": 64, "hidden": [192, 192]}) for s in range(3)],
    *[TrainConfig("mnist", "rel_ae", s, 5, batch_size=256, hparams={"latent": 64, "hidden": [192, 192], "n_anchors": 300}) for s in range(3)],
    *[TrainConfig("mnist", "mlp_clf", s, 5, batch_size=256, hparams={"hidden": [512, 512, 512]}) for s in range(3)],
    *[TrainConfig("mnist", "rel_clf", s, 5, batch_size=256, hparams={"hidden": [256], "latent": 64, "n_anchors": 300}) for s in range(3)],
    *[TrainConfig("mnist", "cnn_clf", s, 5, batch_size=256, hparams={"channels": [16, 32], "fc": 128}) for s in range(2)],
]


# The atlas zoo (``python -m explorer zoo --atlas``): 3 architectures x 2 widths x 4 seeds of small digits
# classifiers, trained into the user's models folder rather than shipped (assets/zoo is at its 40 MB).
ATLAS_SHAPES: dict[str, tuple[str, dict]] = {
    "mlp-narrow": ("mlp_clf", {"hidden": [32, 32]}),
    "mlp-wide": ("mlp_clf", {"hidden": [128, 128]}),
    "cnn-narrow": ("cnn_clf", {"channels": [8, 16], "fc": 32}),
    "cnn-wide": ("cnn_clf", {"channels": [16, 32], "fc": 128}),
    "rel-narrow": ("rel_clf", {"hidden": [64], "latent": 32, "n_anchors": 100}),
    "rel-wide": ("rel_clf", {"hidden": [256], "latent": 64, "n_anchors": 100}),
}
ATLAS_SEEDS = (0, 1, 2, 3)
ATLAS_SPEC: list[tuple[str, TrainConfig]] = [
    (f"digits-atlas-{shape}-s{seed}", TrainConfig("digits", arch, seed, 30, hparams=dict(hp)))
    for shape, (arch, hp) in ATLAS_SHAPES.items() for seed in ATLAS_SEEDS
]


def atlas_todo(folder: Path) -> list[tuple[str, TrainConfig]]:
    """The atlas zoo's networks not yet in ``folder``. One already there is kept when it was trained with the
    same settings; a file of the same name trained otherwise is never overwritten: a ValueError names it."""
    from explorer.checkpoint import read_sidecar

    todo = []
    for name, cfg in ATLAS_SPEC:
        sidecar, weights = Path(folder) / f"{name}.json", Path(folder) / f"{name}.safetensors"
        if not sidecar.exists():
            if weights.exists():  # weights of that name and no sidecar: not ours to replace
                raise ValueError(f"{weights} exists without its sidecar {sidecar.name}: move it away (it is left as it is)")
            todo.append((name, cfg))
            continue
        train = read_sidecar(sidecar).meta.get("train")
        train = train if isinstance(train, dict) else {}
        if (train.get("arch"), train.get("seed"), train.get("epochs"), train.get("hparams")) != (cfg.arch, cfg.seed, cfg.epochs, cfg.hparams):
            raise ValueError(f"{sidecar} exists and was not trained as the atlas zoo's {name}: move it away (it is left as it is)")
    return todo


def train_atlas(folder: Path, device: str, progress=None, saved=None) -> list[Checkpoint]:
    """Train the atlas zoo's missing networks (``atlas_todo``) into ``folder``, one after another; each is saved
    when its training ends, so a stop (an exception from ``progress``) keeps the finished ones and no part of
    the others. ``progress(i, n, name, p)``: network ``i`` of the ``n`` to train, its ``train.Progress``;
    ``saved(checkpoint)``: after each is saved."""
    from explorer.train import train_and_save

    todo = atlas_todo(folder)
    done = []
    for i, (name, cfg) in enumerate(todo):
        if Path(folder).resolve() == user_models_dir().resolve():
            check_models_room(folder)
        done.append(train_and_save(cfg, folder, name, device=device,
                                   progress=None if progress is None else lambda p, i=i, name=name: progress(i, len(todo), name, p)))
        if saved is not None:
            saved(done[-1])
    return done


def zoo_frame(cks: list[Checkpoint]):
    """One row per checkpoint: name, architecture, dataset, seed, size, test metrics, training time."""
    import pandas as pd

    from explorer.models import arch_info

    rows = []
    for c in cks:
        m = c.meta.get("metrics", {}).get("test", {})
        hp = c.meta.get("hparams", {})
        rows.append(
            {
                "model": c.name,
                "architecture": arch_info(c.arch).description,
                "arch": c.arch,
                "dataset": c.dataset,
                "seed": c.seed,
                "latent": hp.get("latent"),
                "anchors": hp.get("n_anchors"),
                "parameters": c.meta.get("n_params"),
                "test MSE": m.get("mse"),
                "test accuracy": m.get("accuracy"),
                "test macro-F1": m.get("macro_f1"),
                "train time (s)": c.meta.get("train", {}).get("time_s"),
                "folder": "zoo" if c.sidecar.parent.resolve() == ZOO_DIR.resolve() else str(c.sidecar.parent),
            }
        )
    return pd.DataFrame(rows)


def zoo_table(df):
    """The zoo frame as the Home page shows it: no empty cells spelled "None" (a dash instead), one test
    column (MSE for autoencoders, accuracy otherwise, with macro-F1 beside it), numbers rounded."""
    import pandas as pd

    def num(v, fmt):
        return "—" if v is None or pd.isna(v) else format(v, fmt)

    def column(name, fmt):  # numbers stay numbers (they sort) unless a cell is missing
        col = df[name]
        return col if col.notna().all() else [num(v, fmt) for v in col]

    out = pd.DataFrame({
        "model": df["model"],
        "architecture": df["architecture"],
        "seed": column("seed", "d"),
        "latent": [num(v, ".0f") for v in df["latent"]],
        "anchors": [num(v, ".0f") for v in df["anchors"]],
        "parameters": column("parameters", ",.0f"),
        "test": [f"MSE {m:.4f}" if pd.notna(m) else f"accuracy {a:.4f}" if pd.notna(a) else "—"
                 for m, a in zip(df["test MSE"], df["test accuracy"])],
        "macro-F1": [num(v, ".4f") for v in df["test macro-F1"]],
        "train (s)": column("train time (s)", ".1f"),
        "folder": df["folder"],
    })
    return out.loc[:, [c for c in out.columns if (out[c] != "—").any()]]


# Relative architectures and the absolute twin each is compared with in zero-shot stitching.
_TWINS = {"rel_ae": "mlp_ae", "rel_clf": "mlp_clf", "rel_cnn_clf": "cnn_clf"}


def stitch_groups(cks: list[Checkpoint]) -> dict[str, tuple[list[str], list[str]]]:
    """Groups of zoo models for zero-shot stitching: label -> (relative model names, absolute twin names).

    A group holds every seed of one relative architecture (same hyperparameters, so same anchors),
    plus a cross-architecture group when MLP and CNN relative classifiers share the anchors.
    """
    groups: dict[str, tuple[list[str], list[str]]] = {}
    for rel_arch, abs_arch in _TWINS.items():
        rel = [c for c in cks if c.arch == rel_arch]
        for latent in sorted({c.meta["hparams"].get("latent") for c in rel}):
            r = [c.name for c in rel if c.meta["hparams"].get("latent") == latent]
            a = [c.name for c in cks if c.arch == abs_arch and (abs_arch != "mlp_ae" or c.meta["hparams"].get("latent") == latent)]
            if len(r) >= 2:
                groups[f"{rel_arch} (latent {latent}) vs {abs_arch}"] = (r, a)
    mlp, cnn = [c for c in cks if c.arch == "rel_clf"], [c for c in cks if c.arch == "rel_cnn_clf"]
    if mlp and cnn and mlp[0].anchor_indices == cnn[0].anchor_indices:
        groups["relative MLP + CNN classifiers (across architectures) vs MLP + CNN"] = (
            [c.name for c in mlp + cnn], [c.name for c in cks if c.arch in ("mlp_clf", "cnn_clf")])
    return groups


def training_warning(ck: Checkpoint, reference: list[Checkpoint] | None = None) -> str | None:
    """A warning when a newly trained model is far worse than the zoo's models of its dataset and
    architecture (test MSE above 3x their median, or accuracy more than 10 points below it)."""
    import numpy as np

    reference = reference if reference is not None else all_checkpoints(ck.dataset)[0]
    peers = [c for c in reference if c.arch == ck.arch and c.name != ck.name and c.meta.get("metrics", {}).get("test")]
    test = ck.meta.get("metrics", {}).get("test", {})
    if not peers or not test:
        return None
    if "mse" in test:
        ref = float(np.median([c.meta["metrics"]["test"]["mse"] for c in peers if "mse" in c.meta["metrics"]["test"]]))
        if test["mse"] > 3 * ref:
            return (f"{ck.name}: test MSE {test['mse']:.4f} is {test['mse'] / ref:.0f}x the zoo's {ref:.4f} for {ck.arch} "
                    f"on {ck.dataset}; the learning rate ({ck.meta['train']['lr']:g}) may be too high or the run too short")
    elif "accuracy" in test:
        ref = float(np.median([c.meta["metrics"]["test"]["accuracy"] for c in peers if "accuracy" in c.meta["metrics"]["test"]]))
        if test["accuracy"] < ref - 0.10:
            return (f"{ck.name}: test accuracy {test['accuracy']:.3f} is far below the zoo's {ref:.3f} for {ck.arch} on "
                    f"{ck.dataset}; the learning rate ({ck.meta['train']['lr']:g}) may be too high or the run too short")
    return None


MODELS_MAX_BYTES = 2 * 1024**3  # the user's models folder is capped (EXPLORER_MODELS_MAX_BYTES)


def check_models_room(folder: Path | None = None, need: int = 0) -> None:
    """A clear error when the user's models folder is at its size cap (it never grows past it)."""
    folder = Path(folder) if folder is not None else user_models_dir()
    cap = int(os.environ.get("EXPLORER_MODELS_MAX_BYTES", MODELS_MAX_BYTES))
    used = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0
    if used + need > cap:
        raise ValueError(f"the models folder {folder} holds {used / 2**20:.0f} MB, at its cap of {cap / 2**20:.0f} MB "
                         "(EXPLORER_MODELS_MAX_BYTES): remove models you no longer need, or raise the cap")

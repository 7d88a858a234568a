"""Speed of the sources (issue 14): MiniLM hidden states for 5,000 words (words/s), a torchvision resnet18 on
1,000 MNIST images at 224 px (images/s), upload to first chart for a 10,000 x 384 file, and a warm rerun of
each page on each source kind (AppTest: the server's time, not the browser's).

    python benchmarks/bench_sources.py
"""

import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
tmp = Path(tempfile.mkdtemp())
os.environ["EXPLORER_MODELS_DIR"] = str(tmp / "models")
os.environ["EXPLORER_CACHE_DIR"] = str(tmp / "cache")
if (ROOT.parent / "shared" / "datasets" / "MNIST" / "raw").is_dir():  # as `make bench` sets it
    os.environ.setdefault("EXPLORER_DATA_DIR", str(ROOT.parent / "shared" / "datasets"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from explorer import sources  # noqa: E402
from explorer.data import is_available  # noqa: E402

torch.set_num_threads(os.cpu_count() or 1)


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


words = {s.name: s for s in sources.list_sources(sources.WORDS)}
probe = sources.load_any_probe(sources.WORDS, 5000)
sources.activations(words["minilm-l6:mean"], sources.load_any_probe(sources.WORDS, 20), "cpu")  # load once: not the rate
_, s = timed(lambda: sources.activations(words["minilm-l6:mean"], probe, "cpu"))
from sentence_transformers import SentenceTransformer  # noqa: E402  the peer: its own encode, last layer only

peer = SentenceTransformer(str(sources.builtin_text_model()), device="cpu", local_files_only=True)
peer.encode(list(probe.texts[:64]))
_, s_peer = timed(lambda: peer.encode(list(probe.texts), batch_size=256))
print(f"MiniLM-L6, 7 hidden states of 5000 words: {s:.1f} s = {5000 / s:.0f} words/s; sentence-transformers' encode "
      f"(last layer only) {s_peer:.1f} s; ratio ours / peer {s / s_peer:.2f}")

dataset = "mnist" if is_available("mnist") else "digits"
n = 1000 if dataset == "mnist" else 359
net = sources.add_network("resnet18", dataset, name="bench-resnet18", input_size=224)
img_probe = sources.load_any_probe(dataset, n)
_, s = timed(lambda: sources.activations(net, img_probe, "cpu"))
import torchvision  # noqa: E402  the peer: a plain forward pass of the same network, no hooks, same preprocessing

from explorer.pretrained import image_transform  # noqa: E402

plain = torchvision.models.resnet18(weights=None).eval()
prep = image_transform("resnet18", 224)


def plain_forward():
    with torch.no_grad():
        for i in range(0, n, 64):
            plain(prep(img_probe.x[i : i + 64]))


_, s_peer = timed(plain_forward)
print(f"resnet18 (random init) at 224 px, 8 layers of {n} {dataset} images: {s:.1f} s = {n / s:.0f} images/s; a plain "
      f"forward pass {s_peer:.1f} s; ratio ours / plain {s / s_peer:.2f}")

rng = np.random.default_rng(0)
buf = io.BytesIO()
np.savez(buf, emb=rng.normal(size=(10000, 384)).astype(np.float32), labels=rng.integers(0, 10, 10000))
from streamlit.testing.v1 import AppTest  # noqa: E402


def page(path, **params):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=600)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    at.switch_page(path).run()
    assert not at.exception, at.exception
    return at


t = time.perf_counter()
ds = sources.store_embeddings(buf.getvalue(), "bench.npz")
at = page("app_pages/latent_spaces.py", dataset=ds, probe="1000")
print(f"10000 x 384 file: store + first Latent spaces run (probe 1000, PCA views, agreement, sweep): {time.perf_counter() - t:.1f} s")

for label, params in [("zoo checkpoint (digits)", {}), ("your resnet18", {"dataset": dataset, "model_a": "bench-resnet18", "model_b": "bench-resnet18", "probe": str(n)}),
                      ("MiniLM vs GloVe (words)", {"dataset": "words", "probe": "1000"}), ("your file", {"dataset": ds, "probe": "1000"})]:
    for path in ("app_pages/latent_spaces.py", "app_pages/layer_geometry.py", "app_pages/similarity.py"):
        if "resnet" in label and "latent" in path:
            continue
        at = page(path, **params)  # the first visit fills the caches
        at.run()
        s = sorted(timed(lambda: at.run())[1] for _ in range(3))[1]
        print(f"warm rerun (median of 3), {label:26s} {path.split('/')[-1]:18s} {s:.2f} s")

# What a person waits for: in Chromium, from choosing the 10,000 x 384 file to the four views of Latent spaces.
try:
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS, streamlit_server, wait_idle
except ImportError as exc:
    print(f"browser timing skipped: {exc}")
else:
    big = tmp / "big_vectors.npz"
    big.write_bytes(buf.getvalue())
    env = {"EXPLORER_MODELS_DIR": str(tmp / "models-browser"), "EXPLORER_CACHE_DIR": str(tmp / "cache-browser")}
    with streamlit_server(env) as url, sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = b.new_context(viewport={"width": 1500, "height": 1100}).new_page()
        page.goto(url)
        page.get_by_text("Add your own").wait_for(timeout=120_000)
        wait_idle(page, 120_000)
        t = time.perf_counter()
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(big))
        page.get_by_role("button", name="Add this file").click()
        page.get_by_text("Added big_vectors.npz as dataset").wait_for(timeout=120_000)
        wait_idle(page, 120_000)
        added = time.perf_counter() - t
        page.get_by_role("link", name="Latent spaces").click()
        page.get_by_text("relative B (").first.wait_for(timeout=300_000)
        page.locator('[data-testid="stVegaLiteChart"]').nth(3).wait_for(timeout=300_000)
        print(f"browser: upload of the 10000 x 384 file until it is added {added:.1f} s; until Latent spaces shows its "
              f"four views {time.perf_counter() - t:.1f} s (probe 1000)")
        b.close()

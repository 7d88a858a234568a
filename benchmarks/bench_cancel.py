"""How fast Cancel stops the work, in Chromium: the seconds from the click on Cancel to the first sign of
the stop (the toast the next run shows first), timed inside the page, for a UMAP fit (Latent spaces) and a
stitch training (Stitching); median and worst of 5 each. The goal: under 1 s.

    python benchmarks/bench_cancel.py
"""

import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.browser import CHROMIUM, CHROMIUM_ARGS, streamlit_server, wait_idle  # noqa: E402
from tests.test_e2e_reliability import seconds_to_cancel  # noqa: E402  the tests' own in-page timing

RUNS = 5
tmp = Path(tempfile.mkdtemp())
with streamlit_server({"EXPLORER_CACHE_DIR": str(tmp / "cache"), "EXPLORER_MODELS_DIR": str(tmp / "models")}) as url, \
        sync_playwright() as p:
    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    for label, path, start, note in [
        ("UMAP fit", "latent_spaces?ls_view=umap&ls_anchors={n}", None, "Cancelled: UMAP of the four views"),
        ("stitch training", "stitching?model_a=digits-mlp_clf-s0&model_b=digits-mlp_clf-s1&st_epochs={e}", "Train the stitches",
         "Cancelled: Fitting stitches"),
    ]:
        took = []
        for i in range(RUNS):  # other parameters each time: a new job, never a cached one
            page = browser.new_context(viewport={"width": 1500, "height": 1100}).new_page()
            page.goto(f"{url}/{path.format(n=50 + i, e=200 - i)}")
            if start:
                page.get_by_text("Zero-shot stitching").first.wait_for(timeout=120_000)
                wait_idle(page, 120_000)
                page.get_by_role("tab", name="Trained stitching layers").click()
                page.get_by_role("button", name=start).click()
            took.append(seconds_to_cancel(page, note))
            page.context.close()
        print(f"Cancel of a {label}: median {statistics.median(took):.2f} s, worst {max(took):.2f} s over {RUNS} "
              f"(goal < 1 s): {', '.join(f'{t:.2f}' for t in took)}")
    browser.close()

"""App benchmark: for every page, the cold first render (new process, empty disk cache) and the warm
rerun, with Streamlit's AppTest on CPU. Run: `python benchmarks/bench_app.py`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from explorer.ui import PAGES  # noqa: E402

ONE_PAGE = r"""
import json, sys, time
t0 = time.perf_counter()
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({app!r}, default_timeout=600)
for k, v in {params!r}.items():
    at.query_params[k] = v
t1 = time.perf_counter()
at.run()
if {page!r} != {home!r}:
    at.switch_page({page!r}).run()
t2 = time.perf_counter()
warm = []
for _ in range(3):
    t = time.perf_counter(); at.run(); warm.append(time.perf_counter() - t)
ok = not at.exception and not at.error
print(json.dumps({{"cold_process": t2 - t0, "cold_render": t2 - t1, "warm": min(warm), "ok": ok}}))
"""

# The default view of each page, and the view a talk would open (two seeds of one classifier).
VIEWS = {"app_pages/layer_geometry.py": {"model_a": "digits-mlp_clf-s0", "model_b": "digits-mlp_clf-s1"},
         "app_pages/interpolation.py": {"model_a": "digits-mlp_clf-s0", "model_b": "digits-mlp_clf-s1"},
         "app_pages/similarity.py": {"model_a": "digits-mlp_clf-s0", "model_b": "digits-mlp_clf-s1"}}


def main():
    rows = []
    for path, title, _, _ in PAGES:
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "EXPLORER_CACHE_DIR": cache, "EXPLORER_MODELS_DIR": str(Path(cache) / "models")}
            code = ONE_PAGE.format(app=str(ROOT / "streamlit_app.py"), page=path, home=PAGES[0][0], params=VIEWS.get(path, {}))
            out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{title}: failed\n{out.stderr[-2000:]}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append((title, r))
    print(f"{'page':16s} {'cold, new process':>18s} {'cold render':>12s} {'warm rerun':>11s}  ok")
    for title, r in rows:
        print(f"{title:16s} {r['cold_process']:17.2f}s {r['cold_render']:11.2f}s {r['warm']:10.3f}s  {r['ok']}")
    print("targets: warm rerun < 0.3 s, cold default render < 15 s (2-core CPU)")


if __name__ == "__main__":
    main()

"""The README's MiniLM results, measured on this machine: `python benchmarks/reproduce_sources.py`.

MiniLM-L6 (all-MiniLM-L6-v2, mean-pooled hidden states) on the 5,000 most frequent words GloVe and
MiniLM share: TwoNN ID (with its standard error) and the overlap with the previous layer along the 7
hidden states; linear CKA of every layer with every other; relative vs absolute agreement of the
last layer with GloVe on the same words. Everything goes through the same functions as the pages.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from explorer import analyses, sources  # noqa: E402
from explorer.retrieval import agreement  # noqa: E402

N, K, ANCHORS = 5000, 10, 300

srcs = {s.name: s for s in sources.list_sources(sources.WORDS)}
probe = sources.load_any_probe(sources.WORDS, N)
t = time.perf_counter()
for pooling in ("mean", "cls"):
    minilm = srcs[f"minilm-l6:{pooling}"]
    prof = analyses.layer_profile(minilm, probe, K)
    print(f"MiniLM-L6, {pooling} pooling, {N} words, k={K}: TwoNN ID ± stderr and overlap with the previous layer")
    for _, r in prof.iterrows():
        prev = "" if r["overlap with previous"] != r["overlap with previous"] else f"{r['overlap with previous']:.3f}"
        print(f"  {r['layer']:10s} width {r['width']:3d}  ID {r['id']:6.2f} ± {r['id stderr']:.2f}  overlap {prev}")
small = sources.load_any_probe(sources.WORDS, 500)
prof = analyses.layer_profile(srcs["minilm-l6:mean"], small, K)
print("\nThe same (mean pooling) on the 500 most frequent words only: ID " +
      " -> ".join(f"{v:.2f}" for v in prof["id"]) + " (stderr about " + f"{prof['id stderr'].mean():.2f})")
minilm = srcs["minilm-l6:mean"]
cka = analyses.similarity_matrix(minilm, None, probe, "cka_linear")
print("\nLinear CKA, every MiniLM layer (mean pooling) against every other:")
print(cka.pivot(index="layer A", columns="layer B", values="similarity").loc[list(dict.fromkeys(cka["layer A"])),
                                                                          list(dict.fromkeys(cka["layer A"]))].round(3).to_string())
acts_m, acts_g = sources.activations(minilm, probe), sources.activations(srcs[sources.GLOVE], probe)
ZA, ZB = torch.from_numpy(acts_m["layer.6"]), torch.from_numpy(acts_g["embedding"])
idx = analyses.anchors(probe, ANCHORS, "random")
table = agreement(ZA, ZB, idx, "cosine", False, K)
print(f"\nMiniLM layer.6 (mean) vs GloVe 50-d on the same {N} words, {ANCHORS} random anchors, cosine, k={K}:")
print(table.round(3).to_string(index=False))
print(f"\n({time.perf_counter() - t:.0f} s)")

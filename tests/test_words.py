import numpy as np
import pytest

from explorer.words import DEMO_WORDS, load_glove, load_minilm, shared_vocabulary, word_table, word_views


def test_shared_vocabulary_follows_the_rules_and_keeps_rows_aligned():
    ws = shared_vocabulary(2000)
    g_words, g_emb = load_glove()
    m_vocab, m_emb = load_minilm()
    assert g_emb.shape == (400000, 50) and m_emb.shape == (30522, 384)
    assert len(ws.words) == 2000 and len(set(ws.words)) == 2000
    assert all(len(w) >= 4 and w.isalpha() and w.isascii() for w in ws.words)
    assert ws.words[:3] == ["troops", "whether", "lost"]  # GloVe frequency order, after the 400 most frequent entries
    assert shared_vocabulary(2000, skip_top=0).words[:3] == ["that", "said", "with"]
    for w in ("troops", "music", ws.words[-1]):
        i = ws.words.index(w)
        assert np.array_equal(ws.glove[i].numpy(), g_emb[g_words.index(w)])
        assert np.array_equal(ws.minilm[i].numpy(), m_emb[m_vocab.index(w)])
    skipped = [w for w in g_words[400:600] if w.isalpha() and len(w) >= 4 and w not in ws.words]
    assert all(w not in m_vocab for w in skipped)  # only words that are not whole MiniLM tokens are left out
    full = shared_vocabulary(20000, skip_top=0).words  # the 2-D word view keeps the most frequent words
    assert all(w in full for kind in DEMO_WORDS.values() for w in kind)


def test_small_word_table_shows_relative_beats_absolute():
    df = word_table(n_words=3000, n_anchors=300, seeds=2, k=10)
    assert len(df) == 8 and set(df["space"]) == {"absolute", "relative"}
    t = df.set_index(["direction", "space", "centred"])
    for d in ("GloVe → MiniLM", "MiniLM → GloVe"):
        for c in (False, True):
            for m in ("jaccard", "mrr"):
                assert t.loc[(d, "relative", c), m] > 10 * max(t.loc[(d, "absolute", c), m], 1e-3)
            assert t.loc[(d, "absolute", c), "jaccard std"] == 0.0
    # centring helps relative agreement on these two spaces
    assert t.loc[("MiniLM → GloVe", "relative", True), "mrr"] > t.loc[("MiniLM → GloVe", "relative", False), "mrr"]


def test_word_views_and_errors():
    v = word_views(["horse", "tiger", "green", "black"], n_words=20000, n_anchors=50)
    assert set(v["view"]) == {"absolute GloVe", "relative GloVe", "absolute MiniLM", "relative MiniLM"} and len(v) == 16
    assert set(word_views(["horse", "green", "black", "xqzzy"], n_words=20000, strict=False)["word"]) == {"horse", "green", "black"}
    with pytest.raises(ValueError, match="not in the shared vocabulary"):
        word_views(["horse", "xqzzy"], n_words=2000)
    with pytest.raises(ValueError, match="anchors"):
        word_table(n_words=100, n_anchors=500, seeds=1)

"""House rules: pages stay thin, the library stays free of streamlit, checkpoints are never unpickled."""

import re

from tests.conftest import ROOT


def test_pages_are_thin_and_do_no_math():
    pages = sorted((ROOT / "app_pages").glob("*.py"))
    assert pages
    for p in pages:
        text = p.read_text()
        assert len(text.splitlines()) <= 250, f"{p.name} is longer than 250 lines"
        assert not re.search(r"torch\.(linalg|svd|matmul|cdist)|@\s*\w+\.T\b|np\.linalg", text), f"{p.name} does math"


def test_streamlit_only_in_ui_and_nothing_unpickled():
    for p in (ROOT / "explorer").rglob("*.py"):
        text = p.read_text()
        if "ui" not in p.relative_to(ROOT / "explorer").parts:
            assert not re.search(r"^\s*(import streamlit|from streamlit)", text, re.M), p
        assert not re.search(r"pickle\.loads?\(|allow_pickle=True", text), p
        # user weights only through torch.load(weights_only=True): every call says so
        for line in text.splitlines():
            if "torch.load(" in line:
                assert "weights_only=True" in line, (p, line)

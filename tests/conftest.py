"""Test settings: every test writes its cache and models under a temporary folder, never in ~ or the repo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
SHARED = (ROOT.parent / "shared" / "datasets").resolve()

torch.set_num_threads(2)


def pytest_configure(config):
    base = Path(os.environ.get("PYTEST_TMPROOT", "/tmp")) / f"latent-explorer-tests-{os.getpid()}"
    os.environ["EXPLORER_CACHE_DIR"] = str(base / "cache")
    os.environ["EXPLORER_MODELS_DIR"] = str(base / "models")
    # no background UMAP compilation in the test servers (20 s of a core each); tests/test_relative.py covers it
    os.environ.setdefault("EXPLORER_UMAP_WARMUP", "0")
    if (SHARED / "MNIST" / "raw").is_dir():
        os.environ["EXPLORER_DATA_DIR"] = str(SHARED)


@pytest.fixture
def mnist_root() -> Path:
    if not (SHARED / "MNIST" / "raw").is_dir():
        pytest.skip(f"real MNIST not found at {SHARED} (see ../shared/datasets/README.md)")
    return SHARED


@pytest.fixture
def models_dir(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "models"
    monkeypatch.setenv("EXPLORER_MODELS_DIR", str(d))
    return d


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    """A fresh disk cache, with every in-process cache emptied so that the app really uses it
    (AppTest runs in this process: st.cache_* and the memo LRU outlive a single test)."""
    import streamlit as st

    from explorer.ui import cached

    d = tmp_path / "cache"
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(d))
    st.cache_data.clear()
    st.cache_resource.clear()
    cached._MEMORY.clear()
    return d


def open_page(page: str | None = None, **params):
    """Run the app in Streamlit's AppTest with ``params`` in the URL, then switch to ``page``."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=180)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    return at.switch_page(page).run() if page else at


def linked_views(at) -> list[tuple[dict, "object"]]:
    """The linked 2-D views an AppTest run drew: (meta, frame) per view, in page order."""
    from explorer.ui.deck_runner import linked_views as views

    return views(at)


def sprite_of(at) -> bytes | None:
    """The bytes of the hover-image sprite an AppTest run sent, if any."""
    for e in at.get("bidi_component"):
        if e.proto.component_name == "latent_explorer.image_sprite":
            return e.proto.bytes
    return None

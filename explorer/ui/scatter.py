"""Linked 2-D views on a canvas (linked_view.js): one Streamlit element per view, linked in the browser.

A view's element is its own message, so a change that moves two of four views re-sends two; the hover
images travel once per probe as one sprite sheet (image_sprite.js) instead of a data URL per point and
per view. The payloads are built by the pure functions in ``explorer.charts``.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

_HERE = Path(__file__).parent
_VIEW = st.components.v2.component(
    "latent_explorer.linked_view",
    js=(_HERE / "linked_view.js").read_text(),
    css=(_HERE / "linked_view.css").read_text(),
)
_SPRITE = st.components.v2.component("latent_explorer.image_sprite", js=(_HERE / "image_sprite.js").read_text())


def linked_views(payloads: list[dict], sprite: bytes | None = None, columns: int = 2) -> None:
    """Draw the views of ``charts.view_payloads`` in a grid of ``columns``, linked by their group."""
    if sprite is not None:
        _SPRITE(data=sprite, key=f"sprite_{payloads[0]['meta']['group']}")
    for start in range(0, len(payloads), columns):
        cells = st.columns(columns, gap="medium")
        for p, cell in zip(payloads[start : start + columns], cells):
            with cell:
                _VIEW(data=p, key=f"view_{p['meta']['group']}_{p['meta']['key']}")

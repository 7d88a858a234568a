"""Talk decks in the app: play one (``?deck=NAME&slide=3``, arrow keys), record views into one.

Playing: the slide's page and widget state are opened in this session (``state.open_view``), so
going to the next slide is a rerun, not a page load, and its analyses come from the cache. The
URL always says which slide is shown; a second window with ``&notes=1`` shows the speaker note and
follows the slide the presenting window is on (a server-wide position per deck).

Recording: "Add this view" appends the page and its URL state to the user's deck file; the panel
lists, retitles, reorders and removes slides, and plays the deck.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import streamlit as st

from explorer import deck as decks
from explorer.ui.state import current_view, finish_view, open_view
from explorer.ui.warm import warm_deck

_HERE = Path(__file__).parent
_KEYS = st.components.v2.component("latent_explorer.deck_keys", js=(_HERE / "deck_keys.js").read_text())
_AT = "_deck_at"  # (deck name, slide number) this session shows
_NOTES = "_deck_notes"  # {(deck, slide): what the slide asked for and did not get}
_SLOT = "_deck_slot"  # (placeholder under the bar, the deck's file) for this run
_POSITION: dict[str, int] = {}  # the slide each deck's presenting window is on (server-wide: the notes window follows it)
_POSITION_LOCK = threading.Lock()
PLAY_KEYS = decks.PLAY_KEYS


# What Streamlit's frontend loads only when a page first shows such an element, and the deck's pages show:
# the files the browser asked for after slide 1 while walking the shipped deck (Streamlit 1.67), and the
# other widget kinds our pages use (a deck of your own may start elsewhere). Names that this Streamlit does
# not have are skipped; the keys component imports the rest once the browser is idle.
_LAZY = ("js/Slider.", "js/Multiselect.", "js/ImageList.", "js/rehype-katex.", "js/Metric.", "js/loadVegaEmbed.",
         "js/NumberInput.", "js/Radio.", "js/DownloadButton.", "media/KaTeX_Main-Regular.", "media/KaTeX_Math-Italic.")


@functools.cache
def lazy_frontend_files() -> tuple[str, ...]:
    """Paths, relative to Streamlit's entry script (static/js/index.*.js), of the files in ``_LAZY``."""
    static = Path(st.__file__).parent / "static" / "static"
    found = []
    for prefix in _LAZY:
        folder, stem = prefix.split("/")
        kind = ".js" if folder == "js" else ".woff2"
        found += sorted(f"{'./' if folder == 'js' else '../media/'}{f.name}" for f in (static / folder).glob(f"{stem}*{kind}")
                        if f.name.count(".") == 2)  # Name.HASH.ext, not Name.Other.HASH.ext
    return tuple(found)


def page_key(path: str) -> str:
    """A page's name in a deck: its script's file name without .py ("latent_spaces")."""
    return Path(path).stem


def playing() -> tuple[str, int] | None:
    """(deck, slide) when the URL asks to play a deck."""
    name = st.query_params.get("deck")
    if not name:
        return None
    try:
        return name, max(1, int(st.query_params.get("slide", "1")))
    except ValueError:
        return name, 1


def _load(name: str) -> decks.Deck:
    return decks.load(decks.path_of(name))


def _go(pages: dict, name: str, number: int, notes: bool) -> None:
    """Open slide ``number`` of deck ``name`` (raises Streamlit's rerun), or say why it cannot be."""
    deck = _load(name)
    number = min(max(1, number), len(deck.slides))
    slide = deck.slides[number - 1]
    st.session_state[_AT] = (name, number)
    keep = {"deck": name, "slide": str(number), **({"notes": "1"} if notes else {})}
    if not notes:
        with _POSITION_LOCK:
            _POSITION[name] = number
    page = pages.get(slide.page)
    if page is None:  # the slide stays on the page it is, with the reason (see play_bar)
        st.session_state.setdefault(_NOTES, {})[(name, number)] = [
            f"this slide names the page “{slide.page}”, which does not exist (the pages: {', '.join(pages)}); "
            f"edit \"page\" of slide {number} in {decks.path_of(name)}"]
        st.query_params.from_dict(keep)
        st.rerun()
    open_view(page, {**slide.state, "present": "true"}, keep)


def play_bar(pages: dict, current: str) -> None:
    """At the top of every page while a deck plays: the slide's title large, Previous / Next, the
    position, the arrow keys, and what the slide asked for and did not get (or why it cannot open)."""
    at = playing()
    if at is None:
        st.session_state.pop(_AT, None)
        return
    name, number = at
    notes = st.query_params.get("notes") == "1"
    try:
        deck = _load(name)
    except decks.DeckError as exc:
        st.error(f"This link plays a deck that cannot be opened: {exc}")
        return
    if not deck.slides:
        st.error(f"The deck “{name}” has no slides yet: add views with “Add this view to the deck” (sidebar, Presentation off).")
        return
    warm_deck(name, deck)  # its datasets and models, in the background, before the next slides ask for them
    goto = st.session_state.pop("_deck_goto", None)
    if goto is not None:
        _go(pages, name, goto, notes)
    if st.session_state.get(_AT) != (name, min(number, len(deck.slides))):  # a link, a reload, Back or Forward
        _go(pages, name, number, notes)
    number = min(number, len(deck.slides))
    slide = deck.slides[number - 1]
    left, mid, right = st.columns([1, 8, 2], vertical_alignment="center")
    with mid:
        st.markdown(f"<div style='font-size:2.4rem;font-weight:700;line-height:1.15'>{_escape(slide.title or deck.title or name)}</div>",
                    unsafe_allow_html=True)
    with right:
        b1, b2, b3 = st.columns(3)
        b1.button("◀", key="deck_prev", help="Previous slide (Left arrow)", disabled=number <= 1, on_click=_step, args=(-1,))
        b2.markdown(f"<div style='text-align:center;font-size:1.1rem' data-testid='deck-position'>{number} / {len(deck.slides)}</div>",
                    unsafe_allow_html=True)
        b3.button("▶", key="deck_next", help="Next slide (Right arrow, Page Down, Space)", disabled=number >= len(deck.slides),
                  on_click=_step, args=(1,))
    with left:
        if st.button("Exit deck", key="deck_exit", help="Back to the app, on this view"):
            # the view reopened without the deck's parameters, so that its widgets write theirs into the URL again
            # (taking the deck's out of the URL alone left the address bar without the view: a copy lost it)
            st.session_state.pop(_AT, None)
            open_view(pages[current], current_view(unopened=True), {})
    _KEYS(data={"slide": number, "n": len(deck.slides), "preload": list(lazy_frontend_files())}, key="deck_keys",
          on_nav_change=_on_key)
    st.session_state[_SLOT] = (st.empty(), str(decks.path_of(name)))  # filled by after_page: what the slide did not get
    if notes:
        st.info(slide.note or "(no note for this slide)", icon=":material/speaker_notes:")
        _follow(name, number)


# The buttons and the keys only ask for a slide, in their callbacks (run before the script): the next run opens it
# at the top of play_bar, before anything of the slide they were pressed on is drawn again. A step counts from the
# slide already asked for, if its run has not opened it yet (two quick presses go two slides), else from the one shown.
def _step(step: int) -> None:
    asked = st.session_state.get("_deck_goto")
    shown = st.session_state.get(_AT)
    base = asked if asked is not None else shown[1] if shown else None
    if base is not None:
        st.session_state["_deck_goto"] = base + step


def _on_key() -> None:
    step = {"prev": -1, "next": 1}.get(st.session_state["deck_keys"].get("nav") or "", 0)
    if step:
        _step(step)


def _escape(text: str) -> str:
    import html

    return html.escape(text)


@st.fragment(run_every=1.0)
def _follow(name: str, number: int) -> None:
    """The notes window follows the presenting window's slide."""
    with _POSITION_LOCK:
        there = _POSITION.get(name)
    if there is not None and there != number:
        st.session_state["_deck_goto"] = there
        st.rerun(scope="app")


def after_page() -> None:
    """After the page ran: a slide just opened keeps the notes on what it did not get, and a slide
    with such notes says so at its top (the widgets that noted them are drawn after the bar)."""
    at = st.session_state.get(_AT)
    notes = finish_view()
    if at is not None and notes:
        st.session_state.setdefault(_NOTES, {})[at] = list(dict.fromkeys(notes))
    slot = st.session_state.pop(_SLOT, None)
    missing = st.session_state.get(_NOTES, {}).get(at) if at else None
    if slot is None or not missing or playing() != at:
        return
    box, where = slot
    number = at[1]
    box.warning(f"Slide {number} asks for what this app does not have: " + "; ".join(missing)
                + f". The rest of the slide shows the defaults. To fix it, pick the values in the sidebar and add the view "
                  f"again, or edit slide {number}'s \"state\" in {where} (`python -m explorer deck precompute` checks every slide).")


def record_panel(current: str) -> None:
    """The sidebar's deck panel (Presentation off): add this view, and the slides of the deck."""
    with st.sidebar.expander("Talk deck", icon=":material/slideshow:"):
        name = st.text_input("Deck", value="my-talk", key="deck_name", help="A name: letters, digits, '.', '_' and '-'. "
                             f"Saved in {decks.user_dir()}.")
        if not decks.NAME.match(name or ""):
            st.error("A deck name is letters, digits, '.', '_' and '-' (up to 64).")
            return
        title = st.text_input("Title of this view", key="deck_view_title", placeholder="(optional)")
        if st.button("Add this view to the deck", key="deck_add", icon=":material/add:"):
            state = {k: v for k, v in current_view().items() if k not in (*PLAY_KEYS, "present")}
            try:
                deck = decks.add_view(name, current, state, title)
            except (decks.DeckError, OSError) as exc:
                st.error(f"Not added: {exc}")
            else:
                st.toast(f"Added as slide {len(deck.slides)} of “{name}”.")
        path = decks.user_path(name)
        try:
            deck = decks.load(path) if path.is_file() else None
        except decks.DeckError as exc:
            st.error(str(exc))
            return
        if deck is None or not deck.slides:
            st.caption("No slides yet.")
            return
        _slide_list(name, deck, path)


def _slide_list(name: str, deck: decks.Deck, path: Path) -> None:
    changed = False
    for i, s in enumerate(list(deck.slides)):
        c1, c2, c3, c4 = st.columns([6, 1, 1, 1], vertical_alignment="bottom")
        new = c1.text_input(f"{i + 1}. {s.page}", value=s.title, key=f"deck_title_{name}_{i}_{len(deck.slides)}")
        if new != s.title:
            s.title, changed = new, True
        if c2.button("↑", key=f"deck_up_{name}_{i}", disabled=i == 0, help="Move up"):
            deck.slides[i - 1], deck.slides[i] = deck.slides[i], deck.slides[i - 1]
            changed = True
        if c3.button("↓", key=f"deck_down_{name}_{i}", disabled=i == len(deck.slides) - 1, help="Move down"):
            deck.slides[i + 1], deck.slides[i] = deck.slides[i], deck.slides[i + 1]
            changed = True
        if c4.button("✕", key=f"deck_del_{name}_{i}", help="Remove this slide"):
            deck.slides.pop(i)
            changed = True
            break
    if changed:
        decks.save(deck, path)
        st.rerun()
    st.link_button("Play from slide 1", f"?deck={name}&slide=1", icon=":material/play_arrow:")
    st.download_button("Download the deck (JSON)", deck.to_json(), file_name=f"{name}.json", mime="application/json",
                       key="deck_download", on_click="ignore")

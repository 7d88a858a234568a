"""Talk decks: an ordered list of views (a page and its widget state, as the URL holds it), with a
title and a speaker note each, saved as small hand-editable JSON.

    {"title": "Relative representations",
     "slides": [{"page": "latent_spaces", "title": "Two seeds disagree", "note": "...",
                 "state": {"dataset": "mnist", "model_a": "mnist-mlp-s0", "space": "absolute"}}]}

``state`` maps URL parameters (the widgets' keys) to a string or a list of strings, exactly what a
shared link carries. Shipped decks live in ``assets/decks/``; the user's are in the decks folder
(``EXPLORER_DECKS_DIR``, default ~/.local/share/latent-explorer/decks) or anywhere for the CLI.
A deck is played by name in the app (``?deck=NAME&slide=3``), never by path from a URL.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from explorer.io import atomic_write_bytes

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "assets" / "decks"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PLAY_KEYS = ("deck", "slide", "notes")  # URL parameters of playing itself, never part of a slide's state


class DeckError(ValueError):
    """A deck file that cannot be read as a deck; the message names the file, and the line where it can."""


@dataclass
class Slide:
    page: str
    state: dict[str, str | list[str]] = field(default_factory=dict)
    title: str = ""
    note: str = ""

    def query(self) -> dict[str, str | list[str]]:
        """The slide's URL parameters (its widget state)."""
        return dict(self.state)


@dataclass
class Deck:
    title: str = ""
    slides: list[Slide] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"title": self.title, "slides": [asdict(s) for s in self.slides]}, indent=2, ensure_ascii=False) + "\n"


def user_dir() -> Path:
    return Path(os.environ.get("EXPLORER_DECKS_DIR", Path.home() / ".local" / "share" / "latent-explorer" / "decks"))


def parse(text: str, where: str = "the deck") -> Deck:
    """A Deck from JSON text; DeckError naming ``where`` (and the line) for anything that is not one."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DeckError(f"{where} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("slides"), list):
        raise DeckError(f"{where} must be a JSON object with a list of \"slides\"")
    slides = []
    for i, s in enumerate(raw["slides"], start=1):
        if not isinstance(s, dict):
            raise DeckError(f"{where}, slide {i}: must be an object with \"page\" and \"state\"")
        if not isinstance(s.get("page"), str) or not s["page"]:
            raise DeckError(f"{where}, slide {i}: \"page\" must name a page (e.g. \"latent_spaces\")")
        state = s.get("state", {})
        if not isinstance(state, dict):
            raise DeckError(f"{where}, slide {i}: \"state\" must be an object of URL parameters")
        clean = {}
        for k, v in state.items():
            if k in PLAY_KEYS:
                continue
            if isinstance(v, (str, int, float, bool)):
                clean[k] = str(v).lower() if isinstance(v, bool) else str(v)
            elif isinstance(v, list) and all(isinstance(x, (str, int, float)) for x in v):
                clean[k] = [str(x) for x in v]
            else:
                raise DeckError(f"{where}, slide {i}: state \"{k}\" must be a string or a list of strings")
        for key in ("title", "note"):
            if not isinstance(s.get(key, ""), str):
                raise DeckError(f"{where}, slide {i}: \"{key}\" must be text")
        slides.append(Slide(s["page"], clean, s.get("title", ""), s.get("note", "")))
    title = raw.get("title", "")
    if not isinstance(title, str):
        raise DeckError(f"{where}: \"title\" must be text")
    return Deck(title, slides)


def load(path: Path | str) -> Deck:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DeckError(f"no deck file at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DeckError(f"the deck file {path} cannot be read: {exc}") from None
    return parse(text, str(path))


def save(deck: Deck, path: Path | str) -> Path:
    """Write the deck atomically (a reader never sees half a file)."""
    path = Path(path)
    atomic_write_bytes(path, deck.to_json().encode("utf-8"))
    return path


def names() -> list[str]:
    """Every deck the app can play by name: the shipped ones, then the user's (a user deck with a
    shipped deck's name is listed once, as the user's)."""
    found = {}
    for folder in (SHIPPED, user_dir()):
        if folder.is_dir():
            for p in sorted(folder.glob("*.json")):
                if NAME.match(p.stem):
                    found[p.stem] = p
    return list(found)


def path_of(name: str) -> Path:
    """The file of the deck called ``name`` (the user's first, then the shipped one); DeckError when none."""
    if not NAME.match(name or ""):
        raise DeckError(f"“{name}” is not a deck name (letters, digits, '.', '_' and '-')")
    for folder in (user_dir(), SHIPPED):
        p = folder / f"{name}.json"
        if p.is_file():
            return p
    raise DeckError(f"there is no deck “{name}”; the decks: {', '.join(names()) or 'none'}")


def user_path(name: str) -> Path:
    """Where the app keeps the user's deck ``name`` (written only through the deck panel)."""
    if not NAME.match(name or ""):
        raise DeckError(f"“{name}” is not a deck name (letters, digits, '.', '_' and '-')")
    return user_dir() / f"{name}.json"


def add_view(name: str, page: str, state: dict, title: str = "") -> Deck:
    """Append a view to the user's deck ``name`` (created when missing; a shipped deck of that name
    is copied first, never changed)."""
    path = user_path(name)
    if path.is_file():
        deck = load(path)
    else:
        try:
            deck = load(path_of(name))
        except DeckError:
            deck = Deck(title=name)
    deck.slides.append(Slide(page, {k: v for k, v in state.items() if k not in PLAY_KEYS}, title))
    save(deck, path)
    return deck


# ---------------------------------------------------------------- the cache entries a deck's slides read


def entries_path(deck: Deck, cache_root: Path) -> Path:
    """Where ``deck precompute`` lists, in the cache folder ``cache_root``, the entries each slide of
    ``deck`` read: named by the deck's content, so an edited deck is not warmed from an older list."""
    return cache_root / "decks" / f"{hashlib.sha256(deck.to_json().encode()).hexdigest()[:20]}.json"


def save_entries(deck: Deck, cache_root: Path, per_slide: list[list[str]]) -> Path:
    path = entries_path(deck, cache_root)
    atomic_write_bytes(path, json.dumps({"title": deck.title, "slides": per_slide}).encode())
    return path


def load_entries(deck: Deck, cache_root: Path) -> list[str]:
    """The cache keys the deck's slides read, in slide order, each once; [] without a readable list."""
    try:
        slides = json.loads(entries_path(deck, cache_root).read_text())["slides"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return list(dict.fromkeys(k for keys in slides if isinstance(keys, list) for k in keys if isinstance(k, str)))

"""Talk decks: the file format and its errors, playing a deck in AppTest, precompute / pack / unpack."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from explorer import deck as decks
from tests.conftest import ROOT


@pytest.fixture
def decks_dir(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "decks"
    d.mkdir()
    monkeypatch.setenv("EXPLORER_DECKS_DIR", str(d))
    return d


def write(folder: Path, name: str, slides: list[dict], title: str = "T") -> Path:
    p = folder / f"{name}.json"
    p.write_text(json.dumps({"title": title, "slides": slides}))
    return p


# ---------------------------------------------------------------- the file


def test_a_corrupt_deck_names_its_line(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"slides": [\n  {"page": "home"},\n  {"page": "similarity",,}\n]}')
    with pytest.raises(decks.DeckError, match=r"bad.json is not valid JSON: .* line 3, column"):
        decks.load(p)


@pytest.mark.parametrize("slides, msg", [
    ({"page": "x"}, 'list of "slides"'),
    ([{"state": {}}], 'slide 1: "page" must name a page'),
    ([{"page": "home", "state": {"a": {"b": 1}}}], 'slide 1: state "a" must be a string or a list'),
    ([{"page": "home"}, {"page": "home", "title": 3}], 'slide 2: "title" must be text'),
])
def test_deck_errors_say_which_slide(tmp_path, slides, msg):
    p = tmp_path / "d.json"
    p.write_text(json.dumps({"slides": slides}))
    with pytest.raises(decks.DeckError, match=msg):
        decks.load(p)


def test_states_are_url_strings_and_round_trip(tmp_path, decks_dir):
    d = decks.parse(json.dumps({"slides": [{"page": "latent_spaces", "state": {"ls_anchors": 10, "ls_center": True,
                                                                                  "slide": "4", "st_families": ["a", "b"]}}]}))
    assert d.slides[0].state == {"ls_anchors": "10", "ls_center": "true", "st_families": ["a", "b"]}  # play keys dropped
    out = decks.save(d, tmp_path / "x.json")
    assert decks.load(out) == d
    decks.add_view("mine", "similarity", {"s_measure": "cka_rbf", "deck": "other"}, "one")
    deck = decks.add_view("mine", "home", {}, "")
    assert [(s.page, s.state, s.title) for s in deck.slides] == [("similarity", {"s_measure": "cka_rbf"}, "one"), ("home", {}, "")]
    assert "mine" in decks.names() and "relative-representations" in decks.names()
    with pytest.raises(decks.DeckError, match="not a deck name"):
        decks.path_of("../etc/passwd")


def test_the_shipped_deck_names_real_pages_models_and_widgets():
    from explorer.ui import PAGES

    d = decks.load(ROOT / "assets" / "decks" / "relative-representations.json")
    assert 8 <= len(d.slides) <= 10
    pages = {Path(p).stem for p, *_ in PAGES}
    zoo = {p.stem for p in (ROOT / "assets" / "zoo").glob("*.json")}
    for s in d.slides:
        assert s.page in pages and s.title and s.note
        for key in ("model_a", "model_b"):
            assert s.state.get(key, "mnist-mlp_ae-l64-s0") in zoo


# ---------------------------------------------------------------- playing (AppTest)


def play(name: str, slide: int = 1, **params):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=240)
    at.query_params.update({"deck": name, "slide": str(slide), **params})
    return at.run()


def warnings_of(at) -> list[str]:
    return [w.value for w in at.warning if w.value.startswith("Slide ")]


def test_a_deck_plays_and_a_missing_model_is_named_on_its_slide_only(decks_dir, cache_dir):
    write(decks_dir, "three", [
        {"page": "latent_spaces", "title": "First", "state": {"ls_similarity": "euclidean", "ls_anchors": "40"}},
        {"page": "layer_geometry", "title": "Second", "state": {"model_a": "no-such-model", "g_k": "7"}},
        {"page": "similarity", "title": "Third", "state": {"s_measure": "procrustes"}},
    ])
    at = play("three")
    assert not at.exception and not at.error
    assert at.session_state["ls_similarity"] == "euclidean" and at.session_state["ls_anchors"] == 40
    assert at.session_state["present"] is True  # a deck plays in Presentation mode
    assert any("First" in m.value for m in at.markdown) and any("1 / 3" in m.value for m in at.markdown)
    assert warnings_of(at) == []

    at.button(key="deck_next").click().run()
    assert at.query_params["slide"] == "2" and at.query_params["deck"] == "three"
    assert at.session_state["g_k"] == 7
    w = warnings_of(at)
    assert len(w) == 1 and "model_a='no-such-model'" in w[0] and "three.json" in w[0]
    assert at.session_state["model_a"] == "digits-mlp_ae-l16-s0"  # the default instead

    at.button(key="deck_next").click().run()
    assert at.query_params["slide"] == "3" and at.session_state["s_measure"] == "procrustes"
    assert warnings_of(at) == [] and not at.error
    assert at.button(key="deck_next").disabled

    at.button(key="deck_prev").click().run()
    at.button(key="deck_prev").click().run()
    assert at.query_params["slide"] == "1"
    assert at.session_state["ls_similarity"] == "euclidean" and at.session_state["ls_anchors"] == 40
    assert at.session_state["model_a"] == "digits-mlp_ae-l16-s0" and warnings_of(at) == []


def test_a_slide_reopens_as_saved_after_the_viewer_changed_it(decks_dir, cache_dir):
    write(decks_dir, "two", [{"page": "similarity", "state": {"s_measure": "procrustes"}},
                             {"page": "similarity", "state": {}}])
    at = play("two")
    at.selectbox(key="s_measure").set_value("cka_rbf").run()
    at.button(key="deck_next").click().run()
    assert at.session_state["s_measure"] == "cka_linear"  # slide 2 saves no measure: the page's default, not the viewer's pick
    at.button(key="deck_prev").click().run()
    assert at.session_state["s_measure"] == "procrustes"  # the slide's state, not what was left


def test_an_unknown_page_or_deck_says_how_to_fix_it(decks_dir, cache_dir):
    write(decks_dir, "broken", [{"page": "nowhere", "state": {}}, {"page": "home", "state": {}}])
    at = play("broken")
    w = warnings_of(at)
    assert len(w) == 1 and "“nowhere”" in w[0] and "latent_spaces" in w[0]
    at.button(key="deck_next").click().run()
    assert warnings_of(at) == [] and at.query_params["slide"] == "2"
    at = play("missing-deck")
    assert any("there is no deck “missing-deck”" in e.value for e in at.error)
    (decks_dir / "corrupt.json").write_text("{\n nope")
    at = play("corrupt")
    assert any("corrupt.json is not valid JSON" in e.value and "line 2" in e.value for e in at.error)


def test_add_this_view_records_the_page_and_its_url(decks_dir, cache_dir):
    from tests.conftest import open_page

    at = open_page("app_pages/similarity.py", s_measure="procrustes")
    at.text_input(key="deck_name").set_value("rec")
    at.text_input(key="deck_view_title").set_value("Procrustes")
    at.button(key="deck_add").click().run()
    d = decks.load(decks_dir / "rec.json")
    assert [(s.page, s.title) for s in d.slides] == [("similarity", "Procrustes")]
    assert d.slides[0].state.get("s_measure") == "procrustes"
    at.button(key="deck_add").click().run()
    at.button(key="deck_up_rec_1").click().run()
    assert len(decks.load(decks_dir / "rec.json").slides) == 2
    at.button(key="deck_del_rec_0").click().run()
    assert len(decks.load(decks_dir / "rec.json").slides) == 1


# ---------------------------------------------------------------- CLI: precompute, pack, unpack


def cli(*args, env=None, timeout=900):
    return subprocess.run([sys.executable, "-m", "explorer", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def test_precompute_then_every_slide_is_a_cache_hit_and_a_pack_restores_them(tmp_path, decks_dir, cache_dir, models_dir, monkeypatch):
    from explorer.ui import deck_runner

    path = write(tmp_path, "small", [
        {"page": "layer_geometry", "title": "ID", "state": {"g_k": "8"}},
        {"page": "similarity", "title": "CKA", "state": {"s_measure": "cka_linear"}},
    ])
    r = cli("deck", "precompute", str(path), env={"EXPLORER_CACHE_DIR": str(cache_dir), "EXPLORER_MODELS_DIR": str(models_dir)})
    assert r.returncode == 0, r.stderr
    assert "every slide is in the disk cache" in r.stdout and "ID" in r.stdout and "CKA" in r.stdout
    with deck_runner._deck_visible(path) as name:
        runs = [deck_runner.run_slide(name, i) for i in (1, 2)]
    assert all(run.used and not run.misses and not run.problems for run in runs), [(r.misses, r.problems) for r in runs]
    # precompute listed what each slide read; a deck that starts playing reads them into memory (explorer/ui/warm.py)
    from explorer.cache import DiskCache
    from explorer.ui import cached

    keys = decks.load_entries(decks.load(path), DiskCache().root)
    assert set(keys) == runs[0].used | runs[1].used and keys[:len(runs[0].used)] == sorted(runs[0].used)
    cached._MEMORY.clear()
    cached._MEMORY_SIZES.clear()
    assert cached.warm_entries(keys) == len(keys) and all(k in cached._MEMORY for k in keys)
    from explorer import cache

    frames = [cached._MEMORY[k]["__frame__"] for k in keys if "__frame__" in cached._MEMORY[k]]
    assert frames and all(cache._FRAMES[id(b)][0] is b for b in frames)  # the slides' tables decoded too
    assert cached.warm_entries(keys) == 0  # already there
    edited = decks.load(path)
    edited.slides[0].state["g_k"] = "9"
    assert decks.load_entries(edited, DiskCache().root) == []  # another deck's content: not warmed from this list

    out = tmp_path / "small.zip"
    manifest = deck_runner.pack(path, out)
    assert set(manifest["cache"]) == set().union(*(r.used for r in runs))
    names = zipfile.ZipFile(out).namelist()
    assert "deck/small.json" in names and len([n for n in names if n.startswith("cache/")]) == len(manifest["cache"])

    # another machine: an empty cache and decks folder, its own models folder
    fresh = tmp_path / "fresh-cache"
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(fresh))
    notes = deck_runner.unpack(out)
    assert any(f"{len(manifest['cache'])} entries written" in n for n in notes)
    assert (decks_dir / "small.json").is_file()
    assert decks.load_entries(decks.load(decks_dir / "small.json"), fresh) == manifest["cache"]
    with deck_runner._deck_visible(decks_dir / "small.json") as name:
        again = [deck_runner.run_slide(name, i) for i in (1, 2)]
    assert all(not a.misses for a in again) and [a.used for a in again] == [r.used for r in runs]


def test_a_packed_model_that_differs_here_is_kept_and_recomputed(tmp_path, decks_dir, cache_dir, models_dir):
    from explorer.ui import deck_runner

    models_dir.mkdir(parents=True)  # a model of the user's (a zoo model renamed), which the pack must carry
    meta = json.loads((ROOT / "assets" / "zoo" / "digits-mlp_clf-s0.json").read_text())
    (models_dir / "mine.json").write_text(json.dumps({**meta, "name": "mine"}))
    shutil.copy(ROOT / "assets" / "zoo" / "digits-mlp_clf-s0.safetensors", models_dir / "mine.safetensors")
    path = write(tmp_path, "mine", [{"page": "layer_geometry", "state": {"model_a": "mine"}}])
    out = tmp_path / "mine.zip"
    manifest = deck_runner.pack(path, out)
    assert sorted(manifest["models"]) == ["mine.json", "mine.safetensors"]
    ours = (models_dir / "mine.safetensors").read_bytes()
    other = json.loads((ROOT / "assets" / "zoo" / "digits-mlp_clf-s1.json").read_text())  # another model, the same name here
    (models_dir / "mine.json").write_text(json.dumps({**other, "name": "mine"}))
    (models_dir / "mine.safetensors").write_bytes((ROOT / "assets" / "zoo" / "digits-mlp_clf-s1.safetensors").read_bytes())
    notes = deck_runner.unpack(out)
    assert any("kept your file" in n and "mine.safetensors" in n for n in notes)
    assert (models_dir / "mine.safetensors").read_bytes() != ours  # never overwritten
    with deck_runner._deck_visible(decks_dir / "mine.json") as name:
        run = deck_runner.run_slide(name, 1)
    assert not run.problems and run.misses  # other weights, other content key: computed again, not read from the pack


def test_export_writes_each_shown_chart_as_svg_and_never_overwrites(tmp_path, decks_dir, cache_dir, models_dir):
    import xml.etree.ElementTree as ET

    from explorer.ui import deck_runner

    path = write(tmp_path, "charts", [
        {"page": "stitching", "title": "grid", "state": {"st_group": "rel_clf (latent 16) vs mlp_clf"}},
        {"page": "stitching", "title": "trained",
         "state": {"st_tab": "Trained stitching layers", "st_families": "identity", "st_epochs": "1"}},
        {"page": "layer_geometry", "title": "ID", "state": {"g_k": "8"}},
    ])
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    written = deck_runner.export(path, out, "svg")
    by_slide = {i: [ET.parse(p).getroot() for p in written if p.name.startswith(f"slide{i:02d}-")] for i in (1, 2, 3)}
    assert all(root.tag.endswith("svg") for roots in by_slide.values() for root in roots)

    def text(roots):
        return " ".join(t.text or "" for r in roots for t in r.iter() if t.tag.endswith("text"))
    # the zero-shot grid (encoder x decoder heatmaps) on slide 1 only: slide 2 shows the Trained tab, not the closed one
    assert "decoder / head of" in text(by_slide[1]) and "decoder / head of" not in text(by_slide[2])
    assert by_slide[2] and "penalty" in text(by_slide[2]).lower()
    assert "TwoNN intrinsic dimension" in text(by_slide[3])
    assert (out / "notes.txt").read_text() == "mine"
    before = {p: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(FileExistsError, match="already holds exported charts"):
        deck_runner.export(path, out, "svg")
    assert {p: p.read_bytes() for p in out.iterdir()} == before  # a second export into the folder touches nothing


def test_a_playing_deck_warms_what_its_slides_name():
    from explorer.ui import warm

    deck = decks.load(decks.path_of("relative-representations"))
    datasets, models, zoos = warm.deck_needs(deck)
    assert datasets == {"mnist"} and zoos == {"mnist"}  # a Stitching slide: the whole zoo of its dataset
    assert models == {("mnist", f"mnist-{m}-s{s}") for m in ("mlp_ae-l64", "mlp_clf") for s in (0, 1)}
    # slide 9's weight paths: B permuted onto A, on the default 1000 train samples of MNIST
    assert warm._interpolation_pairs(deck) == [("mnist", "mnist-mlp_clf-s0", "mnist-mlp_clf-s1", 1000)]
    mods = warm.page_modules()
    assert {"explorer.stitching", "explorer.interpolation", "explorer.ui.cached", "explorer.similarity"} <= set(mods)
    assert all(m.split(".")[0] == "explorer" for m in mods)


def test_the_frontend_files_a_deck_preloads_exist_next_to_streamlits_entry_script():
    import streamlit

    from explorer.ui.deck import lazy_frontend_files

    files = lazy_frontend_files()
    js = Path(streamlit.__file__).parent / "static" / "static" / "js"
    assert list(js.glob("index.*.js"))  # the entry script they are relative to
    assert all((js / f).resolve().is_file() for f in files)
    # the slider (first on slide 5), the formula typesetter and its two fonts (slide 9), the multiselect (slide 7)
    stems = {Path(f).name.split(".")[0] for f in files}
    assert {"Slider", "rehype-katex", "KaTeX_Main-Regular", "KaTeX_Math-Italic", "Multiselect"} <= stems


def test_a_slide_runs_only_its_open_tab_and_the_closed_tab_opens_with_the_slides_values(decks_dir, cache_dir):
    write(decks_dir, "tabs", [{"page": "interpolation", "state": {
        "i_tab": "Weight interpolation and mode connectivity", "wi_points": "11", "li_steps": "13"}}])
    at = play("tabs")
    assert not at.exception and not at.error
    latent, weight = at.get("tab")
    assert not latent.children and weight.children  # the latent tab of the slide is not run
    assert at.slider(key="wi_points").value == 11
    at.session_state["i_tab"] = "Latent interpolation"  # the speaker opens the other tab
    at.run()
    assert not at.exception and not at.error and at.get("tab")[0].children
    assert at.slider(key="li_steps").value == 13  # the slide's value, kept for the tab until it opened


def test_exit_deck_keeps_the_slides_view_closed_tab_included(decks_dir, cache_dir):
    write(decks_dir, "tabs", [{"page": "interpolation", "state": {
        "i_tab": "Weight interpolation and mode connectivity", "wi_points": "11", "li_steps": "13"}}])
    at = play("tabs")
    assert not at.get("tab")[0].children  # the latent tab did not run: li_steps waits for it
    at.button(key="deck_exit").click().run()
    assert not at.exception and not at.error and "deck" not in at.query_params
    assert not [b for b in at.button if b.key == "deck_next"]  # out of the deck
    assert at.slider(key="wi_points").value == 11 and at.slider(key="li_steps").value == 13  # both tabs as the slide had them
    assert at.session_state["present"] is True


def test_a_step_counts_from_the_slide_already_asked_for(monkeypatch):
    """Two presses before the first one's run opened its slide go two slides, not one (the key and button callbacks)."""
    from types import SimpleNamespace

    from explorer.ui import deck as ui_deck

    state = {ui_deck._AT: ("talk", 7)}
    monkeypatch.setattr(ui_deck, "st", SimpleNamespace(session_state=state))
    ui_deck._step(1)
    assert state["_deck_goto"] == 8
    state["deck_keys"] = {"nav": "next"}
    ui_deck._on_key()  # the next key, before the run opened slide 8
    assert state["_deck_goto"] == 9
    del state["_deck_goto"]
    state[ui_deck._AT] = ("talk", 9)  # the run opened slide 9
    state["deck_keys"] = {"nav": "prev"}
    ui_deck._on_key()
    assert state["_deck_goto"] == 8

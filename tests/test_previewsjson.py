"""previews.json read through compiled msgspec types (openem_build.data.previewsjson): a valid list takes one
msgspec call, and whatever the types refuse is explained, located, exactly as checking each field on its own does."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from openem_build.data import previewsjson
from openem_build.data.previews import encode_png
from openem_build.records.problems import ERROR

IDENT = "entry-2025"
C1 = "1" * 40


def _folder(tmp_path: Path) -> tuple[Path, dict]:
    folder = tmp_path / "datasets" / IDENT
    (folder / "previews").mkdir(parents=True)
    items = []
    for i, (kind, w, h) in enumerate([("XY", 8, 6), ("projection", 6, 8), ("image", 5, 5)]):
        png = encode_png(np.full((h, w), 40 * i, np.uint8))
        (folder / "previews" / f"p{i}.png").write_bytes(png)
        items.append({"file": f"p{i}.png", "kind": kind, "width": w, "height": h, "bytes": len(png),
                      "alt": f"A view {i} of maps/a{i}.mrc", "source": f"maps/a{i}.mrc", "caption": f"view {i}"})
    del items[2]["caption"], items[2]["bytes"], items[2]["kind"]  # (fields a preview may leave out)
    return folder, {"previews_version": 1, "commit": C1, "previews": items}


def _read(folder: Path, root: Path, text: str, explain: bool, monkeypatch) -> tuple:
    (folder / "previews.json").write_text(text, encoding="utf-8")
    with monkeypatch.context() as m:
        if explain:  # (what each field's own check says, as before the types)
            m.setattr(previewsjson, "_decoded", lambda text: None)
        return previewsjson.read(folder, root)


def test_a_valid_list_is_read_by_the_types_alone(tmp_path: Path, monkeypatch):
    folder, doc = _folder(tmp_path)
    (folder / "previews.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    monkeypatch.setattr(previewsjson, "load_json", None)  # (never needed: the decode checked every value)
    previews, problems = previewsjson.read(folder, tmp_path)
    assert problems == []
    sizes = [(folder / "previews" / f"p{i}.png").stat().st_size for i in range(3)]
    assert [(p.file, p.kind, p.width, p.height, p.bytes) for p in previews] == [
        ("p0.png", "XY", 8, 6, sizes[0]), ("p1.png", "projection", 6, 8, sizes[1]), ("p2.png", "image", 5, 5, sizes[2])]


SWAPS = [None, True, 0, -1, 1.5, 8.0, 10**30, "", " ", "x", "p0.png", "a\u202eb", "maps/../x", "/abs", "x" * 1001,
         [], ["a"], {}, {"k": 1}, 10**4, 10**4 + 1]


def test_the_types_and_the_explanation_agree_on_every_damage(tmp_path: Path, monkeypatch):
    """Every field of every preview and of the list swapped for values of other types, out of range, unknown
    fields added, keys given twice: the previews read and the problems (located, worded) are the same whether
    the msgspec decode or the check of each field on its own finds them."""
    folder, doc = _folder(tmp_path)
    rng = random.Random(0)
    texts = []
    for i in range(len(doc["previews"])):
        for name in [*previewsjson._ITEM_FIELDS, "extra"]:
            for new in rng.sample(SWAPS, 8):
                damaged = json.loads(json.dumps(doc))
                damaged["previews"][i][name] = new
                texts.append(json.dumps(damaged, ensure_ascii=False, indent=1))
    for name in ["previews_version", "commit", "previews", "extra"]:
        for new in [*SWAPS, [doc["previews"][0], 5]]:
            texts.append(json.dumps({**doc, name: new}, ensure_ascii=False, indent=1))
    texts.append(json.dumps(doc)[:-1] + ', "commit": null}')  # (a key twice: not JSON this catalogue reads)
    texts.append(json.dumps(doc).replace('"XY"', '"\\ud800"'))  # (a lone surrogate)
    texts.append(json.dumps(doc).replace('"width": 8', '"width": 1e999'))
    refused = 0
    for text in texts:
        typed = _read(folder, tmp_path, text, False, monkeypatch)
        explained = _read(folder, tmp_path, text, True, monkeypatch)
        assert typed == explained, text
        refused += any(p.severity == ERROR for p in typed[1])
        assert all(p.line > 0 for p in typed[1] if p.field), text
    assert refused > 100


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"width": True}, "previews[0].width", "width and height must be whole numbers of pixels"),
    ({"kind": {"a": 1}}, "previews[0].kind", "kind must be a plane (XY, XZ, YZ …), projection, image, montage, "
     "spectrum or map, not an object of 1 field"),
    ({"source": "../x.mrc"}, "previews[0].source", "source '../x.mrc' is not a relative path inside the dataset"),
    ({"bytes": 0}, "previews[0].bytes", "bytes must be the file's size"),
    ({"alt": " "}, "previews[0].alt", "every preview needs its alt text"),
    ({"size": 1}, "previews[0].size", "unknown field 'size'")])
def test_problems_are_located_and_worded(tmp_path: Path, monkeypatch, change: dict, field: str, words: str):
    folder, doc = _folder(tmp_path)
    doc["previews"][0].update(change)
    previews, problems = _read(folder, tmp_path, json.dumps(doc, indent=1), False, monkeypatch)
    (problem,) = problems
    assert problem.field == field and words in problem.message and problem.line > 3
    assert problem.hint == f"regenerate the previews with `openem manifest {IDENT}` instead of editing " \
                           "previews.json by hand"
    assert [p.file for p in previews] == (["p1.png", "p2.png"] if problem.field != "previews[0].size" else
                                          ["p0.png", "p1.png", "p2.png"])

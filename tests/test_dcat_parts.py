"""The catalogue's DCAT files from the datasets' kept parts (render/registry.PARTS): a build whose datasets come
from the page cache writes ``dcat/catalog.ttl`` and ``catalog.rdf`` from each dataset's blocks, made with its
files, instead of making every dataset's statements again; the bytes are those made from scratch."""

from __future__ import annotations

from pathlib import Path

import pytest

from openem_build.infra.context import SiteContext
from openem_build.records.load import load_catalogue
from openem_build.render import dcat
from openem_build.render import outputs as A
from openem_build.site import landing

from .conftest import ROOT


@pytest.fixture(scope="module")
def ctx() -> SiteContext:
    return SiteContext(load_catalogue(ROOT).catalogue, site_url="https://catalogue.example.org/")


def _kept(ctx: SiteContext, site: Path) -> landing.KeptParts:
    for d in ctx.catalogue.datasets:
        for art in A.for_dataset(ctx, d, parts=True):
            if A.is_part(art.path):
                landing.write(site, art)
    return landing.KeptParts(site)


def _files(ctx: SiteContext, parts: A.Parts | None) -> tuple[bytes, bytes]:
    (streamed,) = dcat.catalogue_artefacts(ctx, parts)
    ttl, rdf = streamed.artefacts()
    return ttl.content, rdf.content  # type: ignore[return-value]


def test_the_catalogue_from_kept_parts_is_the_catalogue_made_from_scratch(ctx: SiteContext, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    parts = _kept(ctx, tmp_path)
    assert sorted(parts) == sorted(A.part_path("dcat", d.id) for d in ctx.catalogue.datasets)
    scratch = dcat.serialise(ctx)
    made: list[str] = []
    add = dcat.add_dataset
    monkeypatch.setattr(dcat, "add_dataset", lambda g, c, d, cat: made.append(d.id) or add(g, c, d, cat))
    assert _files(ctx, parts) == scratch
    assert made == []  # (every dataset's blocks came from its part)
    assert b"dcat:Dataset" in scratch[0] and b"<dcat:Dataset " in scratch[1]


def test_a_missing_or_damaged_part_is_made_again(ctx: SiteContext, tmp_path: Path) -> None:
    parts = _kept(ctx, tmp_path)
    first, second, third = ctx.catalogue.datasets[:3]
    (tmp_path / A.part_path("dcat", first.id)).unlink()
    (tmp_path / A.part_path("dcat", second.id)).write_bytes(b'[["<x>", "x", true, [["a", 1, ""]]]]')
    (tmp_path / A.part_path("dcat", third.id)).write_bytes(b"\xff not json")
    assert _files(ctx, parts) == dcat.serialise(ctx)
    with pytest.raises(KeyError):
        parts["datasets/../../etc/passwd"]


def test_parts_are_not_files_of_the_site(ctx: SiteContext, tmp_path: Path) -> None:
    d = ctx.catalogue.datasets[0]
    assert not any(A.is_part(a.path) for a in A.for_dataset(ctx, d))
    assert [a.path for a in A.for_dataset(ctx, d, parts=True) if A.is_part(a.path)] == [A.part_path("dcat", d.id)]
    parts = _kept(ctx, tmp_path)
    parts.remove()
    assert not (tmp_path / A.PARTS).exists() and len(parts) == 0

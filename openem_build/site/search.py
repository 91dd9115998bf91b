"""Site search: the Search page and the Pagefind index of the built site (static, chunked, with filters).

Pagefind (https://pagefind.app, the ``pagefind[bin]`` wheel) reads the built HTML and writes ``pagefind/``: a
small entry file, a WebAssembly search core and many content-hashed chunks (word index, filters, page
fragments). A browser downloads only the chunks its query needs, so the cost of a search grows with the
query, not with the catalogue. Dataset pages mark their metadata with ``data-pagefind-filter``,
``data-pagefind-sort`` and ``data-pagefind-meta`` (templates/dataset.html), with the filter ``kind:Dataset``, a
summary of the description and the thumbnail as ``image`` (render/searchmeta.py); other content pages are indexed
through ``data-pagefind-body`` in overrides/main.html, with ``kind:Page`` (the Search page lists the two
apart); lists that repeat dataset titles (Browse, the facility galleries, the home page's cards) and bulky
parts of landing pages (file tables, shell commands) are left out so that a dataset's own page ranks first.

Pagefind keeps every page it indexes in memory (about 250 kB per dataset page), so a catalogue of more than
:data:`SHARD_PAGES` dataset pages is indexed in shards, one Pagefind run after another: ``pagefind/``,
``pagefind-1/``, … listed in ``pagefind/openem-shards.json``. search.js queries every shard and merges the
results (by score, or by the sort key for a sorted view) and the facet counts, so a reader sees one index.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..infra.context import SiteContext
from ..infra.parallel import fork_map
from ..infra.sitewrite import write_bytes

#: Where the search bundle goes, relative to the site's root (further shards: ``pagefind-1/``, …).
BUNDLE = "pagefind"

#: In the first bundle: the list of all bundles, which search.js reads.
SHARDS_FILE = "openem-shards.json"

#: Dataset pages per Pagefind run. Pagefind's memory grows about 250 kB per dataset page (≈ 400 indexed
#: words): 2,000 pages keep one run under ~660 MB, within the build's 1 GB budget (benchmarks/README.md). Shards
#: are for memory, not speed (one run over 10,000 pages took 2.8 GB); their vocabulary pages hold only the
#: words a shard lacks: index 27.9 → 26.4 s at N = 10,000 (5.4 % of the phase).
SHARD_PAGES = 2000

#: The page of the words of other shards added to each shard (see :func:`_stage`), and its Pagefind filter,
#: which search.js excludes from every search of a sharded index.
VOCABULARY_PAGE = "openem-vocabulary.html"
VOCABULARY_FILTER = "openem:vocabulary"

#: The facets the Search page offers, in display order: (Pagefind filter name, label).
FACETS: tuple[tuple[str, str], ...] = (
    ("technique", "Technique"), ("facility", "Facility"), ("organism", "Organism"),
    ("microscope", "Microscope"), ("detector", "Detector"), ("year", "Year"), ("licence", "Licence"),
    ("status", "Status"),
)

#: The orders the Search page offers: (URL value, label, Pagefind sort or None for relevance).
SORTS: tuple[tuple[str, str, dict[str, str] | None], ...] = (
    ("", "Relevance", None),
    ("newest", "Newest first", {"published": "desc"}),
    ("title", "Title (A–Z)", {"title": "asc"}),
    ("size", "Largest first", {"size": "desc"}),
    ("resolution", "Best resolution first", {"resolution": "asc"}),
)

#: Parts of pages that are not indexed (they repeat other pages' titles or are bulky and unsearchable).
EXCLUDE_SELECTORS: tuple[str, ...] = (
    ".openem-browse", ".openem-cards", ".openem-techniques", ".openem-files", ".openem-folder",
    ".openem-commands", ".openem-downloads", ".openem-formats", ".headerlink", ".md-source-file",
)


class SearchIndexError(Exception):
    """Pagefind failed or is missing; the message says why."""


@dataclass(frozen=True)
class IndexStats:
    pages: int
    files: int
    bytes: int


def search_page(ctx: SiteContext) -> str:
    """The body of the Search page (``/search/``); search.js runs it, the form degrades to Browse."""
    from ..render.pages import env

    return env().get_template("search.html").render(ctx=ctx, base="../", facets=FACETS,
                                                    sorts=[(v, label) for v, label, _ in SORTS])


def index_site(site: Path, *, glob: str | None = None, shard_pages: int | None = None) -> IndexStats:
    """Index the built site in ``site`` with Pagefind, writing ``site/pagefind/``. No network is used.

    Pagefind holds every indexed page in memory (about 250 kB per dataset page), so a catalogue of more than
    ``shard_pages`` dataset pages is indexed in shards, one Pagefind run after another, each into its own
    bundle (``pagefind/``, ``pagefind-1/``, …); ``pagefind/openem-shards.json`` lists them, and search.js
    queries them all and merges the results. Pagefind names its files by content hash, but (1.5) writes the
    values of each filter, and the filters in its metadata file, in hash-map order, which changes from run to
    run: :func:`canonicalize` sorts them, so two builds of one commit give byte-identical bundles.
    """
    try:
        from pagefind_bin import get_executable
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise SearchIndexError("Pagefind is not installed: pip install 'pagefind[bin]'") from exc
    site = site.absolute()
    limit = SHARD_PAGES if shard_pages is None else shard_pages
    if limit < 1:
        raise ValueError("shard_pages must be at least 1")
    for old in [site / BUNDLE, *site.glob(BUNDLE + "-*")]:
        if old.is_dir():
            shutil.rmtree(old)
    executable = str(get_executable())
    shards = [] if glob else _shards(site, limit)
    bundles: list[str] = []
    pages = 0
    if not shards:
        pages += _run_pagefind(executable, site, site / BUNDLE, glob)
        canonicalize(site / BUNDLE)
        bundles.append(BUNDLE + "/")
    else:
        stages = [Path(tempfile.mkdtemp(prefix=".pagefind-shard-", dir=site.parent)) for _ in shards]
        try:
            vocabularies = _stage(site, list(zip(stages, shards, strict=True)))
            for number, (stage, vocabulary) in enumerate(zip(stages, vocabularies, strict=True)):
                name = BUNDLE if number == 0 else f"{BUNDLE}-{number}"
                write_bytes(stage / VOCABULARY_PAGE, vocabulary)
                pages += _run_pagefind(executable, stage, site / name, None) - 1
                canonicalize(site / name)
                bundles.append(name + "/")
                shutil.rmtree(stage, ignore_errors=True)
        finally:
            for stage in stages:
                shutil.rmtree(stage, ignore_errors=True)
    out = site / BUNDLE
    write_bytes(out / SHARDS_FILE, (json.dumps({"bundles": bundles}, separators=(",", ":")) + "\n").encode())
    files = [p for name in bundles for p in (site / name).rglob("*") if p.is_file()]
    if not pages or not (out / "pagefind.js").is_file():
        raise SearchIndexError(f"Pagefind indexed no page of {site} (is data-pagefind-body in the templates?)")
    return IndexStats(pages=pages, files=len(files), bytes=sum(p.stat().st_size for p in files))


def _shards(site: Path, limit: int) -> list[list[str]]:
    """The pages of each Pagefind run: none (one run over the whole site) up to ``limit`` dataset pages;
    otherwise the dataset pages in even, path-ordered groups, the first group with every other page (a group
    must hold pages marked ``data-pagefind-body``, or Pagefind would index whole pages, lists included)."""
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                   if p.is_file() and not p.relative_to(site).parts[0].startswith(BUNDLE))
    datasets = [p for p in pages if p.startswith("datasets/") and p.count("/") == 2 and p.endswith("/index.html")]
    if len(datasets) <= limit:
        return []
    count = -(-len(datasets) // limit)
    groups = [datasets[i * len(datasets) // count:(i + 1) * len(datasets) // count] for i in range(count)]
    chosen = set(datasets)
    groups[0] = [p for p in pages if p not in chosen] + groups[0]
    return groups


_TAG = re.compile(rb"<[^>]*>")
_ALT = re.compile(rb'<img [^>]*\balt="([^"]*)"')


def _stage(site: Path, shards: list[tuple[Path, list[str]]]) -> list[bytes]:
    """Copy each shard's pages into its folder, without the file tables, and return each shard's vocabulary
    page.

    Pagefind does not index file tables (EXCLUDE_SELECTORS) or the theme around a dataset page's article, but
    still parses them: most of a page's bytes and half of Pagefind's time. The copy leaves them out
    (:func:`_search_copy`), so the index is the same, made faster (a sixth of the bytes; at N = 10,000 five
    shards with vocabulary pages take about as long, ~27 s, as one run over the whole site did).

    A shard's vocabulary page holds every word of the indexed parts of the other shards' pages that its own
    pages lack. Pagefind answers a word that is not in its index with the pages of the word's longest prefix
    that is ("apoferritin" finds "a"): a shard without the word would add those to the results. With every word
    in every shard, no shard falls back unless the whole site would. The page carries the filter
    ``openem:vocabulary``, which search.js excludes. (Only the missing words: indexing the page costs each run
    time in proportion to its words.)
    """
    own = fork_map(_stage_shard, shards, site)
    every: set[bytes] = set().union(*own)
    return [_vocabulary_page(every - words) for words in own]


def _stage_shard(shard: tuple[Path, list[str]], site: Path) -> set[bytes]:
    """Write the search copies of one shard's pages; the words of their indexed parts."""
    stage, members = shard
    words: set[bytes] = set()
    for rel in members:
        html = _search_copy((site / rel).read_bytes())
        target = stage / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(target, html)
        start = html.find(b"data-pagefind-body")
        if start != -1:
            end = html.find(b"</article>", start)
            part = html[start:end if end != -1 else len(html)].split(b">", 1)[-1]
            words.update(_TAG.sub(b" ", part).split())
            words.update(w for alt in _ALT.findall(part) for w in alt.split())  # Pagefind indexes alt text
    return words


def _vocabulary_page(words: set[bytes]) -> bytes:
    body = b"\n".join(sorted(w.replace(b"<", b"&lt;") for w in words))
    return (b'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Vocabulary</title></head>\n'
            b'<body><div data-pagefind-body data-pagefind-filter="' + VOCABULARY_FILTER.encode() + b'">\n'
            + body + b"\n</div></body></html>\n")


def _search_copy(html: bytes) -> bytes:
    """What Pagefind reads of a dataset page: its article alone (everything Pagefind takes from the page is on
    or in it), without what follows the "Files" heading in its section (templates/dataset.html: only the
    ``.openem-files`` tables and ``.openem-folder`` groups, both in EXCLUDE_SELECTORS). Other pages as they are.
    """
    start = html.find(_ARTICLE)
    end = html.find(b"</article>", start)
    if start == -1 or end == -1:
        return html
    html = html[start:end + len(b"</article>")]
    heading = html.find(b'<h3 id="files">')
    cut = html.find(b"</h3>", heading) if heading != -1 else -1
    resume = html.find(b"</section>", cut) if cut != -1 else -1
    if resume != -1:
        html = html[:cut + len(b"</h3>")] + b"\n" + html[resume:]
    return b'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"></head><body>\n' + html + _END


_ARTICLE = b'<article class="openem-dataset"'
_END = b"\n</body></html>\n"


def _run_pagefind(executable: str, site: Path, out: Path, glob: str | None) -> int:
    """Run Pagefind on ``site`` into ``out``; the number of pages it indexed."""
    # The bundled binary, not the async Python API: it has written every file when it exits (once, the API's
    # write_files returned before pagefind-entry.json was complete), and it needs no event loop.
    command = [executable, "--site", str(site), "--output-path", str(out), "--force-language", "en", "--quiet"]
    for selector in EXCLUDE_SELECTORS:
        command += ["--exclude-selectors", selector]
    if glob:
        command += ["--glob", glob]
    try:
        # cwd=site: Pagefind reads a pagefind.yml/json/toml from its working directory; none is wanted.
        proc = subprocess.run(command, cwd=site, capture_output=True, text=True, timeout=3600, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise SearchIndexError(f"Pagefind could not run: {exc}") from exc
    entry = out / "pagefind-entry.json"
    if proc.returncode != 0 or not entry.is_file():
        raise SearchIndexError(f"Pagefind failed to index {site} (exit {proc.returncode}):\n"
                               + (proc.stderr or proc.stdout).strip())
    return sum(lang.get("page_count", 0) for lang in json.loads(entry.read_text("utf-8"))["languages"].values())


# ---- reproducible output ----
# Pagefind's chunks are gzip-compressed "pagefind_dcd" + CBOR. The metadata file (pagefind.<lang>_<hash>.pf_meta)
# is [version, pages, index chunks, filters: [[name, chunk hash]], sorts, meta fields]; a filter chunk
# (filter/<lang>_<hash>.pf_filter) is [name, [[value, [page numbers]]]]. Only the order of list items changes.

_SIGNATURE = b"pagefind_dcd"


def canonicalize(bundle: Path) -> None:
    """Rewrite the filter chunks and metadata files of a Pagefind bundle in sorted order, renaming them by
    content hash and updating ``pagefind-entry.json``. The search results are unchanged.

    Not a speed-up: it makes two builds of one commit byte-identical (reproducible output), at a cost the
    benchmark counts in the search-index phase."""
    entry_path = bundle / "pagefind-entry.json"
    entry = json.loads(entry_path.read_text("utf-8"))
    for lang, info in sorted(entry.get("languages", {}).items()):
        meta_path = bundle / f"pagefind.{info['hash']}.pf_meta"
        meta = _read_chunk(meta_path)
        if not (isinstance(meta, list) and len(meta) > 3 and isinstance(meta[3], list)):
            raise SearchIndexError(f"{meta_path}: unexpected layout (Pagefind {entry.get('version')}?)")
        filters = []
        for name, chunk_hash in meta[3]:
            chunk_path = bundle / "filter" / f"{chunk_hash}.pf_filter"
            chunk = _read_chunk(chunk_path)
            chunk[1] = sorted(chunk[1], key=lambda item: item[0])
            data = _SIGNATURE + _cbor_encode(chunk)
            new_hash = f"{lang}_{hashlib.sha256(data).hexdigest()[:7]}"
            chunk_path.unlink()
            write_bytes(bundle / "filter" / f"{new_hash}.pf_filter", _gzip(data))
            filters.append([name, new_hash])
        meta[3] = sorted(filters)
        if len(meta) > 4 and isinstance(meta[4], list):
            meta[4] = sorted(meta[4], key=lambda item: item[0])  # sort orders, by name
        data = _SIGNATURE + _cbor_encode(meta)
        new_hash = f"{lang}_{hashlib.sha256(data).hexdigest()[:10]}"
        meta_path.unlink()
        write_bytes(bundle / f"pagefind.{new_hash}.pf_meta", _gzip(data))
        info["hash"] = new_hash
    write_bytes(entry_path, json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode())


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def _read_chunk(path: Path) -> Any:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if not data.startswith(_SIGNATURE):
        raise SearchIndexError(f"{path}: not a Pagefind chunk")
    value, end = _cbor_decode(data, len(_SIGNATURE))
    if end != len(data):
        raise SearchIndexError(f"{path}: trailing bytes after the CBOR value")
    return value


def _cbor_head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for info, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
        if n < 1 << (8 * struct.calcsize(fmt)):
            return bytes([major << 5 | info]) + struct.pack(fmt, n)
    raise ValueError(f"integer too large for CBOR: {n}")


def _cbor_encode(value: Any) -> bytes:
    """The CBOR subset Pagefind writes (definite lengths, shortest integer forms)."""
    if value is True or value is False or value is None:
        return {True: b"\xf5", False: b"\xf4", None: b"\xf6"}[value]
    if isinstance(value, int):
        return _cbor_head(0, value) if value >= 0 else _cbor_head(1, -1 - value)
    if isinstance(value, bytes):
        return _cbor_head(2, len(value)) + value
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _cbor_head(3, len(raw)) + raw
    if isinstance(value, list):
        return _cbor_head(4, len(value)) + b"".join(_cbor_encode(v) for v in value)
    if isinstance(value, dict):
        return _cbor_head(5, len(value)) + b"".join(_cbor_encode(k) + _cbor_encode(v) for k, v in value.items())
    raise SearchIndexError(f"unexpected value in a Pagefind chunk: {type(value).__name__}")


def _cbor_decode(data: bytes, i: int) -> tuple[Any, int]:
    first = data[i]
    major, info = first >> 5, first & 31
    i += 1
    if info < 24:
        n = info
    elif info <= 27:
        size = 1 << (info - 24)
        n = int.from_bytes(data[i:i + size], "big")
        i += size
    elif major == 7 or info == 31:
        raise SearchIndexError(f"unsupported CBOR item {first:#x} (floats, indefinite lengths)")
    else:
        raise SearchIndexError(f"malformed CBOR item {first:#x}")
    if major == 0:
        return n, i
    if major == 1:
        return -1 - n, i
    if major == 2:
        return bytes(data[i:i + n]), i + n
    if major == 3:
        return data[i:i + n].decode("utf-8"), i + n
    if major == 4:
        items = []
        for _ in range(n):
            item, i = _cbor_decode(data, i)
            items.append(item)
        return items, i
    if major == 5:
        mapping = {}
        for _ in range(n):
            key, i = _cbor_decode(data, i)
            mapping[key], i = _cbor_decode(data, i)
        return mapping, i
    if major == 7 and n in (20, 21, 22):
        return {20: False, 21: True, 22: None}[n], i
    raise SearchIndexError(f"unsupported CBOR item {first:#x}")

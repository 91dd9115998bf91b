"""The ``openem`` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .records import problems as P
from .records.cache import ENV_SWITCH
from .records.load import DATASET_FILE, DATASETS, find_root, load_catalogue
from .records.model import Manifest
from .records.validate import schema as load_schema

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A mistake in how the command was called; shown without a traceback."""


def _root(args: argparse.Namespace, paths: Sequence[str] = ()) -> Path:
    if args.root:
        root = Path(args.root)
        if not (root / "datasets" / "facilities.yaml").is_file():
            raise UsageError(f"{root} is not a catalogue: it has no datasets/facilities.yaml")
        return root
    start = Path(paths[0]) if paths else Path.cwd()
    root = find_root(start)
    if root is None:
        raise UsageError(f"no catalogue found at or above {start} (looked for datasets/facilities.yaml); "
                         "run from the catalogue's folder or pass --root")
    return root


def _check_id(ident: str) -> str:
    """``ident`` if it is a valid dataset id (so it can be shown and used in paths as it is), else a UsageError."""
    import re

    if not re.fullmatch(load_schema("dataset")["properties"]["id"]["pattern"].strip("^$"), ident):
        raise UsageError(f"{P.clean(repr(ident))} is not a valid id: use 3 to 64 lowercase letters, digits and "
                         "hyphens, starting with a letter or digit")
    return ident


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate the catalogue (or the given dataset files) and report every problem."""
    from .infra.progress import Progress, active, wanted

    root = _root(args, args.paths)
    only = [Path(p) for p in args.paths] or None
    with active(Progress(wanted(args.progress))):
        result = load_catalogue(root, only, disk_cache=False if args.no_cache else None)
    found = result.problems
    fmt = args.format or ("github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text")
    P.emit(found, fmt, sys.stdout)
    n_err = len(P.errors(found))
    n_warn = len(found) - n_err
    checked = len(result.documents)
    if fmt != "json":
        verdict = "valid" if n_err == 0 else "invalid"
        print(f"Checked {checked} dataset{'s' * (checked != 1)}: {n_err} error{'s' * (n_err != 1)}, "
              f"{n_warn} warning{'s' * (n_warn != 1)} — {verdict}.", file=sys.stderr)
    if n_err or (args.strict and n_warn):
        return EXIT_INVALID
    return EXIT_OK


def cmd_new(args: argparse.Namespace) -> int:
    """Write a commented dataset.yaml stub for a new dataset id."""
    from .authoring.scaffold import dataset_stub

    ident = _check_id(args.id)
    root = _root(args)
    folder = root / DATASETS / ident
    target = folder / DATASET_FILE
    if folder.exists():
        raise UsageError(f"{target.relative_to(root)} exists already; choose another id or edit that file")
    folder.mkdir(parents=True)
    tmp = target.with_suffix(".yaml.tmp")
    tmp.write_text(dataset_stub(ident), encoding="utf-8")
    tmp.replace(target)
    shown = target.relative_to(root)
    print(f"wrote {shown}: fill in every TODO, then run `openem validate {shown}`")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema of dataset.yaml (or of facilities.yaml)."""
    sys.stdout.write(json.dumps(load_schema(args.name), indent=2, ensure_ascii=False) + "\n")
    return EXIT_OK


def cmd_build(args: argparse.Namespace) -> int:
    """Validate and build the complete site."""
    import logging

    from .site.build import BuildError, build_site

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(P.EntryFormatter("%(levelname)s: %(message)s"))
    # Build errors come back in the BuildError message; print them once.
    handler.addFilter(lambda r: r.levelno < logging.ERROR or r.name != "mkdocs.commands.build")
    for name in ("mkdocs", "openem"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO if args.verbose else logging.WARNING)
        logger.propagate = False
    root = _root(args)
    # The MkDocs plugin loads the catalogue; the cache switch reaches it through the environment.
    before = os.environ.get(ENV_SWITCH)
    if args.no_cache:
        os.environ[ENV_SWITCH] = "off"
    site_url = None
    if args.site_url:
        from .infra.context import SettingsError, check_site_url

        try:
            site_url = check_site_url(args.site_url)
        except SettingsError as exc:
            raise UsageError(str(exc)) from None
    from .infra.progress import Progress, active, wanted
    from .render.pages import human_size

    started = time.monotonic()
    progress = Progress(wanted(args.progress))
    try:
        with active(progress):
            build_site(root, Path(args.site_dir) if args.site_dir else None, config=args.config, site_url=site_url)
    except BuildError as exc:
        print(f"openem: {P.entry(str(exc))}", file=sys.stderr)
        return EXIT_INVALID
    finally:
        if before is None:
            os.environ.pop(ENV_SWITCH, None)
        else:
            os.environ[ENV_SWITCH] = before
    pages = [ph for ph in progress.phases if ph.name == "pages"]
    made = f": {pages[-1].files:,} dataset pages with their files, {human_size(pages[-1].bytes)}," if pages else ""
    print(P.clean(f"site written to {Path(args.site_dir or root / 'site')}{made} in "
                  f"{time.monotonic() - started:.1f} s"), file=sys.stderr)
    return EXIT_OK


def cmd_doi(args: argparse.Namespace) -> int:
    """Register a dataset's DataCite DOI: reserve a draft, publish it (findable) or update its metadata.

    Talks to DataCite's test API unless --endpoint or DATACITE_ENDPOINT says otherwise. Credentials come
    from DATACITE_REPOSITORY_ID and DATACITE_PASSWORD, the prefix from --prefix or DATACITE_PREFIX.
    """
    from .doi import DOIError, Settings, run, site_context

    root = _root(args)
    result = load_catalogue(root)
    dataset = result.catalogue.by_id.get(args.id)
    if dataset is None:
        bad = [p for p in P.errors(result.problems) if f"/{args.id}/" in f"/{p.text()}"]
        if bad:
            sys.stdout.write(P.render(bad, "text"))
            raise UsageError(f"{args.id} is invalid; fix the problems above (`openem validate`) first")
        raise UsageError(f"no dataset '{args.id}' in {root / DATASETS}")
    try:
        settings = Settings.from_env(endpoint=args.endpoint, prefix=args.prefix)
        ctx = site_context(root, result.catalogue, args.config)
        outcome = run(args.action, ctx, dataset, settings, root=root, dry_run=args.dry_run, force=args.force)
    except DOIError as exc:
        print(P.entry(f"openem doi {args.action} {args.id}: {exc}"), file=sys.stderr)
        return EXIT_INVALID
    if args.dry_run:
        for request in outcome.requests:
            print(request.describe(settings.endpoint))
    where = "DataCite test API" if settings.is_test else settings.endpoint
    print(P.entry(f"{outcome.message} [{where}]"), file=sys.stderr)
    return EXIT_OK


def cmd_manifest(args: argparse.Namespace) -> int:
    """Write datasets/<id>/manifest.json from the installed subdataset datasets/<id>/data.

    Lists every file of the subdataset's checked-out commit with its size, git-annex key, checksum and the URLs
    git-annex knows, without downloading content; file headers are read, and the previews of a few maps,
    tomograms, micrographs or tilt series remade, where content is present. With --check, only compares and exits
    1 when the manifest is out of date.
    """
    from .data import annex
    from .data.headers import read_headers
    from .records.manifest import MANIFEST_FILE, SUBDATASET, compare, dumps, from_repo, read, write

    root = _root(args)
    folder = root / DATASETS / _check_id(args.id)
    data = folder / SUBDATASET
    shown = f"{DATASETS}/{args.id}/{SUBDATASET}"
    if not folder.is_dir():
        raise UsageError(f"no dataset '{args.id}' in {root / DATASETS}")
    if not (data.is_dir() and annex.is_repo(data)):
        raise UsageError(f"{shown} is not installed: install it with `datalad get -n {shown}` (or register it "
                         f"with `datalad clone -d . <url> {shown}`)")
    path = folder / MANIFEST_FILE
    previous = read(path, root)[0] if path.is_file() else None
    try:
        fresh = from_repo(data, read_headers=read_headers, previous=previous)
    except annex.AnnexError as exc:
        print(P.entry(f"openem manifest: {exc}"), file=sys.stderr)
        return EXIT_INVALID
    target = path.relative_to(root)
    if args.check:
        if previous is None:
            print(f"{target}: missing or invalid (run `openem manifest {args.id}`)")
            return EXIT_INVALID
        diffs = compare(previous, fresh)
        changed = diffs or dumps(previous) != dumps(fresh)
        for d in diffs:
            print(P.clean(f"{target}: {d.text}"))
        if changed and not diffs:
            print(f"{target}: file headers or formatting differ")
        return EXIT_INVALID if changed else EXIT_OK
    changed = write(path, fresh)
    print(f"{'wrote' if changed else 'unchanged:'} {target}: {len(fresh.files)} files, {fresh.total_size} bytes, "
          f"commit {fresh.commit}", file=sys.stderr)
    _write_previews(root, folder, data, fresh)
    pinned = annex.gitlink(root, shown) if annex.is_repo(root) else None
    if pinned != fresh.commit:
        print(f"record this version of the subdataset with it: datalad save -d . -m 'Update {args.id}' "
              f"{shown} {target}", file=sys.stderr)
    return EXIT_OK


def _write_previews(root: Path, folder: Path, data: Path, manifest: Manifest) -> None:
    """Remake datasets/<id>/previews/ from the image sets of dataset.yaml (or, while it has none, the folders the
    manifest suggests), where the content of a map, tomogram, micrograph or tilt series is present."""
    from .data import gallery
    from .records.load import read_yaml
    from .records.manifest import guess_image_sets

    doc = read_yaml(folder / DATASET_FILE, root)[0]
    sets = gallery.sets_of(doc.data) if doc is not None else []
    if not sets:
        sets = [(s.directory, s.category, s.format) for s in guess_image_sets(manifest)]
    made, notes = gallery.write(folder, data, sets, [f.path for f in manifest.files], manifest.commit)
    rel = folder.relative_to(root)
    if made is None:
        print("no previews made: get the content of a map, tomogram, micrograph, tilt series or spectrum first (e.g. "
              f"`datalad get {rel}/data/<file>`)", file=sys.stderr)
    else:
        print(P.clean(f"previews of {', '.join(made)} in {rel}/{gallery.PREVIEWS_DIR}/"), file=sys.stderr)
    for note in notes:
        print(P.entry(f"openem manifest: {note}"), file=sys.stderr)


def cmd_add(args: argparse.Namespace) -> int:
    """Add a dataset: a data directory or a DataLad dataset (URL or folder) becomes datasets/<id>.

    Creates or reuses a DataLad dataset for the files, registers it as the subdataset datasets/<id>/data, writes
    manifest.json and a dataset.yaml stub pre-filled from the files, and commits the three together. A plain
    directory is read once (checksums and header facts, in parallel) and its files enter the new dataset without a
    second copy (--mode link: hard links, else copy-on-write clones, else left in place for `openem publish` to
    send from there) or as copies (--mode copy); the originals are never modified, moved or made read-only. An
    interrupted add run again reads only the files it had not finished. Refuses to overwrite an entry; on any
    failure the catalogue is left as it was.
    """
    import signal

    from .authoring.add import AddError, add_dataset
    from .data.headers import read_headers

    root = _root(args)
    if args.publish:
        from .infra.context import source_date_epoch

        source_date_epoch()  # malformed, it would stop the publishing after the add: say so before

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    from .infra.progress import Progress, wanted
    from .render.pages import human_size

    old = signal.signal(signal.SIGTERM, interrupted)
    started = time.monotonic()
    progress = Progress(wanted(args.progress))
    try:
        result = add_dataset(root, args.source, args.id, url=args.url, commit=not args.no_commit,
                             read_headers=read_headers, mode=args.mode, progress=progress,
                             oscem=Path(args.oscem) if args.oscem else None,
                             log=lambda m: print(P.entry(f"openem add: {m}"), file=sys.stderr))
    except AddError as exc:
        raise UsageError(str(exc)) from exc
    finally:
        signal.signal(signal.SIGTERM, old)
    rel = result.folder.relative_to(root)
    print(f"added {rel}: {len(result.manifest.files):,} files, {human_size(result.manifest.total_size)} "
          f"({result.manifest.total_size:,} bytes) in {time.monotonic() - started:.1f} s"
          + (f"; content {result.way}" if result.created else ""))
    for phase in progress.phases:
        if phase.name == "reading" and phase.seconds > 0:
            print(f"  read {phase.files:,} files, {human_size(phase.bytes)} in {phase.seconds:.1f} s "
                  f"({phase.bytes / phase.seconds / 1e6:,.0f} MB/s)")
    if result.created:
        print(f"  commit {result.manifest.commit[:12]} in {rel}/data: the new DataLad dataset with the files "
              f"(\"Add the files of {args.id}\")")
    if result.catalogue_commit:
        print(f"  commit {result.catalogue_commit[:12]} in the catalogue: {rel}/ and .gitmodules (\"Add dataset "
              f"{args.id} (openem add)\")")
    else:
        print(f"  staged in the catalogue, not committed: {rel}/ and .gitmodules")
    if args.publish:
        from .data.publish import PublishError, publish_entry, store_for

        try:
            done = publish_entry(root, args.id, store_for(root), commit=not args.no_commit,
                                 log=lambda m: print(P.entry(f"openem add: {m}"), file=sys.stderr))
        except PublishError as exc:
            print(P.entry(f"openem add: the entry was added, but publishing it failed: {exc}"), file=sys.stderr)
            print(f"openem add: run `openem publish {args.id}` again once that is fixed", file=sys.stderr)
            return EXIT_INVALID
        print(f"published to the store: `datalad clone {done.store.clone_url}`")
        if done.catalogue_commit:
            print(f"  commit {done.catalogue_commit[:12]} in the catalogue: {', '.join(done.changed)} (\"Publish "
                  f"{args.id} to the OpenEM store (openem publish)\")")
    todo = "" if result.url or args.publish else f", publish the files with `openem publish {args.id}`"
    print(f"next: fill in every TODO in {rel}/{DATASET_FILE}{todo}, then run `openem validate {rel}`")
    return EXIT_OK


def cmd_publish(args: argparse.Namespace) -> int:
    """Put an entry's DataLad dataset (datasets/<id>/data, with its content) into the OpenEM store.

    Checks first that manifest.json describes the dataset; sends the git history and every file's content not
    yet in the store (an interrupted run continues where it stopped); then clones it back from the store's public
    URL and checks the content; only then points the entry at the store (data.datalad, .gitmodules, the
    manifest's download URLs) in one catalogue commit. The store is the openem plugin's `store` in mkdocs.yml,
    $OPENEM_STORE or --store: a folder (served by the site, or by any static web server) or s3://bucket/prefix
    (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, never from the catalogue).
    """
    from .data.publish import PublishError, publish_entry, store_for
    from .infra.context import read_settings
    from .infra.progress import Progress, wanted
    from .render.pages import human_size

    root = _root(args)
    _check_id(args.id)
    started = time.monotonic()
    try:
        settings = read_settings(root, args.config)
        store = store_for(root, settings, location=args.store, public_url=args.store_url, endpoint=args.endpoint_url)
        done = publish_entry(root, args.id, store, verify=args.verify, commit=not args.no_commit,
                             log=lambda m: print(P.entry(f"openem publish: {m}"), file=sys.stderr),
                             progress=Progress(wanted(args.progress)))
    except PublishError as exc:
        print(P.entry(f"openem publish {args.id}: {exc}"), file=sys.stderr)
        return EXIT_INVALID
    except ValueError as exc:  # SettingsError
        raise UsageError(str(exc)) from None
    r = done.store
    print(f"published {args.id}: {r.files:,} files ({r.uploaded:,} sent, {human_size(r.uploaded_bytes)}; "
          f"{r.present:,} already in the store) in {time.monotonic() - started:.1f} s; clone with "
          f"`datalad clone {r.clone_url}`")
    if done.catalogue_commit:
        print(f"catalogue commit {done.catalogue_commit[:12]}: {', '.join(done.changed)}")
    elif done.changed:
        print(f"staged, not committed: {', '.join(done.changed)}")
    else:
        print("the catalogue already pointed at the store: nothing to commit")
    return EXIT_OK


def _progress_options(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--progress", action="store_true", default=None, help="show progress bars even when not on a "
                   "terminal (default: on a terminal, outside CI)")
    g.add_argument("--quiet", dest="progress", action="store_false", help="no progress bars (the summary is "
                   "printed still)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="openem", description="Validate, enrich and publish the OpenEM catalogue "
                                "of electron-microscopy data.")
    p.add_argument("--root", help="the catalogue's root folder (default: found from the current folder)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, func: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=func.__doc__)
        sp.set_defaults(func=func)
        return sp

    v = add("validate", cmd_validate, "check dataset files and report every problem")
    v.add_argument("paths", nargs="*", metavar="PATH", help="dataset.yaml files or dataset folders "
                   "(default: the whole catalogue)")
    v.add_argument("--format", choices=["text", "json", "github"],
                   help="output format (default: github under GitHub Actions, else text)")
    v.add_argument("--strict", action="store_true", help="fail on warnings too")
    v.add_argument("--no-cache", action="store_true", help="check every dataset again: neither read nor write the "
                   "cache of earlier results (also: OPENEM_CACHE=off)")
    _progress_options(v)

    n = add("new", cmd_new, "start a new dataset from a commented template")
    n.add_argument("id", help="the new dataset's id (lowercase slug)")

    s = add("schema", cmd_schema, "print the JSON Schema")
    s.add_argument("--name", choices=["dataset", "facilities"], default="dataset")

    b = add("build", cmd_build, "validate and build the complete site")
    b.add_argument("-d", "--site-dir", help="output folder (default: site/)")
    b.add_argument("-f", "--config", default="mkdocs.yml", help="MkDocs configuration (default: mkdocs.yml)")
    b.add_argument("-v", "--verbose", action="store_true", help="show MkDocs' progress messages")
    b.add_argument("--site-url", help="build the site for this URL instead of mkdocs.yml's site_url (every absolute "
                   "URL follows it, the store's included), e.g. http://127.0.0.1:8000/ to serve it locally")
    b.add_argument("--no-cache", action="store_true", help="check every dataset again: neither read nor write the "
                   "cache of earlier results (also: OPENEM_CACHE=off)")
    _progress_options(b)

    d = add("doi", cmd_doi, "reserve, publish or update a dataset's DataCite DOI")
    d.add_argument("action", choices=["reserve", "publish", "update"],
                   help="reserve: create a draft; publish: make it findable at the landing page; "
                   "update: send changed metadata")
    d.add_argument("id", help="the dataset's id")
    d.add_argument("--dry-run", action="store_true", help="print the requests instead of sending them")
    d.add_argument("--force", action="store_true", help="allow re-pointing a registered DOI to a new URL")
    d.add_argument("--endpoint", help="DataCite REST API (default: $DATACITE_ENDPOINT, else the test API "
                   "https://api.test.datacite.org)")
    d.add_argument("--prefix", help="DOI prefix for new DOIs (default: $DATACITE_PREFIX)")
    d.add_argument("-f", "--config", default="mkdocs.yml", help="MkDocs configuration giving the site URL "
                   "(default: mkdocs.yml)")

    m = add("manifest", cmd_manifest, "write datasets/<id>/manifest.json from the installed DataLad subdataset")
    m.add_argument("id", help="the dataset's id")
    m.add_argument("--check", action="store_true", help="only compare; exit 1 when the manifest is out of date")

    a = add("add", cmd_add, "add a dataset from a data directory or a DataLad dataset")
    a.add_argument("source", metavar="DIRECTORY-OR-URL", help="a folder of data files, a local DataLad dataset, "
                   "or the clone URL of a published DataLad dataset")
    a.add_argument("--id", required=True, help="the new dataset's id (lowercase slug)")
    a.add_argument("--url", help="the public clone URL of the DataLad dataset, when SOURCE is a local folder "
                   "(recorded in .gitmodules and data.datalad)")
    a.add_argument("--no-commit", action="store_true", help="stage the new entry without committing it")
    a.add_argument("--publish", action="store_true", help="then publish the files into the OpenEM store "
                   "(`openem publish`), when SOURCE is a folder or a local DataLad dataset")
    a.add_argument("--oscem", metavar="FILE", help="an OSC-EM JSON or YAML file to pre-fill dataset.yaml from "
                   "(default: the OSC-EM file among the files, if there is one)")
    a.add_argument("--mode", choices=["link", "copy"], default="link", help="how a plain folder's files enter the "
                   "dataset: link (default: hard links, else copy-on-write clones, else left in place; no second "
                   "copy) or copy")
    _progress_options(a)

    pb = add("publish", cmd_publish, "put an entry's DataLad dataset into the OpenEM store and point the entry at it")
    pb.add_argument("id", help="the dataset's id")
    pb.add_argument("--store", help="where to write: a folder, or s3://bucket/prefix (default: mkdocs.yml's store, "
                    "or $OPENEM_STORE)")
    pb.add_argument("--store-url", help="the store's public http(s) URL (default: mkdocs.yml's store_url under the "
                    "site, or $OPENEM_STORE_URL)")
    pb.add_argument("--endpoint-url", help="S3 endpoint, for S3-compatible storage other than AWS (default: "
                    "$OPENEM_S3_ENDPOINT)")
    pb.add_argument("--verify", choices=["content", "presence", "no"], default="content",
                    help="after publishing, clone from the public URL and download and check every file (content, "
                    "the default), only check that the store has each file (presence), or not (no)")
    pb.add_argument("--no-commit", action="store_true", help="stage the catalogue's changes without committing them")
    _progress_options(pb)
    pb.add_argument("-f", "--config", default="mkdocs.yml", help="MkDocs configuration giving the store (default: "
                    "mkdocs.yml)")

    x = add("export", cmd_export, "write EMPIAR (JSON) and OneDep (PDBx/mmCIF) deposition files, and OSC-EM JSON")
    x.add_argument("kind", choices=["empiar", "mmcif", "oscem", "all"], help="empiar: EMPIAR deposition JSON; mmcif: "
                   "PDBx/mmCIF for EMDB/PDB (OneDep); oscem: OSC-EM JSON (the report names the fields OSC-EM has no "
                   "place for); all: every export of every dataset into the site")
    x.add_argument("id", nargs="?", help="the dataset's id (not with all)")
    x.add_argument("-o", "--output", help="file to write (default: standard output)")
    x.add_argument("-d", "--site-dir", help="with all: the site folder to write into (default: site/)")
    x.add_argument("-f", "--config", default="mkdocs.yml", help="MkDocs configuration giving the site URL "
                   "(default: mkdocs.yml)")

    o = add("oai", cmd_oai, "serve the built site's OAI-PMH 2.0 endpoint")
    o.add_argument("action", choices=["serve"], help="serve: answer OAI-PMH requests until interrupted")
    o.add_argument("--site", help="the folder `openem build` wrote (default: the catalogue's site/)")
    o.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    o.add_argument("--port", type=int, default=8001, help="port (default: 8001)")
    o.add_argument("--base-url", help="the endpoint's public URL, as Identify and every response name it "
                   "(default: http://HOST:PORT/)")
    o.add_argument("--page-size", type=int, default=100, help="records or headers per list response before a "
                   "resumption token (default: 100)")
    return p


def cmd_export(args: argparse.Namespace) -> int:
    """Write deposition files: `export empiar|mmcif|oscem ID [-o FILE]` for one dataset, `export all [-d SITE_DIR]`.

    An export EMPIAR or OneDep could not accept (a technique they do not take, or a required field the entry
    lacks) is not written: the messages name the YAML field to add, and the command exits 1.
    """
    from .commands.export import export_all, export_one
    from .doi import site_context

    root = _root(args)

    def context(r: Path, catalogue: object) -> object:
        return site_context(r, catalogue, args.config)

    if args.kind == "all":
        if args.id or args.output:
            raise UsageError("export all takes no id and no -o; use -d SITE_DIR")
        return export_all(root, Path(args.site_dir) if args.site_dir else root / "site", context=context)
    if not args.id:
        raise UsageError(f"export {args.kind} needs a dataset id")
    if args.site_dir:
        raise UsageError("-d is for export all; use -o FILE")
    return export_one(root, args.kind, args.id, Path(args.output) if args.output else None, context=context)


def cmd_oai(args: argparse.Namespace) -> int:
    """Serve the OAI-PMH 2.0 endpoint (`oai serve`) over the records `openem build` wrote into the site: all six
    verbs, oai_dc and oai_datacite, sets by facility and technique, deleted records; see docs/api.md."""
    from .site.oaiserve import serve

    site = Path(args.site) if args.site else _root(args) / "site"
    return serve(site, args.host, args.port, args.base_url, args.page_size)


def main(argv: Sequence[str] | None = None) -> int:
    from .data.annex import use_own_tools
    from .infra.context import SettingsError

    use_own_tools()  # git-annex and DataLad's helpers of this environment, whatever PATH says
    # All the command prints goes through these: no line of it (a folder's name, a YAML value) can be read as a
    # GitHub Actions workflow command. Messages themselves are made single-line where printed (P.clean, P.entry).
    streams = sys.stdout, sys.stderr
    guards = [P.CommandGuard(s) if s is not None else None for s in streams]
    sys.stdout, sys.stderr = guards  # type: ignore[assignment]
    try:
        args = parser().parse_args(argv)
        try:
            return args.func(args)
        except (UsageError, SettingsError) as exc:  # SettingsError: e.g. a malformed SOURCE_DATE_EPOCH
            print(f"openem: {P.entry(str(exc))}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            print("openem: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:
            return EXIT_OK
    finally:
        for guard in guards:
            if guard is not None:
                guard.close()
        sys.stdout, sys.stderr = streams


if __name__ == "__main__":
    sys.exit(main())

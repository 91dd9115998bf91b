"""Make the example entries' DataLad datasets and publish them into the catalogue's OpenEM store.

``make site`` and ``make serve`` run this before building the site: for every entry in ``examples/datasets.yaml``
it makes the DataLad dataset ``datasets/<id>/data`` from the files in ``examples/files/`` and the simulations of
``examples/simulate.py``, and publishes it (``openem publish``'s own code) into the store that mkdocs.yml names,
which the site build then serves next to the pages. A second run finds everything in place and does nothing.

The datasets are made the same way on every machine (fixed ids, dates, identities, content; git and git-annex with
no user configuration), so their commits are the ones the catalogue records for ``datasets/<id>/data`` and
whose files ``datasets/<id>/manifest.json`` lists. Should a machine make a different dataset, this fails and says
so rather than serve data the pages do not describe. ``--update`` rewrites the entries' manifests, previews and
subdataset records from the datasets instead (for whoever changes the example data; commit the result).
"""

from __future__ import annotations

import argparse
import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import simulate  # noqa: E402  (examples/simulate.py, beside this file)

from openem_build.data import annex, gallery, submodules  # noqa: E402
from openem_build.data import store as S  # noqa: E402
from openem_build.data.headers import read_headers  # noqa: E402
from openem_build.data.publish import PublishError, store_for, with_datalad_url  # noqa: E402
from openem_build.infra.context import read_settings  # noqa: E402
from openem_build.records import manifest as M  # noqa: E402

BRANCH = "main"
IDENTITY = {"GIT_AUTHOR_NAME": "OpenEM example data", "GIT_AUTHOR_EMAIL": "examples@openem.invalid",
            "GIT_COMMITTER_NAME": "OpenEM example data", "GIT_COMMITTER_EMAIL": "examples@openem.invalid"}
DATALAD_CONFIG = '[datalad "dataset"]\n\tid = {id}\n'
DATALAD_ATTRIBUTES = ("config annex.largefiles=nothing\nmetadata/aggregate* annex.largefiles=nothing\n"
                      "metadata/objects/** annex.largefiles=(anything)\n")
ATTRIBUTES = "* annex.backend=MD5E\n**/.git* annex.largefiles=nothing\n"


class ExampleError(RuntimeError):
    pass


def _env(date: str | None = None) -> dict[str, str]:
    """git and git-annex without the user's or the system's configuration (signing, hooks, backends …)."""
    env = {k: v for k, v in annex.tool_env().items() if not k.startswith("GIT_")}
    env.update(IDENTITY, GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    return env


def _run(cwd: Path, *args: str, date: str | None = None) -> str:
    proc = subprocess.run(list(args), cwd=cwd, env=_env(date), capture_output=True, text=True, check=False)
    if proc.returncode:
        raise ExampleError(f"`{' '.join(args)}` failed in {cwd}: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def make_dataset(path: Path, spec: dict) -> str:
    """The DataLad dataset of one example entry at ``path`` (which must not exist); returns its commit."""
    path.mkdir(parents=True)
    _run(path, "git", "init", "-q", "-b", BRANCH)
    _run(path, "git", "config", "annex.private", "true")  # nothing about this machine in its git-annex branch
    (path / ".datalad").mkdir()
    (path / ".datalad" / "config").write_text(DATALAD_CONFIG.format(id=spec["datalad_id"]), encoding="utf-8")
    (path / ".datalad" / ".gitattributes").write_text(DATALAD_ATTRIBUTES, encoding="utf-8")
    (path / ".gitattributes").write_text(ATTRIBUTES, encoding="utf-8")
    _run(path, "git", "annex", "init", "-q")
    for target, source in sorted(spec["files"].items()):
        out = path / target
        out.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(source, str):
            origin = HERE / "files" / source
            if origin.is_dir():
                shutil.copytree(origin, out)
            else:
                shutil.copyfile(origin, out)
        else:
            options = dict(source)
            kind = options.pop("simulate")
            if "mdoc" in options:
                options["mdoc"] = HERE / "files" / options["mdoc"]
            make = getattr(simulate, kind)
            where = "out" if "out" in inspect.signature(make).parameters else "out_dir"
            make(**{where: out}, **options)
    _run(path, "git", "annex", "add", "-q", ".")
    _run(path, "git", "add", "--", ".datalad", ".gitattributes")
    _run(path, "git", "commit", "-q", "-m", f"Example data of {path.parent.name} (examples/build.py)",
         date=spec["date"])
    return _run(path, "git", "rev-parse", "HEAD").strip()


def _recorded(root: Path, ident: str) -> str | None:
    return submodules.gitlink(root, f"datasets/{ident}/data")


def ensure_dataset(root: Path, ident: str, spec: dict, update: bool) -> str:
    """datasets/<id>/data at the commit the catalogue records (made when it is missing); returns the commit."""
    data = root / "datasets" / ident / "data"
    expected = _recorded(root, ident)
    if data.is_dir() and annex.is_repo(data):
        head = annex.head(data)
        if head == expected or (update and expected is None):
            return head
        if not update:
            raise ExampleError(f"datasets/{ident}/data is at {head[:12]}, but the catalogue records {expected}: "
                               "remove the folder's content and run this again")
        annex.remove_tree(data)
    elif data.exists() and any(data.iterdir()):
        raise ExampleError(f"datasets/{ident}/data is not empty and not a DataLad dataset: move it away")
    building = data.with_name(".data.building")
    annex.remove_tree(building)
    commit = make_dataset(building, spec)
    if expected is not None and commit != expected and not update:
        annex.remove_tree(building)
        raise ExampleError(f"the example data of {ident} came out as commit {commit[:12]} here, not as the "
                           f"{expected[:12]} the catalogue records: this machine's git, git-annex, numpy or mrcfile "
                           "makes other bytes. Please report it; `python examples/build.py --update` shows what "
                           "differs")
    if data.exists():
        data.rmdir()
    os.rename(building, data)
    return commit


def _published(store: S.Store, dsid: str, commit: str) -> bool:
    """Whether the (folder) store shows ``dsid`` at ``commit``."""
    live = Path(store.location) / S.dataset_dir(dsid)
    try:
        head = (live / "HEAD").read_text().strip()
        return (live / head[len("ref: "):]).read_text().strip() == commit
    except (OSError, ValueError):
        return False


def build(root: Path, update: bool = False, log=print) -> None:
    specs = yaml.safe_load((HERE / "datasets.yaml").read_text("utf-8"))
    settings = read_settings(root)
    try:
        store = store_for(root, settings)
    except PublishError as exc:
        raise ExampleError(str(exc)) from None
    if store.is_s3:
        raise ExampleError("the example data go into a folder store: set the openem plugin's `store` to a folder")
    stale = []
    for ident, spec in specs.items():
        commit = ensure_dataset(root, ident, spec, update)
        data = root / "datasets" / ident / "data"
        if not _published(store, spec["datalad_id"], commit):
            log(f"examples: publishing {ident} into {store.location}")
            S.publish(store, data, commit, verify="content")
        stale += _check_entry(root, ident, store, data, update)
        # A fresh index, so that `git status` in the catalogue needs no git-annex to see the dataset is clean.
        subprocess.run(["git", "update-index", "-q", "--refresh"], cwd=data, env=_env(), capture_output=True,
                       check=False)
    if stale and not update:
        raise ExampleError("the example entries do not match their data: " + "; ".join(stale) + ". Run `python "
                           "examples/build.py --update` and commit the result")


def _check_entry(root: Path, ident: str, store: S.Store, data: Path, update: bool) -> list[str]:
    """What of the entry (manifest, data.datalad, .gitmodules, gitlink, previews) differs from its dataset; with
    ``update``, rewritten instead."""
    folder = root / "datasets" / ident
    fresh = M.from_repo(data, read_headers=read_headers)
    dsid = fresh.datalad_id or ""
    out = []
    path = folder / M.MANIFEST_FILE
    if not path.is_file() or path.read_text("utf-8") != M.dumps(fresh):
        out.append(f"datasets/{ident}/{M.MANIFEST_FILE}")
        if update:
            M.write(path, fresh)
            doc = yaml.safe_load((folder / "dataset.yaml").read_text("utf-8"))
            sets = gallery.sets_of(doc)
            gallery.write(folder, data, sets, [f.path for f in fresh.files], fresh.commit)
    yaml_path = folder / "dataset.yaml"
    text = yaml_path.read_text("utf-8")
    pointed = with_datalad_url(text, store.clone_url(dsid))
    if pointed != text:
        out.append(f"datasets/{ident}/dataset.yaml (data.datalad)")
        if update:
            yaml_path.write_text(pointed, encoding="utf-8")
    sub = submodules.read_gitmodules(root).get(f"datasets/{ident}/data")
    if (sub is None or sub.url != store.git_url(dsid) or _recorded(root, ident) != fresh.commit
            or sub.datalad_id != dsid):
        out.append(f".gitmodules and the gitlink of datasets/{ident}/data")
        if update:
            file = str(root / submodules.GITMODULES)
            name = sub.name if sub else f"datasets/{ident}/data"
            for key, value in (("path", f"datasets/{ident}/data"), ("url", store.git_url(dsid)),
                               ("datalad-url", store.clone_url(dsid)), ("datalad-id", dsid)):
                annex.git(root, "config", "--file", file, f"submodule.{name}.{key}", value)
            annex.git(root, "update-index", "--add", "--cacheinfo", f"160000,{fresh.commit},datasets/{ident}/data")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=str(HERE.parent), help="the catalogue (default: this repository)")
    p.add_argument("--update", action="store_true", help="rewrite the entries from the datasets instead of checking")
    args = p.parse_args(argv)
    try:
        build(Path(args.root).absolute(), update=args.update)
    except (ExampleError, S.StoreError, annex.AnnexError) as exc:
        print(f"examples/build.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

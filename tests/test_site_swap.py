"""``openem build``'s output: a complete site at ``site/`` (or the previous one to put back) whatever is killed when,
one build of a site at a time, a full or read-only disk and a malformed SOURCE_DATE_EPOCH as one-line messages.

The builds that are killed are real ``openem build`` processes; the kill points are set by patching the build's
own steps in that process (see KILLER), so the production code has no hook for them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from openem_build.cli import main
from openem_build.site import build as B

from .conftest import ROOT, example_document, write_dataset

MARK = "previous-site.txt"  # put into the first site: which site is which
# A build killed by itself at one point: `python -c KILLER POINT [openem arguments]`.
KILLER = r"""
import os, signal, sys, time
from pathlib import Path
from openem_build import cli
from openem_build.site import build as B

point = sys.argv[1]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if point == "building":  # the new site written aside, not swapped in
    real = B._build_into
    def build_into(*args):
        real(*args)
        die()
    B._build_into = build_into
elif point == "between-renames":  # no one-step exchange: killed between the two renames
    B._exchange = lambda a, b: False
    real_rename = Path.rename
    def rename(self, dst):
        done = real_rename(self, dst)
        if ".old-" in Path(dst).name:
            die()
        return done
    Path.rename = rename
elif point == "after-exchange":  # the new site in place, the previous one not yet out of the way
    assert B._renameat2() is not None
    B._trash = lambda path, target: die()
elif point == "hold":  # built aside, then waits (holding the lock) for the file argv[2] to appear
    release = Path(sys.argv.pop(2))
    real = B._build_into
    def build_into(*args):
        real(*args)
        release.with_suffix(".built").touch()
        while not release.exists():
            time.sleep(0.05)
    B._build_into = build_into
sys.exit(cli.main(sys.argv[2:]))
"""


def _copy_catalogue(dest: Path) -> Path:
    dest.mkdir()
    for name in ("datasets", "docs", "overrides"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("data", ".data.building"))
    shutil.copy(ROOT / "mkdocs.yml", dest / "mkdocs.yml")
    return dest


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalogue with its site built once (marked as the previous site)."""
    root = _copy_catalogue(tmp_path_factory.mktemp("built") / "catalogue")
    site = B.build_site(root)
    (site / MARK).write_text("the site before")
    return root


@pytest.fixture
def cat(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of ``built`` (its site included)."""
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    return Path(shutil.copytree(built, tmp_path / "catalogue", symlinks=True))


def snapshot(site: Path) -> dict[str, str]:
    """Every file of ``site`` with a hash of its bytes."""
    return {p.relative_to(site).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(site.rglob("*")) if p.is_file()}


def complete(site: Path) -> bool:
    """Whether ``site`` is a whole site: the last steps of a build (sitemap, search index) are there."""
    return all((site / p).is_file() for p in ("index.html", "sitemap.xml", "pagefind/pagefind-entry.json",
                                              f"datasets/{example_document()['id']}/index.html"))


def leftovers(root: Path, *kinds: str) -> list[str]:
    return sorted(p.name for p in root.iterdir() if any(p.name.startswith(f".site.{k}-") for k in kinds))


def wait_for_trash(root: Path) -> None:
    """The trash is deleted by a detached process: wait (without asserting a time) until it is gone."""
    deadline = time.monotonic() + 60
    while leftovers(root, "trash") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftovers(root, "trash") == []


def openem(*args: str, point: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", KILLER, point, *args] if point else [sys.executable, "-m", "openem_build.cli",
                                                                          *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, cwd=args[1])


# --- killed builds ----------------------------------------------------------------------------------------------


def test_a_build_killed_while_building_leaves_the_previous_site_and_the_next_clears_its_folder(cat: Path) -> None:
    site = cat / "site"
    before = snapshot(site)
    killed = openem("--root", str(cat), "build", point="building")
    assert killed.returncode == -9, killed.stderr
    assert snapshot(site) == before  # right after the kill
    assert leftovers(cat, "building")  # the killed build's folder, complete or not
    rerun = openem("--root", str(cat), "build")
    assert rerun.returncode == 0, rerun.stderr
    assert complete(site) and not (site / MARK).exists()
    assert leftovers(cat, "building", "old") == []
    wait_for_trash(cat)


def test_a_build_killed_between_the_two_renames_leaves_the_previous_site_to_put_back(cat: Path) -> None:
    site = cat / "site"
    before = snapshot(site)
    killed = openem("--root", str(cat), "build", point="between-renames")
    assert killed.returncode == -9, killed.stderr
    # Right after the kill: no site/, but the previous one, whole, beside it.
    assert not site.exists()
    (old,) = [cat / name for name in leftovers(cat, "old")]
    assert snapshot(old) == before
    rerun = openem("--root", str(cat), "build")
    assert rerun.returncode == 0, rerun.stderr
    assert "put the previous site back" in rerun.stderr
    assert complete(site) and not (site / MARK).exists()
    assert leftovers(cat, "building", "old") == []
    wait_for_trash(cat)


def test_a_failing_build_after_a_killed_swap_still_puts_the_previous_site_back(cat: Path) -> None:
    site = cat / "site"
    before = snapshot(site)
    assert openem("--root", str(cat), "build", point="between-renames").returncode == -9
    d = example_document()
    d["id"] = "broken-entry"
    d["instrument"]["acceleration_voltage_kV"] = 300000
    write_dataset(cat, d)
    failed = openem("--root", str(cat), "build")
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert "acceleration_voltage_kV" in failed.stderr
    assert snapshot(site) == before  # put back before the build failed, and left so
    assert leftovers(cat, "building", "old") == []


@pytest.mark.skipif(B._renameat2() is None, reason="no renameat2 here (the two-rename swap is tested above)")
def test_a_build_killed_after_the_exchange_leaves_the_new_site(cat: Path) -> None:
    site = cat / "site"
    before = snapshot(site)
    killed = openem("--root", str(cat), "build", point="after-exchange")
    assert killed.returncode == -9, killed.stderr
    assert complete(site) and not (site / MARK).exists()  # the new site, whole, right after the kill
    (aside,) = [cat / name for name in leftovers(cat, "building")]
    assert snapshot(aside) == before  # the previous one, not yet deleted
    rerun = openem("--root", str(cat), "build")
    assert rerun.returncode == 0, rerun.stderr
    assert complete(site) and leftovers(cat, "building", "old") == []
    wait_for_trash(cat)


def test_the_exchange_swaps_two_folders_in_one_step(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "from-a").touch()
    (b / "from-b").touch()
    if not B._exchange(a, b):
        pytest.skip("this system or file system cannot exchange two names")
    assert [p.name for p in a.iterdir()] == ["from-b"] and [p.name for p in b.iterdir()] == ["from-a"]
    with pytest.raises(FileNotFoundError):
        B._exchange(a, tmp_path / "missing")


def test_folders_left_by_killed_builds_are_cleared_and_the_previous_site_replaced(cat: Path) -> None:
    for name in (".site.building-abc123", ".site.old-12345", ".site.old-1700000000000000000-99",
                 ".site.trash-0123456789ab"):
        (cat / name / "datasets").mkdir(parents=True)
        (cat / name / "datasets" / "page.html").write_text("left over")
    site = B.build_site(cat)
    assert complete(site) and not (site / MARK).exists()
    assert leftovers(cat, "building", "old") == []
    wait_for_trash(cat)
    assert [p.name for p in cat.iterdir() if p.name.startswith(".site")] == []  # the lock file too


def test_the_newest_previous_site_is_put_back(cat: Path) -> None:
    site = cat / "site"
    before = snapshot(site)
    site.rename(cat / ".site.old-1700000000000000002-7")
    (cat / ".site.old-1700000000000000001-7").mkdir()  # an older one, cut short while deleted
    (cat / ".site.old-31").mkdir()  # named by an earlier version (by process id)
    B._recover(site)
    assert snapshot(site) == before
    assert leftovers(cat, "old", "building") == []
    wait_for_trash(cat)


# --- two builds at once -------------------------------------------------------------------------------------------


def test_a_second_build_of_the_site_waits_for_the_first(cat: Path, tmp_path: Path) -> None:
    release, built = tmp_path / "release", tmp_path / "release.built"
    first = subprocess.Popen([sys.executable, "-c", KILLER, "hold", str(release), "--root", str(cat), "build"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 300
        while not built.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert built.exists(), "the first build did not get to its swap"
        err = tmp_path / "second.err"
        with err.open("w") as sink:
            second = subprocess.Popen([sys.executable, "-m", "openem_build.cli", "--root", str(cat), "build"],
                                      stdout=subprocess.DEVNULL, stderr=sink, text=True, cwd=tmp_path)
            while "waiting" not in err.read_text() and second.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            waiting = [t for t in err.read_text().splitlines() if "store" not in t]
            release.touch()
            assert second.wait(timeout=300) == 0, err.read_text()
    finally:
        release.touch()
        try:
            first_err = first.communicate(timeout=300)[1]
        finally:
            first.kill()
    assert first.returncode == 0, first_err
    assert waiting == [f"WARNING: another build of {cat / 'site'} is running (process {first.pid}): "
                                    "waiting for it to end"]
    assert "Traceback" not in first_err + err.read_text()
    assert complete(cat / "site") and not (cat / "site" / MARK).exists()
    assert leftovers(cat, "building", "old") == []


# --- full and read-only disks -------------------------------------------------------------------------------------


def _namespaces() -> bool:
    """Whether this process may make a mount namespace of its own (root, or user namespaces allowed)."""
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-rm", "true"], capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(not _namespaces(), reason="needs `unshare -rm` (a mount namespace) for a small file system")
@pytest.mark.parametrize("disk", ["full", "read-only"])
def test_a_full_or_read_only_disk_is_a_one_line_message_and_the_site_stays(cat: Path, tmp_path: Path,
                                                                           disk: str) -> None:
    """A real file system: a tmpfs with room for the previous site and half a new one, or mounted read-only."""
    site = cat / "site"
    size_kb = sum(p.stat().st_size for p in site.rglob("*") if p.is_file()) // 1024
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    out = tmp_path / "out"
    readonly = f"mount -o remount,ro {mnt} && " if disk == "read-only" else ""
    script = (f"mount -t tmpfs -o size={size_kb * 3 // 2 + 256}k tmpfs {mnt} && cp -a {site} {mnt}/site && "
              f"{readonly}{sys.executable} -m openem_build.cli --root {cat} build -d {mnt}/site "
              f"> {out}.stdout 2> {out}.stderr; echo $? > {out}.rc; "
              f"{sys.executable} -c 'import sys, json; from tests.test_site_swap import snapshot; from pathlib "
              f"import Path; json.dump([snapshot(Path(sys.argv[1]) / \"site\"), sorted(p.name for p in "
              f"Path(sys.argv[1]).iterdir())], open(sys.argv[2], \"w\"))' {mnt} {out}.json")
    subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=ROOT, check=True, timeout=600)
    import json

    after, names = json.loads(Path(f"{out}.json").read_text())
    err = Path(f"{out}.stderr").read_text()
    assert Path(f"{out}.rc").read_text().strip() == "1", err
    assert "Traceback" not in err
    message = err.splitlines()[-1]
    expected = "No space left on device (ENOSPC)" if disk == "full" else "Read-only file system (EROFS)"
    # The path written (after the source, for a copy), in the full or read-only file system.
    assert message.startswith("openem: build failed: /") and f" {mnt}/" in f" {message}" and expected in message, err
    assert message.endswith(f"; {mnt}/site is as it was")
    assert after == snapshot(site)  # the previous site, whole
    assert [n for n in names if n.startswith(".site.")] == []  # no staging left, no lock file


@pytest.mark.parametrize("code", ["ENOSPC", "EDQUOT", "EIO", "EACCES"])
def test_a_write_error_is_a_one_line_message_naming_the_path(cat: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str], code: str) -> None:
    """The error where the dataset pages are written (by whichever writer: open() is where they all meet)."""
    import builtins
    import errno
    import io

    real = io.open
    number = getattr(errno, code)

    def failing_open(file: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        name = os.fsdecode(file) if isinstance(file, (str, bytes, os.PathLike)) else ""
        if set(mode) & set("wax+") and "/.site.building-" in name and "/datasets/" in name:
            raise OSError(number, os.strerror(number), name)
        return real(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", failing_open)
    monkeypatch.setattr(io, "open", failing_open)
    before = snapshot(cat / "site")
    assert main(["--root", str(cat), "build"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [t for t in err.splitlines() if t.startswith("openem:")]
    assert line.startswith(f"openem: build failed: {cat}/.site.building-") and "/datasets/" in line
    assert line.endswith(f": {os.strerror(number)} ({code}); {cat / 'site'} is as it was")
    assert snapshot(cat / "site") == before
    assert leftovers(cat, "building", "old") == []


# --- SOURCE_DATE_EPOCH --------------------------------------------------------------------------------------------

BAD_EPOCHS = ["yesterday", "-1", "1700000000.5", "1.7e9", " 1700000000", "1700000000\n", "1_700_000_000", "+17",
              "0x10", "\u0661\u0667\u0660\u0660", "\u00b2", "4294967296", "99999999999999999999", "9" * 5000,
              "1\n::error file=x::forged", " "]


@pytest.mark.parametrize("value", BAD_EPOCHS, ids=range(len(BAD_EPOCHS)))
def test_a_malformed_source_date_epoch_stops_the_build_with_one_line(cat: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str],
                                                                     value: str) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    before = snapshot(cat / "site")
    assert main(["--root", str(cat), "build"]) == 1
    err = capsys.readouterr().err
    (line,) = err.splitlines()
    assert line.startswith("openem: SOURCE_DATE_EPOCH=") and "is not a time" in line and len(line) < 400
    assert snapshot(cat / "site") == before
    assert leftovers(cat, "building") == []


def test_a_malformed_source_date_epoch_stops_mkdocs_and_openem_add_publish(cat: Path, tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch,
                                                                             capsys: pytest.CaptureFixture[str]
                                                                             ) -> None:
    from mkdocs.config import load_config
    from mkdocs.exceptions import PluginError

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1.5")
    cfg = load_config(config_file=str(cat / "mkdocs.yml"))
    with pytest.raises(PluginError, match=r"^SOURCE_DATE_EPOCH='1.5' is not a time"):  # mkdocs build and serve
        cfg.plugins.on_config(cfg)
    # openem add --publish: refused before anything is added
    source = tmp_path / "files"
    source.mkdir()
    (source / "a.txt").write_text("a")
    assert main(["--root", str(cat), "add", str(source), "--id", "new-entry", "--publish"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("openem: SOURCE_DATE_EPOCH='1.5' is not a time")
    assert not (cat / "datasets" / "new-entry").exists()


def test_a_malformed_source_date_epoch_stops_openem_publish_with_one_line(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from openem_build.authoring.add import add_dataset
    from openem_build.data.headers import read_headers

    from .annex_helpers import catalogue, data_folder, git

    root = catalogue(tmp_path / "catalogue")
    add_dataset(root, str(data_folder(tmp_path / "run")), "entry-to-publish", read_headers=read_headers)
    head = git(root, "rev-parse", "HEAD")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "2024-01-01")
    assert main(["--root", str(root), "publish", "entry-to-publish", "--store", str(tmp_path / "store")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("openem: SOURCE_DATE_EPOCH='2024-01-01' is not a time")
    assert git(root, "rev-parse", "HEAD") == head and not (tmp_path / "store").exists()


@pytest.mark.parametrize(("value", "day"), [("0", "1970-01-01"), ("1700000000", "2023-11-14"),
                                             ("4294967295", "2106-02-07"), ("", None)])
def test_well_formed_source_date_epochs_are_taken(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str,
                                                  day: str | None) -> None:
    from openem_build.infra.context import build_date

    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    assert build_date(tmp_path).isoformat() == (day or "1970-01-01")  # (empty: unset; no git here: 1970)



def test_the_site_gets_the_permissions_of_a_folder_made_by_mkdir(cat: Path) -> None:
    """A web server running as another user can read the site (the staging folder starts private)."""
    old = os.umask(0o022)
    try:
        done = openem("--root", str(cat), "build")
    finally:
        os.umask(old)
    assert done.returncode == 0, done.stderr
    assert (cat / "site").stat().st_mode & 0o777 == 0o755


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (a device whose writes fail with ENOSPC)")
def test_a_write_that_runs_out_of_room_names_its_file() -> None:
    """Writes fail after the file was opened, where the OSError has no file name: the site's writers add it."""
    import errno

    from openem_build.infra import sitewrite

    with pytest.raises(OSError) as failed:
        sitewrite.write_bytes(Path("/dev/full"), b"x" * 10)
    assert failed.value.errno == errno.ENOSPC and failed.value.filename == "/dev/full"
    with pytest.raises(OSError) as failed, sitewrite.NamedFile(Path("/dev/full")) as out:
        out.write(b"x" * 100_000)
    assert failed.value.errno == errno.ENOSPC and failed.value.filename == "/dev/full"

"""Scale benchmark: validate and build synthetic catalogues of growing size, against plain MkDocs.

    .venv/bin/python benchmarks/build.py [--sizes 100,1000,10000] [--work DIR] [--no-reference] [--keep]

For each size N: writes a synthetic catalogue (``benchmarks/synth.py``), then times, each as its own
subprocess, ``openem validate`` and ``openem build`` (everything ``make site`` produces), and a plain
``mkdocs build`` of N equivalent hand-written Markdown pages with the same theme and plugins minus openem
(the reference). Validate and build run cold (each from an empty cache), then again after one dataset's title
was edited (warm: the other entries come from the cache). Prints one table: times, peak memory (largest
resident set of the command or any process it waited for; and "all": the largest sum over the command and
all its processes at one moment, sampled every 0.2 s as PSS, so pages shared after a fork count once), output
size, bytes per dataset page, and the build / reference ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import synth  # noqa: E402

BIN = Path(sys.executable).parent
_MEASURE = "--_measure"


def measure(cmd: list[str], cwd: Path) -> dict:
    """Run ``cmd`` in a fresh interpreter that reports wall time and the peak RSS of its children."""
    probe = [sys.executable, str(Path(__file__).resolve()), _MEASURE, "--", *cmd]
    proc = subprocess.run(probe, cwd=cwd, capture_output=True, text=True, check=False)
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "{}"
    result = json.loads(last)
    if result.get("rc", 1) != 0:
        sys.stderr.write(f"\n{' '.join(cmd)} failed in {cwd}:\n{result.get('stderr', proc.stderr)[-3000:]}\n")
    return result


def _probe(cmd: list[str]) -> int:
    import resource
    import threading

    env = {**os.environ, "SOURCE_DATE_EPOCH": "1735689600"}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    total = [0]
    done = threading.Event()

    def sample() -> None:  # the memory of all the command's processes at once (Linux: PSS, shared pages split)
        while not done.wait(0.2):
            total[0] = max(total[0], sum(_pss_kib(pid) for pid in _tree(proc.pid)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = proc.communicate()
    done.set()
    sampler.join()
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"rc": proc.returncode, "seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime,
                      "peak_mib": usage.ru_maxrss / 1024, "total_mib": total[0] / 1024 or None,
                      "stderr": stderr[-3000:]}))
    return 0


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc; empty where there is none)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return next((int(line.split()[1]) for line in f if line.startswith("Pss:")), 0)
    except OSError:
        return 0


def folder_bytes(path: Path) -> int:
    total = 0
    for base, _dirs, files in os.walk(path):
        for name in files:
            total += os.lstat(os.path.join(base, name)).st_size
    return total


def edit_one(catalogue: Path) -> None:
    """Change the title of the first dataset, as a contributor's pull request would."""
    path = sorted((catalogue / "datasets").glob("*/dataset.yaml"))[0]
    text = path.read_text("utf-8")
    path.write_text(text.replace("\ntitle: ", "\ntitle: Edited ", 1), "utf-8")


def reference_site(catalogue: Path, out: Path) -> None:
    """N hand-written Markdown pages equivalent to the landing pages, with the same theme and search."""
    if out.exists():
        shutil.rmtree(out)
    docs = out / "docs"
    shutil.copytree(catalogue / "docs", docs)
    shutil.copytree(catalogue / "overrides", out / "overrides")
    config = yaml.safe_load((catalogue / "mkdocs.yml").read_text("utf-8"))
    config["plugins"] = [p for p in config.get("plugins", []) if p != "openem" and
                         not (isinstance(p, dict) and "openem" in p)]
    config["nav"] = [{"Home": "index.md"}, {"Browse": "browse.md"}, {"Contribute": "contributing.md"},
                     {"About": "about.md"}]
    (out / "mkdocs.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), "utf-8")
    rows = []
    for folder in sorted((catalogue / "datasets").iterdir()):
        if not folder.is_dir():
            continue
        d = yaml.safe_load((folder / "dataset.yaml").read_text("utf-8"))
        mpath = folder / "manifest.json"
        files = json.loads(mpath.read_text("utf-8"))["files"] if mpath.exists() else []
        rows.append(f"| [{d['title']}](datasets/{d['id']}/index.md) | {d['technique']} | {d['facility']} | "
                    f"{d['dates']['published']} |")
        authors = ", ".join(a["name"] for a in d["authors"])
        facts = "\n".join(f"| {k} | {v} |" for k, v in [("Technique", d["technique"]), ("Sample", d["sample"]["name"]),
                                                        ("Facility", d["facility"]), ("Licence", d.get("license")),
                                                        ("Published", d["dates"]["published"])])
        sets = "\n".join(f"| {s['name']} | {s['category']} | {s['format']} | {s.get('count', '')} | "
                         f"`{s['directory']}` |" for s in d["data"].get("image_sets", []))
        listed = "\n".join(f"| `{f['path']}` | {f['size']} | {f.get('key') or ''} |" for f in files[:200])
        page = (f"# {d['title']}\n\n{authors}\n\n## Description\n\n{d['description']}\n\n## Key facts\n\n"
                f"| | |\n| --- | --- |\n{facts}\n\n## Image sets\n\n| Name | Category | Format | Files | Directory |\n"
                f"| --- | --- | --- | --- | --- |\n{sets}\n\n## Get the data\n\n```sh\ndatalad clone "
                f"{d['data']['datalad']} {d['id']}\ndatalad get .\n```\n\n### Files\n\n| Path | Size | Key |\n"
                f"| --- | --- | --- |\n{listed}\n\n## Cite this dataset\n\n```\n{authors} "
                f"({d['dates']['published'][:4]}). {d['title']}. {d.get('doi', '')}\n```\n")
        target = docs / "datasets" / d["id"] / "index.md"
        target.parent.mkdir(parents=True)
        target.write_text(page, "utf-8")
    (docs / "index.md").write_text(f"# OpenEM catalogue\n\n{len(rows)} datasets.\n", "utf-8")
    (docs / "browse.md").write_text("# Browse datasets\n\n| Title | Technique | Facility | Published |\n"
                                    "| --- | --- | --- | --- |\n" + "\n".join(rows) + "\n", "utf-8")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))
        ram = f"{mem / 1024 / 1024:.0f} GB RAM"
    except (OSError, StopIteration):
        ram = "unknown RAM"
    return f"{os.cpu_count()} CPUs ({cpu}), {ram}, Python {platform.python_version()}, {platform.system()}"


def run(sizes: list[int], work: Path, reference: bool, keep: bool) -> list[dict]:
    rows = []
    print(f"machine: {machine()}", flush=True)
    for n in sizes:
        cat = work / f"catalogue-{n}"
        t = time.perf_counter()
        synth.write(n, cat)
        print(f"N={n}: synthetic catalogue written in {time.perf_counter() - t:.1f} s; measuring …", flush=True)
        # A fresh cache per size: the first runs are cold, the second ones warm (one entry edited).
        cache = work / f"cache-{n}"
        shutil.rmtree(cache, ignore_errors=True)
        os.environ["OPENEM_CACHE_DIR"] = str(cache)
        v = measure([str(BIN / "openem"), "validate"], cat)
        # The cold build from an empty cache too (after the validate above, its loading would be warm).
        shutil.rmtree(cache, ignore_errors=True)
        b = measure([str(BIN / "openem"), "build"], cat)
        edit_one(cat)
        vw = measure([str(BIN / "openem"), "validate"], cat)
        bw = measure([str(BIN / "openem"), "build"], cat)
        site = cat / "site"
        size = folder_bytes(site) if site.exists() else 0
        pages = list((site / "datasets").glob("*/index.html")) if site.exists() else []
        page_bytes = sum(p.stat().st_size for p in pages) / len(pages) if pages else 0
        row = {"n": n, "validate_s": v.get("seconds"), "validate_cpu": v.get("cpu"), "build_s": b.get("seconds"),
               "build_cpu": b.get("cpu"), "peak_mib": max(
            v.get("peak_mib", 0), b.get("peak_mib", 0)), "site_mb": size / 1e6, "page_kb": page_bytes / 1e3,
            "validate_warm_s": vw.get("seconds"), "build_warm_s": bw.get("seconds"),
            "warm_peak_mib": max(vw.get("peak_mib", 0), bw.get("peak_mib", 0)),
            "total_mib": max(v.get("total_mib") or 0, b.get("total_mib") or 0) or None,
            "warm_total_mib": max(vw.get("total_mib") or 0, bw.get("total_mib") or 0) or None,
            "ok": all(r.get("rc") == 0 for r in (v, b, vw, bw))}
        if reference:
            ref = work / f"reference-{n}"
            reference_site(cat, ref)
            r = measure([str(BIN / "mkdocs"), "build", "-q"], ref)
            row["reference_s"] = r.get("seconds")
            row["reference_cpu"] = r.get("cpu")
            row["ratio"] = row["build_s"] / r["seconds"] if r.get("seconds") else None
            if not keep:
                shutil.rmtree(ref, ignore_errors=True)
        rows.append(row)
        print(table([row], header=False), flush=True)
        if not keep:
            shutil.rmtree(cat, ignore_errors=True)
    return rows


COLUMNS = [("N", "n", "{:,}"), ("validate s", "validate_s", "{:.2f}"), ("(CPU s)", "validate_cpu", "{:.2f}"),
           ("build s", "build_s", "{:.1f}"), ("(CPU s)", "build_cpu", "{:.1f}"), ("peak MiB", "peak_mib", "{:.0f}"),
           ("all MiB", "total_mib", "{:.0f}"),
           ("warm validate s", "validate_warm_s", "{:.2f}"), ("warm build s", "build_warm_s", "{:.1f}"),
           ("warm peak MiB", "warm_peak_mib", "{:.0f}"), ("warm all MiB", "warm_total_mib", "{:.0f}"),
           ("site MB", "site_mb", "{:.1f}"), ("kB/page", "page_kb", "{:.1f}"),
           ("mkdocs ref s", "reference_s", "{:.1f}"), ("(CPU s)", "reference_cpu", "{:.1f}"),
           ("build/ref", "ratio", "{:.2f}×"), ("ok", "ok", "{}")]


def table(rows: list[dict], header: bool = True) -> str:
    lines = []
    if header:
        lines.append("| " + " | ".join(c for c, _, _ in COLUMNS) + " |")
        lines.append("|" + "|".join(" ---: " for _ in COLUMNS) + "|")
    for row in rows:
        cells = [fmt.format(row[key]) if row.get(key) is not None else "–" for _, key, fmt in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [_MEASURE]:
        return _probe(argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000", help="comma-separated catalogue sizes")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--no-reference", action="store_true", help="skip the plain-mkdocs reference")
    parser.add_argument("--keep", action="store_true", help="keep the catalogues and sites")
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "").replace(",", "")) for s in args.sizes.split(",") if s.strip()]
    work = args.work or Path(tempfile.mkdtemp(prefix="openem-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        rows = run(sizes, work, not args.no_reference, args.keep)
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(rows))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

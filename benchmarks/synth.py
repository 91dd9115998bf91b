"""A synthetic but valid OpenEM catalogue of N datasets, for benchmarks.

    .venv/bin/python benchmarks/synth.py N OUT [--seed S] [--no-manifests] [--git]

Writes ``OUT/datasets/facilities.yaml`` (copied from the repository), ``OUT/datasets/<id>/dataset.yaml`` and
``OUT/datasets/<id>/manifest.json`` for N entries, plus ``mkdocs.yml``, ``docs/`` and ``overrides/`` copied
from the repository so that ``openem validate`` and ``openem build`` work in OUT.

Every entry starts from one of the repository's example datasets (so techniques, samples, instruments and
image sets vary the way real entries do) and gets its own id, title, DOI, dates, facility, authors (with
checksum-valid ORCID iDs), funding, keywords and a paragraph of its description. Its manifest lists files of
the declared formats in each image set's folder (a few to a few thousand files per dataset, skewed towards
small ones as in EMPIAR), in the exact format ``openem manifest`` writes, and each image set's ``count`` is
what validation counts.

Deterministic: the same N, seed and options give the same bytes (datasets are generated from a per-dataset
seed, so dataset k is identical in catalogues of every size above k).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from openem_build.records import manifest as mf  # noqa: E402
from openem_build.records.model import Manifest, ManifestFile  # noqa: E402
from openem_build.records.yamlsafe import decode, parse  # noqa: E402

FAMILY = ["Keller", "Brunner", "Meier", "Müller", "Schmid", "Weber", "Rossi", "Favre", "Bianchi", "Huber",
          "Fischer", "Baumann", "Gerber", "Moser", "Frei", "Zimmermann", "Bonvin", "Perrin", "Rochat", "Lüthi",
          "Nguyen", "García", "Kowalski", "Novak", "Øberg", "Dubois", "Marchetti", "Yilmaz", "Tanaka", "Okafor"]
GIVEN = ["Lena", "Marco", "Anna", "Luca", "Sara", "Noah", "Chiara", "Elias", "Mia", "Jonas", "Léa", "Matteo",
         "Nina", "David", "Laura", "Samuel", "Elena", "Timo", "Zoé", "Ravi", "Aiko", "Chinedu", "Ingrid", "Paula"]
AFFILIATIONS = [("ETH Zurich", "https://ror.org/05a28rw58"), ("EPFL", "https://ror.org/02s376052"),
                ("University of Basel", "https://ror.org/02s6k3f65"), ("University of Bern", "https://ror.org/02k7v4d05"),
                ("University of Zurich", "https://ror.org/02crff812"), ("Paul Scherrer Institute",
                                                                       "https://ror.org/03eh3y714"),
                ("University of Geneva", "https://ror.org/01swzsf04"), ("Empa", "https://ror.org/02x681a42")]
WORDS = ["benchmark", "high resolution", "membrane protein", "in situ", "connectomics", "battery", "catalysis",
         "tomography", "EER", "K3", "Falcon 4i", "volume EM", "cryo-FIB", "nanoparticles", "alloy", "virus",
         "ribosome", "neuron", "mitochondria", "zeolite", "2D materials", "ion channel", "filaments"]
ADJ = ["Cryo-EM", "High-throughput", "Time-resolved", "Correlative", "Low-dose", "Multi-scale", "Automated",
       "Comparative", "Dose-fractionated", "Large-volume"]


def orcid(rng: random.Random) -> str:
    """A random ORCID iD in the block ORCID issues (0000-0001-5000-000… to 0000-0003-5000-000…) with a valid
    ISO 7064 11,2 check character."""
    digits = [int(c) for c in f"{rng.randrange(15_000_000, 35_000_000):015d}"]
    total = 0
    for d in digits:
        total = (total + d) * 2
    check = (12 - total % 11) % 11
    s = "".join(map(str, digits)) + ("X" if check == 10 else str(check))
    return "-".join(s[i:i + 4] for i in range(0, 16, 4))


def templates() -> list[dict[str, Any]]:
    """The repository's example datasets, as plain data (dates stay text)."""
    out = []
    for path in sorted((REPO / "datasets").glob("*/dataset.yaml")):
        out.append(parse(decode(path.read_bytes())).data)
    return out


def facilities() -> list[str]:
    return sorted(parse(decode((REPO / "datasets" / "facilities.yaml").read_bytes())).data)


def _n_files(rng: random.Random) -> int:
    """Files per dataset, skewed as in EMPIAR: mostly tens, often hundreds, sometimes thousands."""
    r = rng.random()
    if r < 0.55:
        return rng.randint(3, 30)
    if r < 0.90:
        return rng.randint(30, 300)
    if r < 0.99:
        return rng.randint(300, 1500)
    return rng.randint(1500, 5000)


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def _manifest(rng: random.Random, ident: str, sets: list[dict[str, Any]]) -> Manifest:
    files: dict[str, ManifestFile] = {}
    web = rng.random() < 0.5  # half the datasets have a web remote with a URL per file
    sha = rng.random() < 0.3  # SHA256E keys, else MD5E (git-annex defaults vary by set-up)

    def add(path: str) -> None:
        if path in files:
            return
        size = rng.randint(1_000, 4_000_000_000)
        digest = _hex(rng, 64 if sha else 32)
        ext = "." + path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else ""
        key = f"{'SHA256E' if sha else 'MD5E'}-s{size}--{digest}{ext[:12]}"
        urls = (f"https://data.example.openem.ch/{ident}/{path}",) if web else ()
        files[path] = ManifestFile(path, size, key, (("sha256" if sha else "md5", digest),), urls)

    total = _n_files(rng)
    weights = [rng.random() + 0.05 for _ in sets]
    for s, w in zip(sets, weights, strict=True):
        directory, fmt = s["directory"].strip("/"), s["format"]
        prefix = "" if directory in ("", ".") else directory + "/"
        n = max(1, round(total * w / sum(weights)))
        if fmt in mf.FOLDER_FORMATS:
            ext = mf.FORMAT_EXTENSIONS[fmt][0]
            for i in range(max(1, n // 5)):
                for chunk in range(4):
                    add(f"{prefix}volume_{i:04d}{ext}/0/{chunk}/0")
                add(f"{prefix}volume_{i:04d}{ext}/.zattrs")
        elif fmt in mf.FORMAT_EXTENSIONS:
            ext = mf.FORMAT_EXTENSIONS[fmt][0]
            stem = {"mdoc": "tilt", "star": "particles", "xml": "meta"}.get(fmt, "item")
            per_folder = rng.choice((0, 0, 0, 41))  # sometimes one sub-folder per tilt series or grid square
            for i in range(n):
                sub = f"ts_{i // per_folder:03d}/" if per_folder else ""
                add(f"{prefix}{sub}{stem}_{i:05d}{ext}")
        else:
            for i in range(n):
                add(f"{prefix}file_{i:04d}." + rng.choice(("txt", "csv", "json", "log")))
    if rng.random() < 0.5:
        add("README.md")
    return Manifest(tuple(sorted(files.values(), key=lambda f: f.path)), _hex(rng, 40),
                    f"{_hex(rng, 8)}-{_hex(rng, 4)}-{_hex(rng, 4)}-{_hex(rng, 4)}-{_hex(rng, 12)}")


def dataset(k: int, seed: int, bases: list[dict[str, Any]], facility_ids: list[str],
            with_manifest: bool) -> tuple[str, dict[str, Any], Manifest | None]:
    """Dataset number ``k``: its id, its document and its manifest."""
    rng = random.Random(hashlib.sha256(f"{seed}:{k}".encode()).digest())
    base = bases[k % len(bases)]
    d: dict[str, Any] = yaml.safe_load(yaml.safe_dump(base))  # a deep copy with plain types
    stem = "-".join(base["id"].split("-")[:-1])[:40]
    ident = f"{stem}-s{k:06d}"
    d["id"] = ident
    d["title"] = f"{rng.choice(ADJ)} {base['title'][:200]} (synthetic entry {k})"
    published = date(2015, 1, 1) + timedelta(days=rng.randrange(4000))
    dates = {"published": published.isoformat()}
    if "collected" in base.get("dates", {}) or rng.random() < 0.7:
        dates = {"collected": (published - timedelta(days=rng.randint(30, 900))).isoformat(), **dates}
    if rng.random() < 0.15:
        dates["modified"] = (published + timedelta(days=rng.randint(1, 400))).isoformat()
    d["dates"] = dates
    if d.get("status") == "embargoed":
        d["embargo_until"] = (published + timedelta(days=rng.randint(30, 700))).isoformat()
    d["keywords"] = sorted(set(d.get("keywords", [])[:3] + rng.sample(WORDS, rng.randint(1, 4))))
    d["facility"] = rng.choice(facility_ids)
    # A description of its own (real entries share none: each is converted and sanitised, not taken from a cache).
    # Its own random numbers, so that every other field is what earlier versions of this script wrote.
    words = random.Random(hashlib.sha256(f"{seed}:{k}:description".encode()).digest())
    topics = words.sample(WORDS, 3)
    d["description"] = (f"{base['description'].rstrip()}\n\nSynthetic entry {k}: **{topics[0]}**, {topics[1]} "
                        f"and {topics[2]}, recorded on day {words.randrange(1, 4000)} of the facility's "
                        f"[{d['facility']}](https://example.org/facilities/{d['facility']}) schedule.\n")
    if "doi" in base or rng.random() < 0.6:
        d["doi"] = f"10.80476/openem.{ident}"
    else:
        d.pop("doi", None)
    authors = []
    used: set[str] = set()
    for i in range(rng.choice((1, 2, 3, 3, 4, 5, 6, 8, 12))):
        family, given = rng.choice(FAMILY), rng.choice(GIVEN)
        person: dict[str, Any] = {"name": f"{family}, {given}"}
        if rng.random() < 0.8:
            iD = orcid(rng)
            if iD not in used:
                used.add(iD)
                person["orcid"] = iD
        aff = rng.sample(AFFILIATIONS, rng.choice((1, 1, 1, 2)))
        person["affiliations"] = [{"name": a, "ror": r} for a, r in aff]
        if i == 0:
            person["roles"] = ["DataCollector"]
            person["email"] = f"{given.lower()}.{k}@example.org".encode("ascii", "ignore").decode()
            person["corresponding"] = True
        authors.append(person)
    d["authors"] = authors
    if d.get("principal_investigators"):
        pi = dict(d["principal_investigators"][0])
        pi["name"] = authors[-1]["name"]
        if "orcid" in authors[-1]:
            pi["orcid"] = authors[-1]["orcid"]
        else:
            pi.pop("orcid", None)
        d["principal_investigators"] = [pi]
    if d.get("funding"):
        d["funding"][0]["award"] = f"{rng.randrange(310030, 320099)}_{rng.randrange(10**6):06d}"
    d["data"]["datalad"] = f"https://datasets.example.openem.ch/{ident}.git"
    manifest = None
    sets = d["data"].get("image_sets", [])
    if with_manifest and sets:
        manifest = _manifest(rng, ident, sets)
        for s in sets:
            fmt = s["format"]
            members = mf.set_members(manifest, s["directory"], fmt if fmt in mf.FORMAT_EXTENSIONS else None)
            s["count"] = len(members)
        d["data"]["commit"] = manifest.commit
    else:
        d["data"].pop("commit", None)
    return ident, d, manifest


def _yaml(d: dict[str, Any]) -> str:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    body = yaml.dump(d, Dumper=dumper, sort_keys=False, allow_unicode=True, width=110, default_flow_style=False)
    return "# yaml-language-server: $schema=../../openem_build/schema/dataset.schema.json\n" + body


def write(n: int, out: Path, seed: int = 0, with_manifests: bool = True, git: bool = False) -> list[str]:
    """Write the catalogue of ``n`` datasets into ``out`` (emptied first); return the ids."""
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    (out / "datasets").mkdir(parents=True)
    shutil.copy(REPO / "datasets" / "facilities.yaml", out / "datasets" / "facilities.yaml")
    shutil.copy(REPO / "mkdocs.yml", out / "mkdocs.yml")
    for name in ("docs", "overrides"):
        shutil.copytree(REPO / name, out / name)
    bases, facility_ids = templates(), facilities()
    ids = []
    for k in range(n):
        ident, d, manifest = dataset(k, seed, bases, facility_ids, with_manifests)
        folder = out / "datasets" / ident
        folder.mkdir()
        (folder / "dataset.yaml").write_text(_yaml(d), encoding="utf-8")
        if manifest is not None:
            (folder / mf.MANIFEST_FILE).write_text(mf.dumps(manifest), encoding="utf-8")
        ids.append(ident)
    if git:
        env = {"GIT_AUTHOR_NAME": "OpenEM benchmark", "GIT_AUTHOR_EMAIL": "bench@example.org",
               "GIT_COMMITTER_NAME": "OpenEM benchmark", "GIT_COMMITTER_EMAIL": "bench@example.org",
               "GIT_AUTHOR_DATE": "2025-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2025-01-01T00:00:00Z"}
        import os

        env = {**os.environ, **env}
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", f"synthetic catalogue of {n}"]):
            subprocess.run(["git", *args], cwd=out, env=env, check=True, stdout=subprocess.DEVNULL)
    return ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", type=int, help="number of datasets")
    parser.add_argument("out", type=Path, help="output folder (replaced)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-manifests", action="store_true", help="write dataset.yaml files only")
    parser.add_argument("--git", action="store_true", help="make OUT a git repository with one commit")
    args = parser.parse_args(argv)
    ids = write(args.n, args.out, args.seed, not args.no_manifests, args.git)
    print(f"wrote {len(ids)} datasets into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""EMPIAR deposition JSON: valid against EMPIAR's own schema (from the empiar-depositor package), values equal to
the catalogue's, refusals and missing fields reported by name, and the ``openem export`` command."""

from __future__ import annotations

import ast
import dataclasses
import json
import shutil
from importlib import resources
from pathlib import Path
from types import MappingProxyType

import jsonschema
import pytest

from openem_build import cli
from openem_build.infra.context import SiteContext
from openem_build.records.load import load_catalogue
from openem_build.records.model import (
    Affiliation,
    Manifest,
    ManifestFile,
    Person,
    PrincipalInvestigator,
    Publication,
    Related,
)
from openem_build.render import empiar

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "catalogue"

try:
    _SCHEMA_TEXT = resources.files("empiar_depositor").joinpath("empiar_deposition.schema.json").read_text("utf-8")
except ModuleNotFoundError:  # pragma: no cover - the test extra installs it
    _SCHEMA_TEXT = None

pytestmark = pytest.mark.skipif(_SCHEMA_TEXT is None, reason="empiar-depositor (test extra) is not installed: "
                                "EMPIAR's schema comes from that package")

REFUSED = {"tem", "stem", "sem", "edx", "eels", "array-tomography"}
#: What the catalogue's example entries lack for EMPIAR (they state no data types and have no manifest).
DATA_TYPES = {"eer": "uint8", "tiff": "uint8", "mrc": "float32", "mrcs": "float32", "rec": "float32",
              "st": "int16", "smv": "uint16", "ome-zarr": "uint8", "hdf5": "float32", "emd": "float32"}


@pytest.fixture(scope="module")
def schema():
    return json.loads(_SCHEMA_TEXT)


@pytest.fixture(scope="module")
def catalogue():
    # The frozen example records (tests/fixtures/catalogue/README.md): these mappings are tested on them.
    return load_catalogue(FIXTURES).catalogue


@pytest.fixture(scope="module")
def ctx(catalogue):
    return SiteContext(catalogue)


def schema_errors(schema, dep) -> list[str]:
    # EMPIAR's schema names no JSON Schema draft ("http://json-schema.org/schema#"): draft 7 is what it is written in
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(dep)]


def completed(d):
    """The entry with the data types (and, for EER movies, the frame count) its curators would add."""
    sets = tuple(dataclasses.replace(s, data_type=s.data_type or DATA_TYPES.get(s.format),
                                     frames_per_image=s.frames_per_image or (40 if s.category == "movies" else None))
                 for s in d.data.image_sets)
    return dataclasses.replace(d, data=dataclasses.replace(d.data, image_sets=sets))


def names(dep_authors) -> list[tuple[str, str]]:
    return [ast.literal_eval(a["name"]) for a in dep_authors]


def test_the_schema_is_empiars_own(schema):
    shared = ROOT.parent / "shared/reference/empiar/empiar_deposition.schema.json"
    if shared.is_file():  # the reference copy beside the project (present in CI)
        assert schema == json.loads(shared.read_text("utf-8"))
    example = json.loads(resources.files("empiar_depositor").joinpath(
        "tests/deposition_json/working_example.json").read_text("utf-8"))
    assert schema_errors(schema, example) == []


def test_every_example_is_refused_plainly_or_exports_valid_json(ctx, catalogue, schema):
    made = 0
    for d in catalogue.datasets:
        dep, problems = empiar.deposition(ctx, d)
        if d.technique in REFUSED:
            assert dep is None
            assert [p.field for p in problems] == ["technique"]
            assert problems[0].message.startswith("not exported to EMPIAR: ")
            continue
        assert dep is not None, (d.id, [p.text() for p in problems])
        assert schema_errors(schema, dep) == [], d.id
        made += 1
    assert made >= 5


def test_missing_data_types_are_named_fields(ctx, catalogue):
    for d in catalogue.datasets:
        if d.technique in REFUSED:
            continue
        stripped = dataclasses.replace(d, data=dataclasses.replace(d.data, image_sets=tuple(
            dataclasses.replace(s, data_type=None) for s in d.data.image_sets)))
        dep, problems = empiar.deposition(ctx, stripped)
        errors = [p for p in problems if p.severity == "error"]
        assert dep is None
        assert errors and all(p.field.startswith("data.image_sets[") for p in errors), [p.text() for p in errors]
        assert {p.field.rsplit(".", 1)[1] for p in errors} <= {"data_type", "frames_per_image"}
        assert all("EMPIAR requires" in p.message for p in errors)


def test_every_completed_example_validates_against_empiars_schema(ctx, catalogue, schema):
    made = 0
    for d in catalogue.datasets:
        dep, problems = empiar.deposition(ctx, completed(d))
        if d.technique in REFUSED:
            assert dep is None
            continue
        assert dep is not None, (d.id, [p.text() for p in problems])
        assert schema_errors(schema, dep) == [], d.id
        assert all(p.severity == "warning" for p in problems)
        made += 1
    assert made == 9


def test_values_read_back_equal_the_catalogue(ctx, catalogue):
    for d in catalogue.datasets:
        dep, _ = empiar.deposition(ctx, completed(d))
        if dep is None:
            continue
        assert dep["title"] == d.title
        assert dep["experiment_type"] == empiar.EXPERIMENT_TYPES[d.technique]
        assert [n[0] for n in names(dep["authors"])] == [a.family for a in d.authors]
        assert [n[1] for n in names(dep["authors"])] == [empiar.initials(a.given) for a in d.authors]
        assert [a["author_orcid"] for a in dep["authors"]] == [a.orcid for a in d.authors]
        assert [a["order_id"] for a in dep["authors"]] == list(range(len(d.authors)))
        corr = next(a for a in d.authors if a.corresponding)
        assert (dep["corresponding_author"]["last_name"], dep["corresponding_author"]["first_name"]) == \
            (corr.family, corr.given)
        assert dep["corresponding_author"]["email"] == corr.email
        assert dep["corresponding_author"]["author_orcid"] == corr.orcid
        assert [(p["email"], p["organization"], p["country"]) for p in dep["principal_investigator"]] == \
            [(p.email, p.organisation, p.country) for p in d.principal_investigators]
        assert [x["name"] for x in dep["cross_references"]] == list(d.related.emdb)
        assert [x["name"] for x in dep["empiar_references"]] == list(d.related.empiar)
        for s, out in zip(d.data.image_sets, dep["imagesets"], strict=True):
            assert out["name"] == s.name and out["directory"] == f"/data/{s.directory}"
            assert out["num_images_or_tilt_series"] == s.count
            if s.pixel_size_A:
                assert out["pixel_width"] == out["pixel_height"] == s.pixel_size_A
            elif s.category in ("movies", "micrographs", "tilt-series", "volume-images"):
                assert out["pixel_width"] == d.acquisition.pixel_size_A
            if s.frames_per_image:
                assert out["frames_per_image"] == s.frames_per_image
        [cite] = dep["citation"]
        pub = empiar.primary_publication(d)
        if pub:
            assert cite["title"] == pub[1].title and cite["doi"] == pub[1].doi and cite["j_or_nj_citation"]
        else:
            assert cite["title"] == d.title and cite["j_or_nj_citation"] is False
        assert [a["author_orcid"] for a in cite["authors"]] == [a.orcid for a in d.authors]


def test_specific_mappings(ctx, catalogue):
    trpv1, _ = empiar.deposition(ctx, completed(catalogue.by_id["trpv1-nanodisc-krios-2023"]))
    movies, mics, particles, maps = trpv1["imagesets"]
    assert (movies["category"], movies["header_format"], movies["voxel_type"]) == ("('T2', '')", "('T3', '')",
                                                                                "('T1', '')")
    assert movies["frames_per_image"] == 40 and movies["pixel_width"] == 0.83
    assert particles["category"] == "('T7', '')" and particles["header_format"] == "('T2', '')"
    assert particles["micrographs_file_pattern"] == "/data/micrographs/*.mrc"
    assert maps["category"] == "('T13', '')" and maps["voxel_type"] == "('T7', '')"
    assert trpv1["corresponding_author"]["country"] == "CH"  # from the PI at the same organisation
    yeast, _ = empiar.deposition(ctx, completed(catalogue.by_id["yeast-cryoet-2023"]))
    tilt = yeast["imagesets"][2]
    assert tilt["category"] == "('T9', '')" and tilt["frames_per_image"] == 41  # -60…60° in 3° steps
    assert yeast["imagesets"][1]["voxel_type"] == "('OT', 'NOT APPLICABLE')"  # mdoc files
    microed, _ = empiar.deposition(ctx, completed(catalogue.by_id["lysozyme-microed-2025"]))
    assert microed["experiment_type"] == 9 and microed["imagesets"][0]["category"] == "('T12', '')"
    zebrafish, _ = empiar.deposition(ctx, completed(catalogue.by_id["zebrafish-neuromast-sbfsem-2026"]))
    assert zebrafish["experiment_type"] == 4 and zebrafish["release_date"] == "HO"  # embargoed, no article
    assert zebrafish["imagesets"][1]["data_format"] == "('OT', 'OME ZARR')"


def test_manifest_and_headers_fill_counts_types_and_sizes(ctx, catalogue, schema):
    base = catalogue.by_id["apoferritin-krios-2024"]
    sets = tuple(dataclasses.replace(s, count=None, data_type="uint8" if s.format == "eer" else None)
                 for s in base.data.image_sets)
    mrc = {"type": "mrc", "mrc": {"dimensions": [4096, 4096, 1], "dtype": "float32", "voxel_size_A": [0.73, 0.73, 0.73],
                                  "mode": 2}}
    files = [ManifestFile(f"movies/m{i}.eer", 10) for i in range(3)] + [ManifestFile("movies/gain.tiff", 5)]
    files += [ManifestFile(f"micrographs/m{i}.mrc", 10, headers=MappingProxyType(mrc)) for i in range(3)]
    files += [ManifestFile("maps/map.mrc", 10, headers=MappingProxyType(
        {"type": "mrc", "mrc": {"dimensions": [320, 320, 320], "dtype": "int16", "voxel_size_A": [0.8, 0.8, 0.8]}}))]
    d = dataclasses.replace(base, data=dataclasses.replace(base.data, image_sets=sets),
                            manifest=Manifest(files=tuple(files)))
    dep, problems = empiar.deposition(ctx, d)
    assert dep is not None, [p.text() for p in problems]
    assert schema_errors(schema, dep) == []
    movies, mics, maps = dep["imagesets"]
    assert movies["num_images_or_tilt_series"] == 3  # the gain reference is not a movie
    assert (mics["num_images_or_tilt_series"], mics["voxel_type"]) == (3, "('T7', '')")
    assert (mics["image_width"], mics["image_height"], mics["pixel_width"]) == (4096, 4096, 0.73)
    assert maps["voxel_type"] == "('T4', '')" and maps["pixel_width"] == 0.73  # the YAML's pixel size wins


def test_missing_fields_are_named(ctx, catalogue):
    base = completed(catalogue.by_id["trpv1-nanodisc-krios-2023"])
    d = dataclasses.replace(
        base, principal_investigators=(PrincipalInvestigator(name="Bianchi, Giulia"),),
        authors=tuple(dataclasses.replace(a, corresponding=False) for a in base.authors))
    dep, problems = empiar.deposition(ctx, d)
    assert dep is None
    texts = {p.field: p.message for p in problems if p.severity == "error"}
    assert texts["principal_investigators[0].email"] == ("is missing: EMPIAR requires an e-mail for each principal "
                                                         "investigator")
    assert "organisation" in texts["principal_investigators[0].organisation"]
    assert "country" in texts["principal_investigators[0].country"]
    assert "corresponding" in texts["authors"]
    assert problems[0].text().startswith("datasets/trpv1-nanodisc-krios-2023/dataset.yaml: ")

    no_pis = dataclasses.replace(base, principal_investigators=())
    assert "principal_investigators" in {p.field for p in empiar.deposition(ctx, no_pis)[1]}
    no_title = dataclasses.replace(base, related=Related(publications=(Publication(doi="10.5555/x.1"),)))
    assert "related.publications[0].title" in {p.field for p in empiar.deposition(ctx, no_title)[1]}
    abroad = dataclasses.replace(base, authors=(Person("Doe, Jane", email="j@example.org", corresponding=True,
                                                       affiliations=(Affiliation("Elsewhere University"),)),))
    fields = {p.field for p in empiar.deposition(ctx, abroad)[1]}
    assert "authors[0].affiliations[0].country" in fields
    stated = dataclasses.replace(abroad, authors=(dataclasses.replace(
        abroad.authors[0], affiliations=(Affiliation("Elsewhere University", country="DE"),)),))
    dep, _ = empiar.deposition(ctx, stated)
    assert dep["corresponding_author"]["country"] == "DE"


def test_article_authors_and_details_make_the_citation(ctx, catalogue, schema):
    base = completed(catalogue.by_id["trpv1-nanodisc-krios-2023"])
    pub = Publication(doi="10.5555/x.1", pmid=123456, title="An article", journal="Nature Communications",
                      year=2024, authors=("Rochat, Julien", "O'Neill, Mary-Kate"))
    dep, problems = empiar.deposition(ctx, dataclasses.replace(base, related=Related(publications=(pub,))))
    assert schema_errors(schema, dep) == []
    [cite] = dep["citation"]
    assert (cite["journal"], cite["year"], cite["pubmedid"], cite["published"]) == ("Nature Communications", 2024,
                                                                                   "123456", True)
    assert names(cite["authors"]) == [("Rochat", "J"), ("O’Neill", "MK")]
    assert [a["author_orcid"] for a in cite["authors"]] == ["0009-0001-4970-9403", None]
    assert "related.publications[0].authors" not in {p.field for p in problems}


def test_hostile_names_stay_parseable(ctx, catalogue, schema):
    base = completed(catalogue.by_id["trpv1-nanodisc-krios-2023"])
    person = Person("D'Arcy-Ré, Zoë Ann", orcid="0000-0002-1825-0097", email="z@example.org", corresponding=True,
                    affiliations=(Affiliation("EPFL", country="CH"),))
    dep, _ = empiar.deposition(ctx, dataclasses.replace(base, authors=(person,)))
    assert schema_errors(schema, dep) == []
    assert names(dep["authors"]) == [("D’Arcy-Ré", "ZA")]
    bad = dataclasses.replace(base, authors=(dataclasses.replace(person, name="Smith (3rd), John"),))
    assert "authors[0].name" in {p.field for p in empiar.deposition(ctx, bad)[1] if p.severity == "error"}
    wrong_orcid = dataclasses.replace(base, authors=(dataclasses.replace(person, orcid="0000-0002-1825-0098"),))
    assert "authors[0].orcid" in {p.field for p in empiar.deposition(ctx, wrong_orcid)[1]}


def test_orcid_check_digit():
    assert empiar.orcid_ok("0000-0002-1825-0097") and empiar.orcid_ok("0000-0001-5105-906X")
    assert not empiar.orcid_ok("0000-0002-1825-0098")


def test_cli_export_refuses_incomplete_and_writes_complete(tmp_path, capsys):
    root = tmp_path / "catalogue"
    shutil.copytree(FIXTURES / "datasets", root / "datasets")
    shutil.copy(ROOT / "mkdocs.yml", root / "mkdocs.yml")
    yml = root / "datasets" / "apoferritin-krios-2024" / "dataset.yaml"
    yml.write_text("".join(line for line in yml.read_text("utf-8").splitlines(keepends=True)
                           if "data_type:" not in line), "utf-8")
    out = tmp_path / "dep.json"
    assert cli.main(["--root", str(root), "export", "empiar", "apoferritin-krios-2024", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "data.image_sets[0].data_type: is missing" in err and not out.exists()
    assert cli.main(["--root", str(root), "export", "empiar", "zif8-lowdose-hrtem-2022", "-o", str(out)]) == 1
    assert "not exported to EMPIAR" in capsys.readouterr().err and not out.exists()
    assert cli.main(["--root", str(FIXTURES), "export", "empiar", "apoferritin-krios-2024", "-o", str(out)]) == 0
    assert json.loads(out.read_text("utf-8"))["title"].startswith("Cryo-EM")
    cif_out = tmp_path / "em.cif"
    assert cli.main(["--root", str(FIXTURES), "export", "mmcif", "trpv1-nanodisc-krios-2023", "-o", str(cif_out)]) == 0
    assert cif_out.read_text().startswith("data_trpv1-nanodisc-krios-2023")
    site = tmp_path / "site"
    assert cli.main(["--root", str(FIXTURES), "export", "all", "-d", str(site)]) == 0
    written = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file())
    assert {"datasets/apoferritin-krios-2024/em.cif", "datasets/apoferritin-krios-2024/empiar.json"} <= set(written)
    assert not [p for p in written if "zif8" in p]
    assert cli.main(["--root", str(FIXTURES), "export", "empiar"]) == cli.EXIT_USAGE


def test_site_artefacts_only_when_possible(ctx, catalogue):
    from openem_build.render.outputs import for_dataset

    paths = {a.path: a for a in for_dataset(ctx, catalogue.by_id["trpv1-nanodisc-krios-2023"])}
    assert paths["datasets/trpv1-nanodisc-krios-2023/em.cif"].label == "PDBx/mmCIF for OneDep"
    assert paths["datasets/trpv1-nanodisc-krios-2023/empiar.json"].label == "EMPIAR deposition (JSON)"
    refused = {a.path for a in for_dataset(ctx, catalogue.by_id["zif8-lowdose-hrtem-2022"])}
    assert not any(p.endswith(("empiar.json", "em.cif")) for p in refused)
    arts = empiar.artefacts(ctx, completed(catalogue.by_id["trpv1-nanodisc-krios-2023"]))
    assert [(a.path, a.label) for a in arts] == [("datasets/trpv1-nanodisc-krios-2023/empiar.json",
                                                  "EMPIAR deposition (JSON)")]
    assert json.loads(arts[0].content)["title"].startswith("Cryo-EM")


def test_models_reflections_and_coordinates_are_not_images(ctx, catalogue, schema):
    """Atomic models and MTZ files are no reconstructed volumes, coordinates no acquisition metadata: EMPIAR's
    'other' category, named, whatever category the YAML gives them."""
    microed = catalogue.by_id["lysozyme-microed-2025"]
    dep, _ = empiar.deposition(ctx, completed(microed))
    assert dep["imagesets"][2]["category"] == "('OT', 'atomic models and reflection files')"
    assert dep["imagesets"][2]["voxel_type"] == "('OT', 'NOT APPLICABLE')"
    assert dep["imagesets"][1]["category"] == "('OT', 'reflection files')"
    as_maps = dataclasses.replace(microed, data=dataclasses.replace(microed.data, image_sets=tuple(
        dataclasses.replace(s, category="maps") if s.directory == "model" else s for s in microed.data.image_sets)))
    dep, _ = empiar.deposition(ctx, completed(as_maps))
    assert dep["imagesets"][2]["category"] == "('OT', 'atomic models and reflection files')"
    assert schema_errors(schema, dep) == []
    tau, _ = empiar.deposition(ctx, completed(catalogue.by_id["tau-filaments-arctica-2022"]))
    assert tau["imagesets"][2]["category"] == "('OT', 'coordinates')"
    maps = catalogue.by_id["trpv1-nanodisc-krios-2023"]
    dep, _ = empiar.deposition(ctx, completed(maps))
    assert dep["imagesets"][3]["category"] == "('T13', '')"  # a map stays a reconstructed volume
    # a set named by its files: .pdb in a set of format 'other'
    files = (ManifestFile("model/x.pdb", 10), ManifestFile("model/x.mtz", 10))
    dep, _ = empiar.deposition(ctx, dataclasses.replace(completed(as_maps), manifest=Manifest(files=files)))
    assert dep["imagesets"][2]["category"] == "('OT', 'atomic models and reflection files')"


def test_volume_em_bit_depth_is_the_files(ctx, catalogue):
    """The two volume-EM entries whose details say 16-bit export UNSIGNED 16 BIT INTEGER (was UNSIGNED BYTE)."""
    for ident in ("mouse-cortex-fibsem-2024", "zebrafish-neuromast-sbfsem-2026"):
        dep, _ = empiar.deposition(ctx, completed(catalogue.by_id[ident]))
        assert "16-bit" in dep["imagesets"][0]["details"]
        assert dep["imagesets"][0]["voxel_type"] == "('T3', '')", ident


def test_the_example_catalogue_exports_valid_json_with_header_voxel_types(schema):
    """The repository's examples (with manifests and MRC headers), against the reference copy of EMPIAR's schema
    in ../shared where present; the voxel type comes from the headers, even when the YAML says otherwise."""
    shared = ROOT.parent / "shared/reference/empiar/empiar_deposition.schema.json"
    reference = json.loads(shared.read_text("utf-8")) if shared.is_file() else schema
    result = load_catalogue(ROOT)
    assert result.ok, [p.text() for p in result.problems]
    ctx = SiteContext(result.catalogue)
    made = 0
    for d in result.catalogue.datasets:
        dep, problems = empiar.deposition(ctx, completed(d))
        if dep is not None:
            assert schema_errors(reference, dep) == [], d.id
            made += 1
    assert made >= 5
    zebrafish = result.catalogue.by_id["zebrafish-neuromast-sbfsem-2026"]
    dep, _ = empiar.deposition(ctx, zebrafish)
    assert dep["imagesets"][0]["voxel_type"] == "('T2', '')"  # SIGNED BYTE: MRC mode 0, int8
    wrong = dataclasses.replace(zebrafish, data=dataclasses.replace(zebrafish.data, image_sets=tuple(
        dataclasses.replace(s, data_type="uint16") for s in zebrafish.data.image_sets)))
    dep, problems = empiar.deposition(ctx, wrong)
    assert dep["imagesets"][0]["voxel_type"] == "('T2', '')"
    assert any("the file headers say int8" in p.message for p in problems)


def test_a_set_of_compressed_maps_is_labelled_as_such(ctx, catalogue, schema):
    """.map.gz files are not plain MRC to EMPIAR: the set's formats say how they are compressed."""
    d = completed(catalogue.by_id["apoferritin-krios-2024"])
    maps = next(s for s in d.data.image_sets if s.category == "maps")
    packed = Manifest(files=(ManifestFile(f"{maps.directory.strip('/')}/half_{i}.mrc.gz", size=10) for i in (1, 2)))
    dep, _problems = empiar.deposition(ctx, dataclasses.replace(d, manifest=Manifest(files=tuple(packed.files))))
    entry = next(e for e in dep["imagesets"] if e["name"] == maps.name)
    assert entry["header_format"] == entry["data_format"] == "('OT', 'MRC GZIP COMPRESSED')"
    assert schema_errors(schema, dep) == []

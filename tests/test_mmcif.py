"""PDBx/mmCIF export for OneDep, validated with gemmi against the real PDBx/mmCIF dictionary.

The dictionary is ``mmcif_pdbx.dic`` from Debian's libcifpp-data (``apt-get install libcifpp-data``; .ci/run
installs it; ``OPENEM_PDBX_DIC`` names another copy). Every export is checked the way ``gemmi validate -d
mmcif_pdbx.dic`` checks a file, with the optional checks on (item context, parent items) and twice: with the
dictionary's plain rules and with OneDep's deposition rules (``--depo``: ``_pdbx_item_enumeration``,
``_pdbx_item_range``, the ``author`` form of names). On top of gemmi: the whole file is printable ASCII, no line
is longer than CIF 1.1's 2048 characters, and ``int`` items hold integers (gemmi reports a non-integer there
but does not fail the file). Tests that need the dictionary skip, saying so, where it is not installed.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest
from gemmi import cif
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openem_build.infra.context import SiteContext
from openem_build.records.load import load_catalogue
from openem_build.records.model import Affiliation, Dataset, Person, Publication, Related, Sample
from openem_build.render import mmcif

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "catalogue"
DICTIONARY_FILE = Path(os.environ.get("OPENEM_PDBX_DIC", "/usr/share/libcifpp/mmcif_pdbx.dic"))
REFUSED = {"tem", "stem", "sem", "edx", "eels", "fib-sem", "sbf-sem", "array-tomography"}
EXAMPLES = int(os.environ.get("OPENEM_PROPERTY_EXAMPLES", "60"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 60, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------------------------ the dictionary


class Dictionary:
    """The PDBx/mmCIF dictionary: gemmi's validators (plain and deposition rules) and its item definitions."""

    def __init__(self, path: Path) -> None:
        self.messages: list[str] = []
        self.validators = []
        for deposition in (False, True):
            # all optional checks on: item context (-c) and parent items (-p)
            ddl = cif.Ddl(logger=self.messages.append, use_context=True, use_linked_groups=True)
            ddl.use_deposition_checks = deposition
            ddl.read_ddl(cif.read_file(str(path)))  # read_ddl takes the document's content: one read each
            self.validators.append(ddl)
        self.messages.clear()  # what gemmi says about the dictionary itself (two odd linked groups)
        block = cif.read_file(str(path))[0]
        self.title = cif.as_string(block.find_value("_dictionary.title"))
        self.version = cif.as_string(block.find_value("_dictionary.version"))
        self.frames: dict[str, cif.Block] = {}
        for item in block:
            if item.frame is not None:
                for name in item.frame.find_values("_item.name"):
                    self.frames[cif.as_string(name).lower()] = item.frame
        self.constructs = {cif.as_string(r[0]): cif.as_string(r[1])
                           for r in block.find("_item_type_list.", ["code", "construct"])}
        self._block = block  # the frames live in it

    def values(self, tag: str, item: str) -> list[str]:
        frame = self.frames.get(tag.lower())
        return [] if frame is None else [cif.as_string(v) for v in frame.find_values(item)]

    def value(self, tag: str, item: str) -> str | None:
        found = self.values(tag, item)
        return found[0] if found else None

    def enumeration(self, tag: str) -> set[str]:
        return set(self.values(tag, "_item_enumeration.value")) | set(self.values(tag, "_pdbx_item_enumeration.value"))

    def ranges(self, tag: str, prefix: str) -> tuple[tuple[float | None, float | None], ...]:
        frame = self.frames[tag.lower()]
        return tuple((None if cif.is_null(lo) else float(lo), None if cif.is_null(hi) else float(hi))
                     for lo, hi in frame.find(prefix, ["minimum", "maximum"]))

    def types(self, tag: str) -> set[str]:
        return set(self.values(tag, "_item_type.code")) | set(self.values(tag, "_pdbx_item_type.code"))

    def problems(self, text: str) -> list[str]:
        """Everything gemmi and the checks it leaves out find wrong with ``text``; [] for a valid file."""
        found = []
        try:
            doc = cif.read_string(text)
        except (RuntimeError, ValueError) as err:
            return [f"syntax: {err}"]
        longest = max((len(v) for block in doc for tag in tags(block) for v in block.find_values(tag)), default=0)
        if longest > 8000:  # gemmi's regex check would overflow the stack and kill the test run
            return [f"a value of {longest} characters, more than gemmi's validator can check"]
        for mode, ddl in zip(("plain", "deposition"), self.validators, strict=True):
            self.messages.clear()
            ok = ddl.validate_cif(doc)
            found += [f"{mode}: {m}" for m in self.messages]
            if not ok and not self.messages:
                found.append(f"{mode}: invalid (no message)")
        if len(doc) != 1:
            found.append(f"{len(doc)} data blocks")
        bad = sorted({c for c in text if not (" " <= c <= "~" or c == "\n")})
        if bad:
            found.append(f"not printable ASCII: {bad!r}")
        found += [f"line {n} has {len(line)} characters" for n, line in enumerate(text.split("\n"), 1)
                  if len(line) > 2048]
        for block in doc:
            for tag in tags(block):
                if self.types(tag) & {"int"}:
                    found += [f"{tag}: {v} is not an integer" for v in block.find_values(tag)
                              if not cif.is_null(v) and not re.fullmatch(r"[+-]?[0-9]+", v)]
        return found


def tags(block: cif.Block) -> list[str]:
    out = []
    for item in block:
        if item.pair is not None:
            out.append(item.pair[0])
        elif item.loop is not None:
            out += list(item.loop.tags)
    return out


@pytest.fixture(scope="module")
def pdbx() -> Dictionary:
    if not DICTIONARY_FILE.is_file():
        pytest.skip(f"the PDBx/mmCIF dictionary {DICTIONARY_FILE} is not installed: 'apt-get install "
                    "libcifpp-data' (Debian) brings it, or set OPENEM_PDBX_DIC to a copy of mmcif_pdbx.dic")
    return Dictionary(DICTIONARY_FILE)


@pytest.fixture(scope="module")
def catalogue():
    # The frozen example records (tests/fixtures/catalogue/README.md): the mappings are tested on them.
    return load_catalogue(FIXTURES).catalogue


@pytest.fixture(scope="module")
def ctx(catalogue):
    return SiteContext(catalogue)


def parse(text: str) -> cif.Block:
    doc = cif.read_string(text)
    assert len(doc) == 1
    return doc[0]


def value(block: cif.Block, tag: str) -> str | None:
    raw = block.find_value(tag)
    return None if raw is None or cif.is_null(raw) else cif.as_string(raw)


def column(block: cif.Block, tag: str) -> list[str | None]:
    return [None if cif.is_null(v) else cif.as_string(v) for v in block.find_values(tag)]


def flat(text: str | None) -> str | None:
    return None if text is None else " ".join(text.split())


# ------------------------------------------------------------------------------------------ the validator


def test_the_validator_finds_what_the_review_found(pdbx, ctx, catalogue):
    """Each fault of the old export, put back into a valid export, is reported: the test would have failed."""
    good, _ = mmcif.document(ctx, catalogue.by_id["tau-filaments-arctica-2022"])
    assert pdbx.problems(good) == []
    faults = {
        "missing mandatory tag: _em_vitrification.entry_id":
            re.sub(r"_em_vitrification.entry_id .*\n", "", good),
        "missing mandatory tag: _em_helical_entity.axial_symmetry":
            re.sub(r"_em_helical_entity.axial_symmetry .*\n", "", good),
        "does not match the text regex": good.replace("3 ul", "3 \u00b5l"),
        "'M\u00fcller, J.' does not match the line regex": good.replace("'Muller, J.'", "'M\u00fcller, J.'"),
        "'Muller, Jonas' does not match the author regex": good.replace("'Muller, J.'", "'Muller, Jonas'"),
        "'TFS FALCON 4i (4k x 4k)' is not one of the allowed values":
            good.replace("film_or_detector_model 'FEI FALCON IV (4k x 4k)'",
                         "film_or_detector_model 'TFS FALCON 4i (4k x 4k)'"),
        "ModelAngelo is not one of the allowed values": good.replace("OTHER RELION", "OTHER ModelAngelo"),
        "value out of expected range: 0.05": good.replace("helical_entity.axial_rise_per_subunit 2.37",
                                                          "helical_entity.axial_rise_per_subunit -0.05"),
        "accelerating_voltage: 300.5 is not an integer": re.sub(r"accelerating_voltage \d+",
                                                                "accelerating_voltage 300.5", good),
        "unknown tag _em_imaging.energy_filtr": good.replace("_em_imaging.id 1", "_em_imaging.id 1\n"
                                                             "_em_imaging.energy_filtr x"),
        "has 2992 characters": good.replace("_em_imaging.id 1", "_em_imaging.id 1\n_em_imaging.details '"
                                            + "x" * 2970 + "'"),
    }
    for expected, text in faults.items():
        assert text != good, expected
        assert expected in " | ".join(pdbx.problems(text)).replace("-0.05", "0.05"), expected


@pytest.mark.parametrize("root", [ROOT, FIXTURES], ids=["datasets", "fixtures"])
def test_every_example_is_valid_against_the_dictionary_or_refused_plainly(pdbx, root):
    catalogue = load_catalogue(root).catalogue
    ctx = SiteContext(catalogue)
    exported = 0
    for d in catalogue.datasets:
        text, problems = mmcif.document(ctx, d)
        if d.technique in REFUSED:
            assert text == ""
            assert [p.field for p in problems] == ["technique"]
            assert "OneDep (EMDB and PDB) takes" in problems[0].message and d.technique in problems[0].message
            continue
        assert text, (d.id, [p.text() for p in problems])
        assert all(p.severity == "warning" for p in problems)
        assert pdbx.problems(text) == [], d.id
        block = parse(text)
        assert value(block, "_entry.id") == d.id
        assert column(block, "_audit_conform.dict_version") == [mmcif.DICTIONARY[1]]
        exported += 1
    assert exported == 7


def test_the_exporters_tables_are_the_dictionarys(pdbx):
    """What the exporter knows of the dictionary (names, enumerations, ranges, types) is what the file says."""
    assert (pdbx.title, pdbx.version) == mmcif.DICTIONARY
    assert set(mmcif.MICROSCOPES) <= pdbx.enumeration("_em_imaging.microscope_model")
    assert "OTHER" not in pdbx.enumeration("_em_imaging.microscope_model")  # why an unknown one is '?'
    assert set(mmcif.DETECTORS) <= pdbx.enumeration("_em_image_recording.film_or_detector_model")
    assert set(mmcif.DETECTOR_MODES.values()) <= pdbx.enumeration("_em_image_recording.detector_mode")
    assert set(mmcif.SOFTWARE) == pdbx.enumeration("_em_software.name")
    assert set(mmcif.SOFTWARE_ALIASES.values()) <= set(mmcif.SOFTWARE)
    assert set(mmcif.SOFTWARE_CATEGORIES) <= pdbx.enumeration("_em_software.category")
    assert {c for c, _ in mmcif.CRYOGENS} <= pdbx.enumeration("_em_vitrification.cryogen_name")
    assert {c for c, _ in mmcif.VITRIFICATION_INSTRUMENTS} <= pdbx.enumeration("_em_vitrification.instrument")
    assert {m for m, _ in mmcif.METHODS.values()} <= pdbx.enumeration("_em_experiment.reconstruction_method")
    assert {s for _, s in mmcif.METHODS.values()} <= pdbx.enumeration("_em_experiment.aggregation_state")
    for tag, (kind, ranges, deposition) in mmcif.NUMBERS.items():
        assert pdbx.types(tag) == {kind}, tag
        assert set(ranges) == set(pdbx.ranges(tag, "_item_range.")), tag
        assert set(deposition) == set(pdbx.ranges(tag, "_pdbx_item_range.")), tag
    for tag in mmcif.TEXT_ITEMS:
        assert pdbx.types(tag) == {"text"}, tag
    for tag in mmcif.MANDATORY_UNKNOWN:
        assert pdbx.value(tag, "_item.mandatory_code") == "yes", tag
    # gemmi reads the dictionary's '\{' in a character class as a backslash and a brace, as these patterns do
    constructs = {k: v.replace("/\\{}", "/\\\\{}") for k, v in pdbx.constructs.items()}
    assert mmcif.AUTHOR.pattern == constructs["author"]
    assert mmcif.CODE.pattern == constructs["code"]
    assert mmcif.ORCID.pattern == constructs["orcid_id"]
    assert mmcif.CITATION_DOI.pattern == constructs["citation_doi"]
    assert mmcif.POINT_GROUP.pattern == constructs["point_group"]
    assert mmcif.POINT_GROUP_HELICAL.pattern == constructs["point_group_helical"]


# ------------------------------------------------------------------------------------------ mappings


@pytest.mark.parametrize(("text", "ascii_"), [
    ("3 \u00b5l at 4 \u00b0C", "3 ul at 4 degC"), ("1.3 \u00c5", "1.3 A"), ("120\u2013180 nm", "120-180 nm"),
    ("20 \u03bcm, 5 \u03bcl", "20 um, 5 ul"), ("\u039c\u03b1\u03bc\u03ac\u03c2", "Mamas"),
    ("3 \u00b1 0.2 \u00d7 10", "3 +/- 0.2 x 10"), ("Z\u00fcrcher\u2019s", "Zurcher's"),
    ("line one\n;line two\t\x00\x1b end", "line one ;line two end"), ("\u6f22\u5b57", "HanZi"),
    ("\u0410\u043b\u0435\u043a\u0441\u0435\u0439", "Aleksey"), ("\u200b\u202e\ufeff", ""),
])
def test_ascii_text(text, ascii_):
    assert mmcif.ascii_text(text) == ascii_


@pytest.mark.parametrize(("name", "pdb"), [
    ("Keller, Lena", "Keller, L."), ("Taylor, Clara Anne", "Taylor, C.A."), ("Taylor, C.A.", "Taylor, C.A."),
    ("O'Brien, Mary-Kate", "O'Brien, M.-K."), ("van der Waals, Johannes Diderik", "van der Waals, J.D."),
    ("Dubois-R\u00e9, Camille", "Dubois-Re, C."), ("\u010cech, Tom\u00e1\u0161", "Cech, T."),
    ("St. John, Ann", "St. John, A."), ("O\u2019Neil, F. K.", "O'Neil, F.K."), ("Yang, Da-Lin", "Yang, D.-L."),
    ("King Jr., Martin Luther", "King Jr, M.L."), ("M\u00fcller (ETH), Jonas", "Muller ETH, J."),
    ("\u5c71\u7530, \u592a\u90ce", "ShanTian, T."),
    ("\u0418\u0432\u0430\u043d\u043e\u0432, \u0410\u043b\u0435\u043a\u0441\u0435\u0439", "Ivanov, A."),
    ("Julien Rochat", "Rochat, J."), ("Madonna", None), (", Anna", None), ("Keller, ", None),
])
def test_names_take_the_pdb_author_form(name, pdb):
    assert mmcif.pdb_author(name) == pdb
    if pdb:
        assert mmcif.AUTHOR.fullmatch(pdb)


@pytest.mark.parametrize(("text", "listed"), [
    ("RELION 5.0", ("RELION", "5.0")), ("cryoSPARC v4.5", ("cryoSPARC", "4.5")), ("Focus 1.1", ("FOCUS", "1.1")),
    ("MotionCor2 1.4", ("MotionCorr2", "1.4")), ("pyTOM 1.0", ("PyTom", "1.0")),
    ("ChimeraX 1.7", ("UCSF ChimeraX", "1.7")),
    ("Gatan DigitalMicrograph 3.5", ("DigitalMicrograph", "3.5")), ("SerialEM 4.1 with PACEtomo", ("SerialEM", "4.1")),
    ("TOM Toolbox 2", ("TOM Toolbox", "2")), ("ModelAngelo 1.0", (None, "1.0")), ("EPU-D 1.12", (None, "1.12")),
    ("2dx", (None, None)),
])
def test_software_takes_the_dictionarys_names(text, listed):
    assert mmcif.software(text) == listed


def test_specific_examples(pdbx, ctx, catalogue):
    b = parse(mmcif.document(ctx, catalogue.by_id["apoferritin-krios-2024"])[0])
    assert value(b, "_em_imaging.microscope_model") == "TFS KRIOS"
    # Falcon 4i is not in this dictionary's list: the catch-all, and the detector named in the details
    assert value(b, "_em_image_recording.film_or_detector_model") == "OTHER"
    assert value(b, "_em_image_recording.details") == "Detector: Falcon 4i"
    assert value(b, "_em_single_particle_entity.point_symmetry") == "O"
    assert value(b, "_em_3d_reconstruction.num_particles") == "312000"
    assert value(b, "_em_vitrification.cryogen_name") == "ETHANE"
    assert value(b, "_em_vitrification.instrument") == "FEI VITROBOT MARK IV"
    assert value(b, "_em_vitrification.humidity") == "100"
    assert value(b, "_em_vitrification.entry_id") == "apoferritin-krios-2024"
    assert value(b, "_em_entity_assembly_molwt.value") == "0.474"
    assert value(b, "_em_image_recording.num_real_images") == "4820"
    assert value(b, "_citation.journal_abbrev") == "To Be Published"
    details = value(b, "_em_specimen.details")
    assert details.startswith("3 ul at 3 mg/ml") and "4 degC" in details
    software = dict(zip(column(b, "_em_software.name"), column(b, "_em_software.version"), strict=True))
    assert software == {"EPU": "3.6", "RELION": "5.0", "cryoSPARC": "4.5"}
    tau = parse(mmcif.document(ctx, catalogue.by_id["tau-filaments-arctica-2022"])[0])
    assert value(tau, "_em_helical_entity.axial_rise_per_subunit") == "2.37"
    assert value(tau, "_em_helical_entity.angular_rotation_per_subunit") == "179.46"
    assert value(tau, "_em_helical_entity.axial_symmetry") == "C1"
    assert value(tau, "_em_imaging.microscope_model") == "FEI TALOS ARCTICA"
    assert value(tau, "_em_image_recording.film_or_detector_model") == "FEI FALCON IV (4k x 4k)"
    assert column(tau, "_audit_author.name")[0] == "Muller, J."
    microed = parse(mmcif.document(ctx, catalogue.by_id["lysozyme-microed-2025"])[0])
    assert value(microed, "_em_imaging.mode") == "DIFFRACTION"
    assert value(microed, "_em_image_recording.num_diffraction_images") == "5760"
    assert value(microed, "_em_3d_reconstruction.symmetry_type") == "3D CRYSTAL"
    # 14.3 kDa is below OneDep's 0.1 MDa: no molecular weight item, the value kept in the assembly's details
    assert value(microed, "_em_entity_assembly_molwt.value") is None
    assert value(microed, "_em_entity_assembly.details") == "Molecular weight (MDa): 0.0143"
    soft = list(zip(column(microed, "_em_software.name"), column(microed, "_em_software.details"), strict=True))
    assert (None, "EPU-D 1.12") in soft and ("DIALS", None) in soft and ("PHENIX", None) in soft
    trpv1 = parse(mmcif.document(ctx, catalogue.by_id["trpv1-nanodisc-krios-2023"])[0])
    assert value(trpv1, "_citation.pdbx_database_id_DOI") == "10.5555/openem.example.2023.trpv1"
    assert value(trpv1, "_em_image_recording.film_or_detector_model") == "GATAN K3 BIOQUANTUM (6k x 4k)"
    assert column(trpv1, "_audit_author.name")[0] == "Dubois-Re, C."


def test_values_read_back_equal_the_catalogue(ctx, catalogue):
    for d in catalogue.datasets:
        text, _ = mmcif.document(ctx, d)
        if not text:
            continue
        b = parse(text)
        method, state = mmcif.METHODS[d.technique]
        assert value(b, "_em_experiment.reconstruction_method") == method
        assert value(b, "_em_experiment.aggregation_state") == state
        assert float(value(b, "_em_imaging.accelerating_voltage")) == d.instrument.acceleration_voltage_kV
        if d.instrument.cs_mm is not None:
            assert float(value(b, "_em_imaging.nominal_cs")) == d.instrument.cs_mm
        if d.technique == "microed":  # the camera length of the diffraction patterns (mm)
            assert float(value(b, "_em_diffraction.camera_length")) == d.acquisition.camera_length_mm == 1700
            assert value(b, "_em_diffraction.imaging_id") == value(b, "_em_imaging.id")
        else:
            assert value(b, "_em_diffraction.camera_length") is None
        if d.acquisition.defocus_range_um:
            low, high = sorted(d.acquisition.defocus_range_um)
            assert float(value(b, "_em_imaging.nominal_defocus_min")) == pytest.approx(low * 1000)
            assert float(value(b, "_em_imaging.nominal_defocus_max")) == pytest.approx(high * 1000)
        if d.acquisition.total_dose_e_per_A2 is not None:
            assert float(value(b, "_em_image_recording.avg_electron_dose_per_image")) == \
                d.acquisition.total_dose_e_per_A2
        assert column(b, "_audit_author.name") == [mmcif.pdb_author(a.name) for a in d.authors]
        assert column(b, "_audit_author.identifier_ORCID") == [a.orcid for a in d.authors]
        assert column(b, "_citation_author.identifier_ORCID") == [a.orcid for a in d.authors]
        assert value(b, "_em_entity_assembly.name") == mmcif.ascii_text(d.sample.name)
        if d.sample.organism and d.sample.organism.taxon_id:
            assert value(b, "_em_entity_assembly_naturalsource.ncbi_tax_id") == str(d.sample.organism.taxon_id)
        if d.processing and d.processing.resolution_A:
            assert float(value(b, "_em_3d_reconstruction.resolution")) == d.processing.resolution_A
        maps = [s for s in d.data.image_sets if s.category == "maps" and s.pixel_size_A]
        if maps:
            assert float(value(b, "_em_3d_reconstruction.actual_pixel_size")) == maps[0].pixel_size_A


# ------------------------------------------------------------------------------------------ hostile input

HOSTILE = [
    "O'Brien said \"hi\" ' there",
    "; starts with a semicolon",
    "data_sneaky block name",
    "loop_ _atom_site.id # not a comment",
    "_em_imaging.mode 'DARK FIELD'",
    "\u00dcn\u00efc\u00f6d\u00e9 \u2013 \u00c5\u00b0 \u00b5l \u2081 \u6f22\u5b57 \U0001f600",
    "ends with a quote'",
    "'both' \"kinds\" ;of quotes",
    "save_frame global_ stop_ ? .",
    "line one\n;line two starts with a semicolon\n\nthird\r\n;",
    "control \x00\x07\x1b[31m chars \u2028\u2029 and \u202e bidi",
    "x" * 5000,
    "word " * 2000,
]


def _hostile(base: Dataset, text: str) -> Dataset:
    """``base`` with ``text`` in every free-text field the export writes."""
    inst, sample = base.instrument, base.sample
    return dataclasses.replace(
        base, title=f"{text} title",
        sample=dataclasses.replace(sample, name=text, preparation_details=text,
                                   organism=sample.organism and dataclasses.replace(sample.organism, name=text)),
        instrument=dataclasses.replace(inst, microscope=text, detector=text, energy_filter=text),
        acquisition=dataclasses.replace(base.acquisition, software=text),
        related=dataclasses.replace(base.related, publications=tuple(
            dataclasses.replace(p, title=f"{text} title", journal=text, authors=(text, f"{text}, {text}"))
            for p in base.related.publications)),
        processing=base.processing and dataclasses.replace(base.processing, software=(text, f"RELION {text}")),
        authors=(Person(name=f"{text}, {text}", orcid="0000-0002-1825-0097", affiliations=(Affiliation("X"),)),
                 Person(name=text), *base.authors[1:]))


def _check(pdbx: Dictionary, ctx: SiteContext, d: Dataset, text: str, baseline: list[str]) -> None:
    written, problems = mmcif.document(ctx, d)
    assert written, [p.text() for p in problems]
    assert pdbx.problems(written) == [], repr(text)
    b = parse(written)
    assert set(tags(b)) <= set(baseline) | {"_em_imaging.details", "_em_image_recording.details",
                                            "_em_software.details", "_em_entity_assembly.details"}
    assert value(b, "_em_imaging.mode") == "BRIGHT FIELD"  # an injected tag is only text
    assert value(b, "_entry.id") == d.id
    for tag, original in (("_em_specimen.details", text), ("_em_entity_assembly.name", text),
                          ("_citation.title", f"{text} title")):
        expected = mmcif.ascii_text(original)
        if len(expected) > mmcif.LONGEST_TEXT:  # cut, with a warning
            expected = expected[:mmcif.LONGEST_TEXT - 4] + " ..."
            assert any(f"written to {tag}; it is cut" in p.message for p in problems), tag
        # a word longer than a CIF line is split across lines: compare without the whitespace
        assert "".join((value(b, tag) or "").split()) == "".join(expected.split()), tag


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_text_everywhere_stays_valid(pdbx, ctx, catalogue, text):
    base = catalogue.by_id["apoferritin-krios-2024"]
    _check(pdbx, ctx, _hostile(base, text), text, tags(parse(mmcif.document(ctx, base)[0])))


#: Arbitrary text with the characters and words that mean something to CIF mixed in.
TEXT = st.lists(st.one_of(st.sampled_from([";", "\n;", "'", '"', "_", "#", "data_", "loop_", "save_", "?", ".",
                                           " ", "\n", "\t", "\u00c5", "\u00b5", "\u00b0", "\u2013", "\u00fc"]),
                          st.characters(blacklist_categories=("Cs",))), max_size=40).map("".join)


@SETTINGS
@given(text=TEXT, family=TEXT, given_=TEXT)
def test_random_text_stays_valid(pdbx, ctx, catalogue, text, family, given_):
    base = catalogue.by_id["chlamy-ribosome-sta-2025"]
    d = _hostile(base, text)
    d = dataclasses.replace(d, authors=(Person(name=f"{family}, {given_}"), *d.authors))
    _check(pdbx, ctx, d, text, tags(parse(mmcif.document(ctx, base)[0])))


def test_long_text_is_wrapped_into_cif_lines(pdbx, ctx, catalogue):
    base = catalogue.by_id["trpv1-nanodisc-krios-2023"]
    long = " ".join(f"word{n};" for n in range(1500))
    d = dataclasses.replace(base, sample=dataclasses.replace(base.sample, preparation_details=long, name="x" * 3000))
    text, problems = mmcif.document(ctx, d)
    assert pdbx.problems(text) == []
    assert max(len(line) for line in text.splitlines()) <= 2048
    b = parse(text)
    assert flat(value(b, "_em_specimen.details")) == long[:mmcif.LONGEST_TEXT - 4] + " ..."
    assert any(p.field == "sample.preparation_details" and "cut" in p.message for p in problems)
    assert value(b, "_em_entity_assembly.name").replace("\n", "") == "x" * 3000
    organism_cut = dataclasses.replace(base.sample.organism, name="y" * 3000)
    d = dataclasses.replace(base, sample=dataclasses.replace(base.sample, organism=organism_cut))
    text, problems = mmcif.document(ctx, d)
    assert pdbx.problems(text) == []
    assert len(value(parse(text), "_em_entity_assembly_naturalsource.organism")) == mmcif.LONGEST
    assert "sample.organism.name" in {p.field for p in problems}


def test_line_breaks_fold_to_spaces_so_no_line_can_start_with_a_semicolon(ctx, catalogue):
    base = catalogue.by_id["apoferritin-krios-2024"]
    details = "first line\n;second line starts with a semicolon\n\nthird"
    d = dataclasses.replace(base, sample=dataclasses.replace(base.sample, preparation_details=details))
    b = parse(mmcif.document(ctx, d)[0])
    assert value(b, "_em_specimen.details") == "first line ;second line starts with a semicolon third"


# ------------------------------------------------------------------------------------------ unknown and out of range


def test_article_details_and_authors_become_the_citation(pdbx, ctx, catalogue):
    base = catalogue.by_id["trpv1-nanodisc-krios-2023"]
    pub = Publication(doi="10.5555/x.1", pmid=12345678, title="An article", journal="Nat Commun", year=2024,
                      authors=("Rochat, Julien", "Someone, Else", "Mononym"))
    d = dataclasses.replace(base, related=Related(publications=(pub,)))
    text, problems = mmcif.document(ctx, d)
    assert pdbx.problems(text) == []
    b = parse(text)
    assert value(b, "_citation.journal_abbrev") == "Nat Commun"
    assert value(b, "_citation.year") == "2024"
    assert value(b, "_citation.pdbx_database_id_PubMed") == "12345678"
    assert column(b, "_citation_author.name") == ["Rochat, J.", "Someone, E.", None]
    assert column(b, "_citation_author.identifier_ORCID") == ["0009-0001-4970-9403", None, None]
    assert "related.publications[0].authors[2]" in {p.field for p in problems}


def test_a_doi_the_dictionary_cannot_hold_is_left_out_with_a_warning(pdbx, ctx, catalogue):
    base = catalogue.by_id["trpv1-nanodisc-krios-2023"]
    pub = Publication(doi="10.5555/a=b?c", title="An article")
    text, problems = mmcif.document(ctx, dataclasses.replace(base, related=Related(publications=(pub,))))
    assert pdbx.problems(text) == []
    assert value(parse(text), "_citation.pdbx_database_id_DOI") is None
    assert "related.publications[0].doi" in {p.field for p in problems}


def test_unknown_microscope_detector_and_software_are_named_in_the_details(pdbx, ctx, catalogue):
    base = catalogue.by_id["apoferritin-krios-2024"]
    d = dataclasses.replace(
        base, instrument=dataclasses.replace(base.instrument, microscope="Homebuilt 9000", manufacturer="Lab",
                                             detector="Prototype pixel array", energy_filter=None),
        processing=dataclasses.replace(base.processing, software=("ModelAngelo 1.0",)),
        sample=Sample(name="x sample", preparation=None),
        acquisition=dataclasses.replace(base.acquisition, temperature_K=None))
    text, problems = mmcif.document(ctx, d)
    assert pdbx.problems(text) == []
    b = parse(text)
    assert b.find_value("_em_imaging.microscope_model") == "?"  # mandatory, no catch-all: unknown
    assert value(b, "_em_imaging.details") == "Microscope: Lab Homebuilt 9000"
    assert value(b, "_em_image_recording.film_or_detector_model") == "OTHER"
    assert value(b, "_em_image_recording.details") == "Detector: Prototype pixel array"
    assert column(b, "_em_software.name")[1] is None and column(b, "_em_software.details")[1] == "ModelAngelo 1.0"
    assert value(b, "_em_specimen.vitrification_applied") is None
    assert {"instrument.microscope", "instrument.detector", "processing.software[0]", "sample.preparation"} <= \
        {p.field for p in problems}
    assert all(p.severity == "warning" for p in problems)


def test_numbers_outside_the_dictionarys_ranges_are_left_out_and_kept_in_the_details(pdbx, ctx, catalogue):
    base = catalogue.by_id["apoferritin-krios-2024"]
    d = dataclasses.replace(
        base, sample=dataclasses.replace(base.sample, molecular_weight_kDa=50_000),
        instrument=dataclasses.replace(base.instrument, acceleration_voltage_kV=1250.0, cs_mm=30.0),
        acquisition=dataclasses.replace(base.acquisition, magnification=600_000, total_dose_e_per_A2=0.5,
                                        defocus_range_um=(0.5, 30.0)))
    text, problems = mmcif.document(ctx, d)
    assert pdbx.problems(text) == []
    b = parse(text)
    for tag in ("_em_entity_assembly_molwt.value", "_em_imaging.accelerating_voltage", "_em_imaging.nominal_cs",
                "_em_imaging.nominal_magnification", "_em_image_recording.avg_electron_dose_per_image",
                "_em_imaging.nominal_defocus_max"):
        assert value(b, tag) is None, tag
    assert value(b, "_em_imaging.nominal_defocus_min") == "500"
    assert value(b, "_em_entity_assembly.details") == "Molecular weight (MDa): 50"
    imaging = value(b, "_em_imaging.details")
    assert "Accelerating voltage (kV): 1250" in imaging and "Nominal magnification: 600000" in imaging
    assert "Cs (mm): 30" in imaging and "Nominal defocus max (nm): 30000" in imaging
    assert "Total dose (e-/A2): 0.5" in value(b, "_em_image_recording.details")
    fields = {p.field for p in problems}
    assert {"sample.molecular_weight_kDa", "instrument.acceleration_voltage_kV", "acquisition.magnification",
            "acquisition.total_dose_e_per_A2", "acquisition.defocus_range_um", "instrument.cs_mm"} <= fields
    assert all(p.severity == "warning" for p in problems)


def test_a_fractional_voltage_is_written_as_the_integer_the_item_takes(pdbx, ctx, catalogue):
    base = catalogue.by_id["apoferritin-krios-2024"]
    d = dataclasses.replace(base, instrument=dataclasses.replace(base.instrument, acceleration_voltage_kV=199.7))
    text, _ = mmcif.document(ctx, d)
    assert pdbx.problems(text) == []
    assert value(parse(text), "_em_imaging.accelerating_voltage") == "200"


def test_missing_voltage_is_an_error_naming_the_field(ctx, catalogue):
    base = catalogue.by_id["apoferritin-krios-2024"]
    d = dataclasses.replace(base, instrument=dataclasses.replace(base.instrument, acceleration_voltage_kV=None))
    text, problems = mmcif.document(ctx, d)
    assert text == ""
    assert any(p.field == "instrument.acceleration_voltage_kV" and p.severity == "error" for p in problems)

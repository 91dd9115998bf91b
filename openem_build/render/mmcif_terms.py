"""The words of the PDBx/mmCIF dictionary OneDep takes (methods, microscopes, detectors, software, cryogens, number
ranges), the ASCII text it needs, and the mapping of a record's values onto them (pure)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from anyascii import anyascii

from ..records.model import Dataset

#: OpenEM technique → (em_experiment.reconstruction_method, em_experiment.aggregation_state).
METHODS: dict[str, tuple[str, str]] = {
    "single-particle": ("SINGLE PARTICLE", "PARTICLE"),
    "helical": ("HELICAL", "FILAMENT"),
    "subtomogram-averaging": ("SUBTOMOGRAM AVERAGING", "PARTICLE"),
    "tomography": ("TOMOGRAPHY", "CELL"),
    "2d-crystallography": ("CRYSTALLOGRAPHY", "2D ARRAY"),
    "microed": ("CRYSTALLOGRAPHY", "3D ARRAY"),
}


#: em_imaging.microscope_model values (_item_enumeration; no catch-all) the catalogue's microscopes map onto.
MICROSCOPES = ("FEI TITAN KRIOS", "TFS KRIOS", "FEI TALOS ARCTICA", "TFS GLACIOS", "TFS TALOS", "TFS TALOS F200C",
               "TFS TALOS L120C", "TFS TUNDRA", "FEI TECNAI F20", "FEI TECNAI F30", "FEI TECNAI SPIRIT",
               "FEI POLARA 300", "JEOL 2200FS", "JEOL 2100F", "JEOL 3200FSC", "JEOL CRYO ARM 200",
               "JEOL CRYO ARM 300")


#: em_image_recording.film_or_detector_model values (_pdbx_item_enumeration) the catalogue's detectors map onto;
#: OTHER is the dictionary's catch-all.
DETECTORS = ("FEI FALCON IV (4k x 4k)", "FEI FALCON III (4k x 4k)", "FEI FALCON II (4k x 4k)",
             "FEI FALCON I (4k x 4k)", "GATAN K3 (6k x 4k)", "GATAN K3 BIOQUANTUM (6k x 4k)",
             "GATAN K2 SUMMIT (4k x 4k)", "GATAN K2 QUANTUM (4k x 4k)", "GATAN K2 IS (4k x 4k)",
             "GATAN K2 BASE (4k x 4k)", "GATAN K2 (4k x 4k)", "FEI CETA (4k x 4k)", "DIRECT ELECTRON APOLLO (4k x 4k)",
             "DIRECT ELECTRON DE-64 (8k x 8k)", "OTHER")


#: OpenEM detector_mode → em_image_recording.detector_mode (_item_enumeration).
DETECTOR_MODES = {"counting": "COUNTING", "eer": "COUNTING", "super-resolution": "SUPER-RESOLUTION",
                  "integrating": "INTEGRATING"}


#: em_software.name (_pdbx_item_enumeration, no catch-all: a program not listed is written as ``?``).
SOFTWARE = (
    "3dmod", "ADP_EM", "AIMLESS", "Amber", "AmiraFPM", "Appion", "ARP/wARP", "Auto3DEM", "AV3", "Buccaneer", "BUSTER",
    "Bsoft", "Build_Fspace", "CCP4 package", "cisTEM", "CNS", "Confidence Maps", "Coot", "Cow", "crYOLO", "cryoDRGN",
    "cryoDRGN2", "cryoSPARC", "CTFFIND", "ctfit", "CTFPHASEFLIP", "CTFTILT", "DE-IM", "DIALS", "DigitalMicrograph",
    "DireX", "DockEM", "DoG Picker", "Dynamo", "emClarity", "EM-Menu", "EM-Tools", "EM3DR", "EMAN", "EMAN2", "EMPFT",
    "EMfit", "EPU", "ERRASER", "eTasED", "ETHAN", "eTomo", "FEI tomography", "FindEM", "FitCTF2", "Flex-EM", "FOCUS",
    "FREALIGN", "FREALIX", "Gautomatch", "Gctf", "Gorgon", "HADDOCK", "HARUSPEX", "hsearch_lorentz", "I-TASSER",
    "ICON", "IHRSR", "IMAGIC", "IMIRS", "IMOD", "iMODFIT", "IMP", "IPET", "ISOLDE", "J3DR", "JADAS", "JALIGN", "jspr",
    "JSUBTOMO", "LAFTER", "LIBG", "Latitude", "Leginon", "MATLAB", "MDFF", "MODELLER", "MOLREP", "MPSA",
    "MRC IMAGE PROCESSING PACKAGE", "MotionCorr2", "NAMD", "NOVACTF", "novaSTA", "O", "Pathwalking", "PEET",
    "PHENIX", "POINTLESS", "PowerFit", "PRIISM/IVE", "PRIME", "PROTOMO", "PyMOL", "PyTom", "RAPTOR",
    "Refine_Fspace", "REFMAC", "ResMap", "RELION", "RSRef", "RobEM", "Rosetta", "RosettaEM", "Ruby-Helix", "Scipion",
    "Sculptor", "SerialEM", "SHELXD", "Signature", "SIMPLE", "Situs", "SPARX", "SPHIRE", "SPIDER", "SPRING", "subTOM",
    "STOPGAP", "SUPER", "Super-sampling SART", "TEMPy", "TOM", "TOM Toolbox", "TOMO3D", "TOMOCTF", "TomoAlign",
    "Topaz", "UCSF Chimera", "UCSF ChimeraX", "UCSF Tomography", "UCSFImage", "UCSFImage4", "URO", "VMD", "Warp",
    "X-PLOR", "X3D", "Xmipp")


#: Other spellings of listed programs (lower case) → the dictionary's name.
SOFTWARE_ALIASES = {"motioncor2": "MotionCorr2", "motioncorr": "MotionCorr2", "ctffind4": "CTFFIND",
                    "ctffind5": "CTFFIND", "chimera": "UCSF Chimera", "chimerax": "UCSF ChimeraX",
                    "digital micrograph": "DigitalMicrograph", "cryosparc live": "cryoSPARC"}


#: Makers' names that prefix a program's name in the catalogue ("Gatan DigitalMicrograph").
_VENDORS = re.compile(r"^(gatan|thermo fisher( scientific)?|thermo scientific|tfs|fei|jeol|zeiss|ucsf)\s+", re.I)


#: em_software.category (_item_enumeration).
SOFTWARE_CATEGORIES = ("IMAGE ACQUISITION", "OTHER")


#: em_vitrification.cryogen_name (_item_enumeration) the preparation text is searched for, most specific first.
CRYOGENS = (("ETHANE-PROPANE", r"ethane[-/ ]propane|propane[-/ ]ethane"), ("ETHANE", r"ethane"),
            ("PROPANE", r"propane"))


#: em_vitrification.instrument (_item_enumeration, no catch-all) and how a preparation text names each.
VITRIFICATION_INSTRUMENTS = (
    ("FEI VITROBOT MARK IV", r"vitrobot\s+(mark\s+)?(iv|4)\b"),
    ("FEI VITROBOT MARK III", r"vitrobot\s+(mark\s+)?(iii|3)\b"),
    ("FEI VITROBOT MARK II", r"vitrobot\s+(mark\s+)?(ii|2)\b"),
    ("FEI VITROBOT MARK I", r"vitrobot\s+(mark\s+)?(i|1)\b"),
    ("LEICA EM GP", r"\bleica\s+em\s+gp\b(?!\s*2)"), ("LEICA EM CPC", r"\bleica\s+em\s+cpc\b"),
    ("LEICA KF80", r"\bkf\s?80\b"), ("GATAN CRYOPLUNGE 3", r"cryoplunge\s*3|\bgatan\s+cp3\b"),
    ("SPOTITON", r"\bspotiton\b"), ("EMS-002 RAPID IMMERSION FREEZER", r"\bems[- ]?002\b"),
    ("REICHERT-JUNG PLUNGER", r"reichert"), ("ZEISS PLUNGE FREEZER CRYOBOX", r"cryobox"),
    ("HOMEMADE PLUNGER", r"\b(home[- ]?made|home[- ]?built|custom[- ]built)\s+plung"))


#: Numeric items written, as (type, _item_range, _pdbx_item_range). A range is (minimum, maximum), None for
#: '.', and reads as gemmi reads it: minimum < x < maximum, or x == minimum when both are equal; a value must
#: fall in one range of each list that is not empty.
Range = tuple[float | None, float | None]


NUMBERS: dict[str, tuple[str, tuple[Range, ...], tuple[Range, ...]]] = {
    "_em_entity_assembly_molwt.value": ("float", ((0.0, None),), ((0.1, 10.0),)),
    "_em_imaging.accelerating_voltage": ("int", ((0, 0), (0, None)), ((0, 0), (0, 400), (400, 400))),
    "_em_imaging.nominal_cs": ("float", ((0, 0), (0, 20), (20, 20)), ()),
    "_em_imaging.nominal_magnification": ("int", ((1000, 500000),), ()),
    "_em_imaging.nominal_defocus_min": ("float", (), ((-20000, 20000),)),
    "_em_imaging.nominal_defocus_max": ("float", (), ((-20000, 20000),)),
    "_em_imaging.tilt_angle_min": ("float", (), ()),
    "_em_imaging.tilt_angle_max": ("float", (), ()),
    "_em_imaging.temperature": ("float", (), ()),
    "_em_diffraction.camera_length": ("float", ((0.0, None),), ()),
    "_em_image_recording.avg_electron_dose_per_image": ("float", ((0.0, None),), ((1, 1000),)),
    "_em_image_recording.num_real_images": ("positive_int", (), ()),
    "_em_image_recording.num_diffraction_images": ("positive_int", (), ()),
    "_em_vitrification.humidity": ("float", ((0.0, 0.0), (0.0, 100.0), (100.0, 100.0)), ()),
    "_em_3d_reconstruction.resolution": ("float", ((0.0, None),), ()),
    "_em_3d_reconstruction.num_particles": ("int", ((0, None),), ()),
    "_em_3d_reconstruction.actual_pixel_size": ("float", (), ()),
    "_em_helical_entity.angular_rotation_per_subunit": ("float", ((-180.0, 180.0), (180.0, 180.0)), ()),
    "_em_helical_entity.axial_rise_per_subunit": ("float", ((0.0, None),), ()),
    "_em_entity_assembly_naturalsource.ncbi_tax_id": ("positive_int", (), ()),
    "_citation.year": ("int", (), ()),
    "_citation.pdbx_database_id_PubMed": ("int", ((-1, None), (-1, -1)), ()),
}


#: Items of type ``text`` (may hold line breaks); every other string item written is a single line.
TEXT_ITEMS = frozenset({
    "_em_entity_assembly.name", "_em_entity_assembly.details", "_em_specimen.details", "_em_vitrification.details",
    "_em_imaging.details", "_em_image_recording.details", "_em_software.details", "_em_helical_entity.details",
    "_em_3d_reconstruction.details", "_citation.title", "_citation.details"})


#: Mandatory items (_item.mandatory_code yes) the catalogue may not know: written as '?' rather than left out.
MANDATORY_UNKNOWN = frozenset({
    "_em_entity_assembly.name", "_em_specimen.vitrification_applied", "_em_imaging.microscope_model",
    "_em_entity_assembly_naturalsource.organism", "_em_entity_assembly_naturalsource.ncbi_tax_id",
    "_audit_author.name", "_citation_author.name"})


#: _item_type_list.construct of the types whose values come from contributors.
AUTHOR = re.compile(r"[A-Za-z0-9_]+(( |-|'|\. )[A-Za-z0-9_]+)*( Jr.| III)?, [A-Za-z0-9_]\.(-?[A-Za-z0-9_]+\.)*$")


CODE = re.compile(r"""[][_,.;:"&<>()/\\{}'`~!@#$%A-Za-z0-9*|+-]*""")


ORCID = re.compile(r"[0-9]{4}-[0-9]{4}-[0-9]{4}-([0-9]{3}X|[0-9]{4})")


CITATION_DOI = re.compile(r"10\..*")


POINT_GROUP = re.compile(r"(C[1-9][0-9]*|D[2-9]|D[1-9][0-9]+|O|T|I)")


POINT_GROUP_HELICAL = re.compile(r"[CD][1-9][0-9]*")


#: Preparations whose specimen is vitreous ice (plunge- or high-pressure-frozen, cryo-FIB lamellae).
_VITRIFIED = {"vitrification", "high-pressure-freezing", "fib-milling", "cryo-sectioning"}


_NOT_VITRIFIED = {"negative-staining", "chemical-fixation", "freeze-substitution", "sectioning"}


#: A CIF 1.1 line holds at most 2048 characters; a one-line value longer than this is cut, a text wrapped.
LONGEST = 1900


#: A text longer than this is cut: gemmi's validator (std::regex, recursive) overflows its stack on a value of
#: some ten thousand characters, and OneDep's own checks are built the same way.
LONGEST_TEXT = 4000


_WRAP = 80


#: EM symbols whose plain transliteration would mislead (anyascii reads Greek mu as 'm', × as '*').
_SYMBOLS = str.maketrans({"\u00b5": "u", "\u00b1": "+/-", "\u00d7": "x", "\u2030": " per mille", "\u2126": "Ohm"})


#: Greek small mu used as the micro prefix: before a unit, not inside a Greek word.
_GREEK_MICRO = re.compile(r"(?<![^\W\d_])\u03bc(?=(m|l|L|g|M|s|A|V|mol|\u00c5)\b)")


_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]")


def _shown(value: str | None) -> str:
    """A contributor's value as a message quotes it: ASCII, at most 60 characters."""
    text = ascii_text(value or "")
    return text if len(text) <= 60 else text[:57] + "..."


def one_line(value: str) -> str:
    """Whitespace runs (line breaks included) as single spaces."""
    return " ".join(value.split())


def ascii_text(value: str) -> str:
    """``value`` in printable ASCII on one line: Å → A, µ → u, ° → deg, ü → u, – → -, 漢字 → HanZi."""
    value = unicodedata.normalize("NFC", value.translate(_SYMBOLS))  # NFC would make the ohm sign an omega
    value = anyascii(_GREEK_MICRO.sub("u", value))
    return one_line(_NOT_PRINTABLE.sub(" ", value))


def _name_words(value: str) -> list[tuple[str, str]]:
    """(separator before, word) pairs of the ASCII letters and digits of a name part."""
    text = ascii_text(value)
    return [(m.group(1), m.group(2)) for m in re.finditer(r"([^A-Za-z0-9_]*)([A-Za-z0-9_]+)", text)]


def _family(value: str) -> str:
    """A family name in the PDB's character set: words joined by one space, hyphen, apostrophe or '. '."""
    out = ""
    for n, (sep, word) in enumerate(_name_words(value)):
        if n:
            out += "-" if "-" in sep else "'" if "'" in sep else ". " if "." in sep else " "
        out += word
    return out


def _initials(value: str) -> str:
    """'Lena' → 'L.', 'Anna Maria' → 'A.M.', 'Jean-Pierre' → 'J.-P.', 'C.A.' → 'C.A.'."""
    out = ""
    for sep, word in _name_words(value):
        out += ("-" if "-" in sep and out else "") + word[0].upper() + "."
    return out


def pdb_author(name: str) -> str | None:
    """A person's name in the PDB's form, family name, comma, initials with dots: 'Keller, Lena' → 'Keller, L.'.

    A name without a comma is read as given names then family name ('Julien Rochat'). None when nothing of it
    can be written in that form (one word, or no letter ASCII can spell).
    """
    family, comma, given = name.partition(",")
    if not comma:
        words = name.split()
        family, given = (words[-1], " ".join(words[:-1])) if len(words) > 1 else (name, "")
    surname = _family(family)[:_WRAP * 8].rstrip(" -'.")  # a cut name ends with a letter, as the form wants
    initials = _initials(given)[:_WRAP * 4]
    written = f"{surname}, {initials[:initials.rfind('.') + 1]}"
    return written if AUTHOR.fullmatch(written) else None


def microscope_model(d: Dataset) -> str | None:
    """The catalogue's microscope as a PDBx/mmCIF enumeration value, when one fits."""
    name = ascii_text(d.instrument.microscope or "").upper()
    maker = ascii_text(d.instrument.manufacturer or "").upper()
    if "KRIOS" in name:
        return "TFS KRIOS" if re.search(r"\bG[3-9]", name) else "FEI TITAN KRIOS"
    if "ARCTICA" in name:
        return "FEI TALOS ARCTICA"
    if "GLACIOS" in name:
        return "TFS GLACIOS"
    if "TUNDRA" in name:
        return "TFS TUNDRA"
    for model in ("F200C", "L120C"):
        if "TALOS" in name and model in name:
            return f"TFS TALOS {model}"
    if "CRYO ARM" in name or "CRYOARM" in name:
        kv = re.search(r"(200|300)", name)
        return f"JEOL CRYO ARM {kv.group(1)}" if kv else None
    if "JEOL" in maker or name.startswith("JEM"):
        m = re.search(r"JEM-?(\w+)", name)
        candidate = f"JEOL {m.group(1)}" if m else None
        return candidate if candidate in MICROSCOPES else None
    return None


def detector_model(d: Dataset) -> str | None:
    """The catalogue's detector as a film_or_detector_model value: a model, OTHER, or None when none is given."""
    if not d.instrument.detector:
        return None
    det = ascii_text(d.instrument.detector).upper()
    flt = ascii_text(d.instrument.energy_filter or "").upper()
    if "FALCON" in det:
        # Falcon 4i is not Falcon 4 (IV); the dictionary lists it only from later versions on.
        for roman, pattern in (("IV", r"\b(4|IV)\b"), ("III", r"\b(3|III)\b"), ("II", r"\b(2|II)\b"),
                               ("I", r"\b(1|I)\b")):
            if re.search(pattern, det):
                return f"FEI FALCON {roman} (4k x 4k)"
        return "OTHER"
    if re.search(r"\bK3\b", det):
        return "GATAN K3 BIOQUANTUM (6k x 4k)" if "BIOQUANTUM" in det + flt else "GATAN K3 (6k x 4k)"
    if re.search(r"\bK2\b", det):
        for model in ("SUMMIT", "QUANTUM", "IS", "BASE"):
            if re.search(rf"\b{model}\b", det):
                return f"GATAN K2 {model} (4k x 4k)"
        return "GATAN K2 (4k x 4k)"
    if "CETA" in det:
        return "FEI CETA (4k x 4k)"
    if "APOLLO" in det:
        return "DIRECT ELECTRON APOLLO (4k x 4k)"
    if re.search(r"\bDE-?64\b", det):
        return "DIRECT ELECTRON DE-64 (8k x 8k)"
    return "OTHER"


_BY_LOWER = {name.lower(): name for name in SOFTWARE}


_VERSION = re.compile(r"v?(\d[\w.\-]*)", re.I)


def _listed(name: str) -> str | None:
    key = name.lower()
    for candidate in (key, _VENDORS.sub("", key)):
        if candidate in SOFTWARE_ALIASES:
            return SOFTWARE_ALIASES[candidate]
        if candidate in _BY_LOWER:
            return _BY_LOWER[candidate]
    return None


def software(value: str) -> tuple[str | None, str | None]:
    """'RELION 5.0' → ('RELION', '5.0'), 'MotionCor2 1.4' → ('MotionCorr2', '1.4'): the dictionary's name of the
    program (None when it lists none) and the version that follows the name."""
    words = ascii_text(value).split()
    for k in range(min(len(words), 8), 0, -1):  # the longest name, a maker's before it, is 7 words
        name = _listed(" ".join(words[:k]))
        if name:
            version = _VERSION.fullmatch(words[k]) if k < len(words) else None
            return name, version.group(1) if version else None
    version = _VERSION.fullmatch(words[-1]) if len(words) > 1 else None
    return None, version.group(1) if version else None


def _vitrified(d: Dataset) -> bool | None:
    prep = d.sample.preparation
    if prep in _VITRIFIED:
        return True
    if prep in _NOT_VITRIFIED:
        return False
    t = d.acquisition.temperature_K
    return None if t is None else t < 150


def refusal(d: Dataset) -> str | None:
    if d.technique in METHODS:
        return None
    return ("not exported as PDBx/mmCIF: OneDep (EMDB and PDB) takes single-particle, helical, "
            "subtomogram-averaging, tomography and electron-crystallography experiments, not "
            f"'{d.technique}' data.")


def _num(value: float | int) -> str:
    """A number as PDBx writes it: no trailing .0 on whole values, no exponent."""
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    short = f"{value:.6g}"
    return short if "e" not in short else f"{value:.12f}".rstrip("0").rstrip(".")


def in_ranges(value: float, ranges: Iterable[Range]) -> bool:
    """Whether ``value`` lies in one of ``ranges`` (empty: no limit), read as gemmi reads _item_range."""
    ranges = tuple(ranges)
    if not ranges:
        return True
    lo_inf, hi_inf = float("-inf"), float("inf")
    for lo, hi in ranges:
        low, high = lo_inf if lo is None else lo, hi_inf if hi is None else hi
        if (value == low) if low == high else (low < value < high):
            return True
    return False


def _range_text(ranges: tuple[Range, ...]) -> str:
    lows = [lo for lo, _ in ranges]
    highs = [hi for _, hi in ranges]
    low = None if None in lows else min(x for x in lows if x is not None)
    high = None if None in highs else max(x for x in highs if x is not None)
    return f"{'' if low is None else _num(low)}..{'' if high is None else _num(high)}"

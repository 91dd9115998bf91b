"""Header facts of TIFF files and EER movies, read with tifffile.

tifffile parses only the TIFF structure (the image file directories and their tags), never image data, so a
header read costs memory in proportion to the number of frames, not to their size. A TIFF whose tags say it
comes from an FEI/Thermo Fisher, Zeiss or TVIPS instrument is handed to RosettaSciIO (:mod:`.rsciio`), which
knows those vendors' calibrations; any other TIFF is a 2D image (one page) or an image stack (several pages: a
movie's frames or a volume's sections, which the file does not tell apart; ``frames`` counts them).
EER files (Thermo Fisher's Electron Event Representation: a BigTIFF of one page per frame) give their frame
count, frame size and the acquisition values of their XML metadata (tags 65001…).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from . import rsciio

SUFFIXES = frozenset({".tif", ".tiff", ".eer"})
#: tifffile tag codes of the vendors RosettaSciIO reads: FEI SFEG/Helios, Zeiss CZ_SEM, TVIPS.
VENDOR_TAGS = {34680: "fei", 34682: "fei", 34118: "zeiss", 37706: "tvips"}
#: The most pages a header read walks (a movie of more frames is reported as "at least" this many).
MAX_PAGES = 1_000_000


def _tifffile() -> Any:
    import tifffile

    logging.getLogger("tifffile").setLevel(logging.ERROR)
    return tifffile


def vendor(path: Path) -> str | None:
    """'fei', 'zeiss' or 'tvips' when the first page of a TIFF carries that vendor's tags, else None."""
    with _tifffile().TiffFile(path) as tif:
        codes = set(tif.pages.first.tags.keys())
    return next((name for code, name in VENDOR_TAGS.items() if code in codes), None)


def _count_pages(tif: Any) -> int:
    """The number of pages, walking the chain of image file directories only (no tags, no data)."""
    pages = tif.pages
    pages.useframes = True
    n = 0
    for _page in pages:
        n += 1
        if n >= MAX_PAGES:
            break
    return n


def _eer(meta: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(acquisition values, eer section) of EER XML metadata as tifffile parses it."""
    acq: dict[str, Any] = {}
    section: dict[str, Any] = {}
    exposure = rsciio.number(meta.get("exposureTime"))
    if exposure is not None and meta.get("exposureTime.unit", "s") == "s" and exposure > 0:
        acq["exposure_time_s"] = exposure
    frames = rsciio.number(meta.get("numberOfFrames"))
    if frames and frames >= 1:
        acq["frames"] = int(frames)
    name = rsciio._text(meta.get("commercialName") if isinstance(meta.get("commercialName"), str) else None)
    if name:
        acq["detector"] = name
    stamp = meta.get("timestamp")
    if stamp is not None:
        acq["collected"] = str(stamp)[:40]
    for key, out in (("totalDose", "total_dose_e_per_pixel"), ("meanDoseRate", "mean_dose_rate_e_per_pixel_s")):
        value = rsciio.number(meta.get(key))
        if value is not None and value >= 0:
            section[out] = value
    serial = meta.get("serialNumber")
    if serial is not None:
        section["serial_number"] = str(serial)[:80]
    return acq, section


def extract(path: Path) -> tuple[dict[str, Any], list[str]]:
    """Header facts and problems of one TIFF or EER file (never raises for a bad file)."""
    is_eer = path.suffix.lower() == ".eer"
    if not is_eer:
        found = vendor(path)
        if found is not None:
            data, problems = rsciio.extract(path)
            return {"vendor": found, **data}, problems
    problems: list[str] = []
    with _tifffile().TiffFile(path) as tif:
        first = tif.pages.first
        shape = tuple(int(n) for n in first.shape)
        dtype = str(first.dtype) if first.dtype is not None else None
        pages = _count_pages(tif)
        eer_meta = tif.eer_metadata if is_eer else None
    if len(shape) not in (2, 3):
        problems.append(f"the first page is {len(shape)}-dimensional ({shape}); an image page has 2 dimensions "
                        "(3 for colour)")
    dims = [shape[1], shape[0]] if len(shape) >= 2 else list(shape)
    # (a multi-page TIFF may be a movie or a stack of sections: the file does not say; EER files are movies)
    kind = "image" if pages == 1 else "movie" if is_eer else "image-stack"
    out: dict[str, Any] = {}
    image: dict[str, Any] = {"dimensions": dims + ([pages] if pages > 1 else []), "dtype": dtype, "kind": kind}
    out["image"] = {k: v for k, v in image.items() if v is not None}
    acq: dict[str, Any] = {"frames": pages} if pages > 1 else {}
    if is_eer:
        if not eer_meta:
            problems.append("no EER metadata (tag 65001 holds no <metadata> XML): not an EER file, or a damaged "
                            "one")
        else:
            extra, section = _eer(eer_meta)
            declared = extra.pop("frames", None)
            if declared is not None and declared != pages:
                problems.append(f"the EER metadata say {declared} frames, but the file holds {pages} pages")
            acq.update(extra)
            if section:
                out["eer"] = section
    if pages >= MAX_PAGES:
        problems.append(f"the file holds at least {MAX_PAGES:,} pages; only these were counted")
    if acq:
        out["acquisition"] = acq
    return out, problems

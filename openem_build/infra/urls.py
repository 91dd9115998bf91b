"""Official URLs of identifiers (DOI, EMDB, EMPIAR, PDB), and which URLs are safe to link."""

from __future__ import annotations

from urllib.parse import quote


def doi_url(doi: str) -> str:
    return "https://doi.org/" + quote(doi, safe="/:;()._-")


def archive_url(accession: str) -> str:
    """The entry page of an EMDB, EMPIAR or PDB accession."""
    if accession.startswith("EMD-"):
        return f"https://www.ebi.ac.uk/emdb/{accession}"
    if accession.startswith("EMPIAR-"):
        return f"https://www.ebi.ac.uk/empiar/{accession}/"
    # Classic 4-character PDB ids are written in capitals; extended ids (pdb_0000xxxx) in lower case.
    pdb = accession.upper() if len(accession) == 4 else accession.lower()
    return f"https://www.rcsb.org/structure/{pdb}"


def http_only(url: str) -> str | None:
    """The URL when it is safe to link (http or https), else None."""
    return url if url.startswith(("https://", "http://")) else None

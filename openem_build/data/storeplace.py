"""The OpenEM store's layout and addresses: layout versions, the remote's name, where a dataset lives in the store
and its clone URLs."""

from __future__ import annotations

import re
from collections.abc import Callable

from . import annexfiles

STORE_LAYOUT = "1\n"


DATASET_LAYOUT = "2\n"


REMOTE = "openem-store"  # the ORA special remote's name in published datasets


PRIVATE = ".openem"  # in a folder store: locks and staged uploads (never to be served)


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


Log = Callable[[str], None]


Advance = Callable[[int, int], None]  # (files done, bytes done) since the last call


class StoreError(RuntimeError):
    """Publishing to (or reading from) the store failed; the message says why and what to do."""


def _quiet(_message: str) -> None:
    pass


def dataset_dir(dsid: str) -> str:
    """A dataset's folder in a RIA store, from its DataLad id."""
    if not _UUID.fullmatch(dsid):
        raise StoreError(f"{dsid!r} is not a DataLad dataset id")
    return f"{dsid[:3]}/{dsid[3:]}"


def clone_url(public_url: str, dsid: str) -> str:
    """What ``datalad clone`` takes for a dataset in the store at ``public_url``."""
    return f"ria+{public_url.rstrip('/')}#{dsid}"


def git_url(public_url: str, dsid: str) -> str:
    """The plain git URL of the dataset's repository (what ``.gitmodules`` records as ``url``)."""
    return f"{public_url.rstrip('/')}/{dataset_dir(dsid)}"


def parse_clone_url(url: str) -> tuple[str, str] | None:
    """(store's http(s) base URL, dataset id) of a ``ria+http(s)://…#<id>`` URL, else None."""
    m = re.fullmatch(r"ria\+(https?://[^#]+?)/?#([0-9a-f-]{36})", url)
    if not m or not _UUID.fullmatch(m[2]):
        return None
    return m[1], m[2]


def object_url(public_url: str, dsid: str, location: str) -> str:
    """The plain download URL of one key's content; ``location`` is ``<hashdirmixed><key>/<key>``."""
    return annexfiles.ria_object_url(public_url, dsid, location)

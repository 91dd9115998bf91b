"""Every output format, registered: importing this module imports each renderer, whose decorators register
its producers in :mod:`.registry`. The site reads the registry through this module.

Adding an output format: a renderer module in ``render/`` with ``@per_dataset(rank)`` (or ``@per_catalogue``)
on its producer, one import line here, and its test (docs/architecture.md).
"""

from __future__ import annotations

from . import api, citation, datacite, dcat, empiar, jsonld, mmcif, oai, oscem, record, signposting, sitemap
from .registry import PARTS as PARTS
from .registry import Artefact as Artefact
from .registry import Parts as Parts
from .registry import Streamed as Streamed
from .registry import catalogue_producers as catalogue_producers
from .registry import for_catalogue as for_catalogue
from .registry import for_dataset as for_dataset
from .registry import forget as forget
from .registry import is_part as is_part
from .registry import links as links
from .registry import part_path as part_path
from .registry import share as share

#: The renderer modules whose producers are registered (each import above registers them).
RENDERERS = (api, citation, datacite, dcat, empiar, jsonld, mmcif, oai, oscem, record, signposting, sitemap)

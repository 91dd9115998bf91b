"""Registering dataset DOIs with DataCite: the API client (:mod:`.api`), the plans (:mod:`.plan`, pure) and the
command's run (:mod:`.register`)."""

from .api import COMMANDS as COMMANDS
from .api import TEST_ENDPOINT as TEST_ENDPOINT
from .api import DataCiteAPI as DataCiteAPI
from .api import DOIError as DOIError
from .api import Settings as Settings
from .plan import insert_doi as insert_doi
from .plan import version_links as version_links
from .plan import write_doi as write_doi
from .register import Outcome as Outcome
from .register import run as run
from .register import site_context as site_context
from .register import version_history as version_history

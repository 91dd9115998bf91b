"""``openem schema``: print the JSON Schema of ``dataset.yaml`` or ``facilities.yaml``."""

from __future__ import annotations

import argparse
import json
import sys

from ..records.validate import schema as load_schema
from .base import EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Print the JSON Schema of dataset.yaml (or of facilities.yaml)."""
    sys.stdout.write(json.dumps(load_schema(args.name), indent=2, ensure_ascii=False) + "\n")
    return EXIT_OK


def arguments(p: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    p.add_argument("--name", choices=["dataset", "facilities"], default="dataset")

"""Where things are in a catalogue: the folder of entries, the facilities registry and each entry's files."""

from __future__ import annotations

DATASETS = "datasets"
FACILITIES = "datasets/facilities.yaml"
DATASET_FILE = "dataset.yaml"
MANIFEST_FILE = "manifest.json"

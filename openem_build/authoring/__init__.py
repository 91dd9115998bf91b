"""Making new entries: ``openem add`` (a DataLad dataset and a pre-filled ``dataset.yaml``) and
``openem new``'s stub."""

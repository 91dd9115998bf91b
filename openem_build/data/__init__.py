"""Readers of the data behind catalogue entries: the DataLad/git-annex adapter and file-header readers."""

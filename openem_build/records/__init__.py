"""The records: typed entries read from YAML with positions, validated, cross-checked against their files'
facts, and their file manifests."""

"""Pure renderers: records in, text out. None of them reads files or the clock."""

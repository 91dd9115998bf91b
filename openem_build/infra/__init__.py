"""Shared plumbing every part uses: site context and settings, parallel workers, progress bars, official URLs."""

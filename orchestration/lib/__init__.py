"""Shared helpers: the extract contract's vocabulary, paths, warehouse access."""

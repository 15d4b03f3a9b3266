"""Thin entry points: the `scf` command line."""

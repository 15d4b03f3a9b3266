"""Benchmarks, run on demand (`make bench`); results are written as JSON to bench/results/."""

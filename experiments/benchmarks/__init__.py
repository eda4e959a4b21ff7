"""Benchmarks and experiment scripts, run from the repo root."""

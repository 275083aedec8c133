"""Benchmarks that print their figures (run by hand; see bench/README.md)."""

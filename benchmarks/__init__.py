"""Benchmarks against peer libraries (not tests). Run all with `make bench`."""

"""Benchmarks: speed and memory measured here (`make bench`), never in timed unit tests."""

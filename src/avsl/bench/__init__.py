"""Benchmarks behind `avsl bench --suite NAME`: speed is measured here, never in unit tests."""

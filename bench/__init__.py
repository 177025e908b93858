"""Benchmarks of Sendguard against a real local broker (see BENCHMARKS.md)."""

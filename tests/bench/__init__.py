"""Helpers of the client-context benchmark (`python -m tests.bench_contexts`)."""

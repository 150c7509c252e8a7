"""Prefect's scaled topology on loopback, for interop tests and failure drills (issue 16).

PostgreSQL, Redis, two API replicas, the services and nginx: `stack.start_topology()`
starts them and always tears them down; `python -m tests.topology` drives it by hand and
runs what `nox -s topology` runs. The starter (`config`, `stack`) uses only the standard
library; the drills (`drill`) use the load workload of tests/load.
"""

"""Load measurements against a real Prefect server (`nox -s load`); not collected by pytest."""

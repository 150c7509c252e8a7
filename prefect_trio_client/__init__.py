"""prefect-trio-client: a trio-first, structured-concurrency client for the Prefect API."""

from prefect_trio_client._version import __version__ as __version__

__all__ = ["__version__"]

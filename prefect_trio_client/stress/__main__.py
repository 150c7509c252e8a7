"""``python -m prefect_trio_client.stress``: see `prefect_trio_client.stress`."""

import sys

from prefect_trio_client.stress._cli import main

sys.exit(main())

"""Sending a write the server does not dedupe, when its outcome may be unknown.

The send loop never re-sends such a request once the server may have applied it (its
answer was lost, or was a 500, 502 or 504): the caller gets `OutcomeUnknownError` or a
`PrefectHTTPStatusError` whose ``outcome_unknown`` is set. A plan that can tell from the
server's records whether the request took effect (a state carrying the proposal's
``transition_id``, a log line already stored) reads them back instead, and sends the
request again only when it did not. Reads are re-sent through server errors, so a server
whose database is restarting is waited out by the read.
"""

from __future__ import annotations

from collections.abc import Callable

from prefect_trio_client.base import PrefectResponse
from prefect_trio_client.exceptions import OutcomeUnknownError, PrefectHTTPStatusError
from prefect_trio_client.orchestration._plan import Plan, Request

__all__ = ["MAX_READ_BACKS", "send_or_read_back"]

#: How many times a request whose outcome was unknown is read back and sent again.
MAX_READ_BACKS = 3


def send_or_read_back(
    request: Request, applied: Callable[[], Plan[bool]]
) -> Plan[PrefectResponse | None]:
    """Send `request`; when its outcome is unknown, run the `applied` plan (a read) and
    send again only if it says False. Returns the response, or None when a read found
    the request applied. After `MAX_READ_BACKS` read-backs an unknown outcome is raised.
    """
    for _ in range(MAX_READ_BACKS):
        try:
            response: PrefectResponse = yield request
        except (OutcomeUnknownError, PrefectHTTPStatusError) as error:
            if isinstance(error, PrefectHTTPStatusError) and not error.outcome_unknown:
                raise
            if (yield from applied()):
                return None
        else:
            return response
    last: PrefectResponse = yield request
    return last

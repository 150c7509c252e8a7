"""`PrefectResponse`: the response both HTTP clients return (a leaf module, no I/O)."""

from __future__ import annotations

import copy

import httpx

from prefect_trio_client.exceptions import PrefectHTTPStatusError

__all__ = ["NOTE_EXTENSION", "OUTCOME_UNKNOWN_EXTENSION", "PrefectResponse"]

#: A response extension with a sentence for the caller's error (why it was not re-sent).
NOTE_EXTENSION = "prefect_trio_client.note"
#: A response extension set (True) when the request was not re-sent because it may have
#: been applied: the caller's error says so in `PrefectHTTPStatusError.outcome_unknown`.
OUTCOME_UNKNOWN_EXTENSION = "prefect_trio_client.outcome_unknown"


class PrefectResponse(httpx.Response):
    """An `httpx.Response` whose `raise_for_status` raises `PrefectHTTPStatusError`.

    Attributes:
        attempts: How many times the request was sent to get this response.
    """

    attempts: int = 1

    def raise_for_status(self) -> PrefectResponse:
        """Return the response if it succeeded, else raise with the server's detail.

        Raises:
            PrefectHTTPStatusError: For a 4xx or 5xx status (`ObjectNotFound` for 404,
                `ObjectAlreadyExists` for 409), with the httpx error as ``__cause__``.
        """
        try:
            super().raise_for_status()
        except httpx.HTTPStatusError as exc:
            error = PrefectHTTPStatusError.from_httpx_error(exc, attempts=self.attempts)
            error.outcome_unknown = self.extensions.get(OUTCOME_UNKNOWN_EXTENSION) is True
            # httpx's message, kept as the cause, names the full URL: redact it there too.
            exc.args = (str(exc).replace(str(exc.request.url), str(error.url)),)
            note = self.extensions.get(NOTE_EXTENSION)
            if isinstance(note, str) and hasattr(error, "add_note"):
                error.add_note(note)
            raise error from exc
        return self

    @classmethod
    def from_httpx_response(cls, response: httpx.Response) -> PrefectResponse:
        """The same response, viewed as a `PrefectResponse` (a shallow copy; no I/O)."""
        if isinstance(response, cls):
            return response
        prefect_response = copy.copy(response)
        prefect_response.__class__ = cls
        return prefect_response  # type: ignore[return-value]  # __class__ was just set

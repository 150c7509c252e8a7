"""After a server error, the connection it came on is not used again.

Prefect's server answers 500 and 503 from Starlette's catch-all exception handler, which
raises the exception again once the answer is sent, and uvicorn then closes the
connection. A request the client puts on that connection meanwhile (an idle connection
is reused at once) reaches a closing socket and is lost after it was sent, which a POST
cannot survive. Measured in the engine rows: the connections such requests failed on
had been idle 0.0 s (so not uvicorn's 5 s keep-alive timeout), and with this module the
rows lose no log line (C=200: 56 lost before). So such a connection is shut for
reading: the pool finds it readable (at the end of its stream) and drops it before
reuse, as it drops one the server has closed.
"""

from __future__ import annotations

import socket

import httpx

__all__ = ["retire_connection"]


def retire_connection(response: httpx.Response) -> None:
    """Keep the HTTP/1.1 connection of a server-error answer from being reused.

    Call it once the answer was read. HTTP/2 connections (shared by other requests) and
    in-process transports (no socket) are left alone.
    """

    if response.status_code < 500 or response.http_version != "HTTP/1.1":
        return
    stream = response.extensions.get("network_stream")
    if stream is None:
        return
    sock = stream.get_extra_info("socket")
    fileno = getattr(sock, "fileno", None)
    if fileno is None:
        return
    try:
        # a duplicate descriptor of the same socket: asyncio hands out a wrapper
        # without shutdown(), and shutting down one descriptor shuts the socket
        with socket.fromfd(fileno(), socket.AF_INET, socket.SOCK_STREAM) as duplicate:
            duplicate.shutdown(socket.SHUT_RD)
    except OSError:  # already closed: the pool drops it anyway
        pass

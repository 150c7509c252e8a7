"""httpx's per-request work, done with less where the result is provably the same.

An `httpx.AsyncClient` is general, and two of its steps cost a third of a bare request on
a fast transport: joining the base URL with a request's path parses both again (about
25 us), and every response goes to the cookie jar, which wraps it and its request in
urllib objects only to find no ``Set-Cookie`` header (about 20 us). Both HTTP clients of
`prefect_trio_client.base` take these shortcuts, and fall back to httpx's own code for
everything else:

- `PlainPathJoiner`: the base URL joined with a path made only of ``/``, RFC 3986's
  unreserved characters and ``%XX`` escapes (every path ``url_path`` builds). httpx's parser
  keeps such a path as it is, so the joined URL is the base URL's parsed form with a
  longer path: built from it directly, without parsing. Anything else (a query, a
  dot-segment, an absolute URL) goes through httpx's merge.
- `skip_cookie_less`: a client's cookie store hands a response to its jar only when the
  response sets a cookie (a jar given no ``Set-Cookie`` header stores nothing).

Both rest on how httpx keeps a URL (its parsed form, ``_uri_reference``, a named tuple);
`PlainPathJoiner` checks once per process that a URL built that way is the one httpx
builds, and takes no shortcut if it is not (another httpx).
"""

from __future__ import annotations

import functools
import re
from http.cookiejar import CookieJar
from typing import Any

import httpx

__all__ = ["PlainPathJoiner", "skip_cookie_less"]

#: ``/segment/segment...`` of unreserved characters and escapes; no ``//``, no query.
_PLAIN_PATH = re.compile(r"(?:/[A-Za-z0-9_~.%-]+)+/?|/")
#: A ``%`` that does not start an escape (httpx would escape it).
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# httpx refuses longer URLs: let it say so.
_MAX_PLAIN_PATH = 4096
_SET_COOKIE = (b"set-cookie", b"set-cookie2")
_FIELDS = ("scheme", "userinfo", "host", "port", "path", "query", "fragment")


class PlainPathJoiner:
    """Joins one base URL with plain paths, as httpx's client joins them.

    `join` returns None for a path that is not plain (the caller lets httpx merge it),
    and always when the base URL has a query or fragment.
    """

    __slots__ = ("_head", "_make", "_path", "base")

    def __init__(self, base: httpx.URL) -> None:
        self.base = base
        reference: Any = getattr(base, "_uri_reference", None)
        self._make: Any = None
        if (
            _shortcut_holds()
            and getattr(reference, "_fields", None) == _FIELDS
            and reference.query is None
            and reference.fragment is None
            and reference.path.endswith("/")
            and base.is_absolute_url
        ):
            self._make = type(reference)
            self._head = tuple(reference[:4])
            self._path = reference.path

    def join(self, path: str) -> httpx.URL | None:
        """The base URL joined with `path`, or None when `path` is not plain."""
        if (
            self._make is None
            or len(path) > _MAX_PLAIN_PATH
            or "/." in path  # a dot-segment (httpx would resolve it), or a name like .x
            or _PLAIN_PATH.fullmatch(path) is None
            or ("%" in path and _LONE_PERCENT.search(path) is not None)
        ):
            return None
        return _url_of(self._make(*self._head, self._path + path[1:], None, None))


def _url_of(reference: Any) -> httpx.URL:
    url = httpx.URL.__new__(httpx.URL)
    url._uri_reference = reference
    return url


@functools.cache
def _shortcut_holds() -> bool:
    """Whether this httpx keeps URLs as the shortcut assumes (checked once per process)."""
    try:
        with httpx.Client(
            base_url="http://user:pw@Example.COM:8443/api",
            transport=httpx.MockTransport(lambda request: httpx.Response(204)),
            trust_env=False,
        ) as client:
            path = "/flow_runs/0f2c-%2F~x.y_z/set_state"
            reference = client.base_url._uri_reference
            if reference._fields != _FIELDS:
                return False
            ours = _url_of(type(reference)(*reference[:4], "/api/" + path[1:], None, None))
            theirs = client.build_request("GET", path).url
    except Exception:  # another httpx: no shortcut
        return False
    return ours == theirs and str(ours) == str(theirs) and ours.raw_path == theirs.raw_path


class _SetCookieOnly(httpx.Cookies):
    """httpx's cookie store, skipping responses that set no cookie."""

    def extract_cookies(self, response: httpx.Response) -> None:
        for name, _ in response.headers.raw:
            if name.lower() in _SET_COOKIE:
                super().extract_cookies(response)
                return


def skip_cookie_less(cookies: httpx.Cookies) -> httpx.Cookies:
    """`cookies`, made to skip responses without ``Set-Cookie`` (in place: a jar the
    program gave stays shared). A store or jar of another class is left as it is."""
    if type(cookies) is httpx.Cookies and type(cookies.jar) is CookieJar:
        cookies.__class__ = _SetCookieOnly
    return cookies

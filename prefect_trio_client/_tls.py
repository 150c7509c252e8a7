"""One `ssl.SSLContext` per distinct TLS configuration per process (DESIGN section 2b).

httpx builds a new context for every `httpx.AsyncClient` / `httpx.Client` it constructs,
whatever the URL's scheme: the transport's constructor calls ``create_ssl_context()``,
which parses the whole CA bundle (tens of milliseconds of CPU and most of a megabyte
each time). A client given ``verify=<an SSLContext>`` uses that context as it is, so every
client of a process can share one, built here once, lazily, under a lock.

What a context is built from, and therefore its cache key:

- the CA source: ``cafile`` when given (``PREFECT_API_SSL_CERT_FILE``), loaded as
  ``ssl.create_default_context(cafile=...)``; otherwise exactly what httpx itself builds
  for ``verify=True`` (``httpx.create_ssl_context``: ``SSL_CERT_FILE``, then
  ``SSL_CERT_DIR`` when `trust_env`, else certifi's bundle). The key holds the path that
  will be read and its stamp (device, inode, size, mtime), so a replaced file gives a
  new context on the next call;
- the client certificate chain (`cert`, httpx's ``cert=``: paths, stamps, and a digest of
  the password, never the password itself);
- `http2`: httpcore sets the ALPN protocols on the context it is given before each TLS
  handshake (``["http/1.1", "h2"]`` or ``["http/1.1"]``), so a context is only shared by
  clients that set the same list; it is set here too, up front;
- ``SSLKEYLOGFILE``, which ``ssl.create_default_context`` reads.

A context is never changed after it is cached (httpcore's ALPN write sets what it already
holds). Verification is never weakened: every context here has ``CERT_REQUIRED`` and
``check_hostname``. Building failures propagate and cache nothing.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import threading
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import httpx

from prefect_trio_client._environ import environment_value

__all__ = ["CertTypes", "clear_ssl_context_cache", "shared_ssl_context", "use_shared_ssl_context"]

#: httpx's ``cert=``: a certificate file (with its key), or ``(certfile, keyfile)``, or
#: ``(certfile, keyfile, password)``.
CertTypes: TypeAlias = str | tuple[str, str] | tuple[str, str, str]

# (device, inode, size, mtime in ns) of a file or folder, or None when it cannot be read.
_Stamp: TypeAlias = tuple[int, int, int, int] | None


@dataclass(frozen=True)
class _Config:
    """Everything a context is built from (the cache key, without the file stamps)."""

    source: str  # "cafile" | "env-file" | "env-dir" | "certifi"
    ca_path: str
    trust_env: bool
    certfile: str | None
    keyfile: str | None
    password_sha256: str | None
    http2: bool
    keylog: str | None


_lock = threading.Lock()
# Config -> (the stamps of the files it was built from, the context). One entry per
# configuration: a context whose files changed is replaced, not kept beside the new one.
_cache: dict[_Config, tuple[tuple[_Stamp, ...], ssl.SSLContext]] = {}


def _digest(password: str | None) -> str | None:
    if password is None:
        return None
    return hashlib.sha256(password.encode()).hexdigest()


def _stamp(path: str | None) -> _Stamp:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _split_cert(cert: CertTypes | None) -> tuple[str | None, str | None, str | None]:
    """``(certfile, keyfile, password)`` from httpx's ``cert=``, with absolute paths."""
    if not cert:
        return None, None, None
    if isinstance(cert, str):
        return os.path.abspath(cert), None, None
    keyfile = os.path.abspath(cert[1]) if len(cert) > 1 and cert[1] else None
    password = cert[2] if len(cert) > 2 else None
    return os.path.abspath(cert[0]), keyfile, password


def _config(
    cafile: str | os.PathLike[str] | None,
    certfile: str | None,
    keyfile: str | None,
    password: str | None,
    http2: bool,
    trust_env: bool,
) -> _Config:
    if cafile is not None:
        # ssl.create_default_context(cafile=...) reads neither SSL_CERT_* nor trust_env.
        source, ca_path, trust_env = "cafile", os.path.abspath(os.fspath(cafile)), True
    elif trust_env and (env_file := environment_value("SSL_CERT_FILE")):
        # httpx.create_ssl_context(verify=True) decides in this order.
        source, ca_path = "env-file", os.path.abspath(env_file)
    elif trust_env and (env_dir := environment_value("SSL_CERT_DIR")):
        source, ca_path = "env-dir", os.path.abspath(env_dir)
    else:
        import certifi  # noqa: PLC0415  # only when a context is built

        source, ca_path = "certifi", certifi.where()
    return _Config(
        source=source,
        ca_path=ca_path,
        trust_env=trust_env,
        certfile=certfile,
        keyfile=keyfile,
        password_sha256=_digest(password),
        http2=bool(http2),
        keylog=environment_value("SSLKEYLOGFILE") or None,
    )


def _stamps(config: _Config) -> tuple[_Stamp, ...]:
    return (_stamp(config.ca_path), _stamp(config.certfile), _stamp(config.keyfile))


def _build(config: _Config, password: str | None) -> ssl.SSLContext:
    if config.source == "cafile":
        context = ssl.create_default_context(cafile=config.ca_path)
    else:
        # Whatever the installed httpx builds for verify=True, so the CA source and the
        # settings cannot drift from what an unshared client would have had.
        context = httpx.create_ssl_context(verify=True, trust_env=config.trust_env)
    if config.certfile is not None:
        context.load_cert_chain(config.certfile, config.keyfile, password)
    if ssl.HAS_ALPN:
        context.set_alpn_protocols(["http/1.1", "h2"] if config.http2 else ["http/1.1"])
    if context.verify_mode is not ssl.CERT_REQUIRED or not context.check_hostname:
        raise RuntimeError("refusing to share an SSL context that does not verify the server")
    return context


def shared_ssl_context(
    *,
    cafile: str | os.PathLike[str] | None = None,
    cert: CertTypes | None = None,
    http2: bool = False,
    trust_env: bool = True,
) -> ssl.SSLContext:
    """The process-wide SSL context for this TLS configuration, built on first use.

    Every call with the same configuration returns the same object, from any thread,
    until a file it was built from changes (then the next call builds a new one).

    Args:
        cafile: A CA bundle to trust instead of the default (``PREFECT_API_SSL_CERT_FILE``).
        cert: A client certificate chain, as httpx's ``cert=``.
        http2: Whether the clients using it may speak HTTP/2 (the ALPN protocols).
        trust_env: As httpx's ``trust_env``: honour ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``
            (ignored with `cafile`).

    Raises:
        OSError: A file cannot be read.
        ssl.SSLError: A file holds no usable certificate or key.
    """
    certfile, keyfile, password = _split_cert(cert)
    config = _config(cafile, certfile, keyfile, password, http2, trust_env)
    # Stamped before anything is read: a file replaced while it is being loaded shows a
    # different stamp on the next call, which then builds again.
    stamps = _stamps(config)
    entry = _cache.get(config)
    if entry is not None and entry[0] == stamps:
        return entry[1]
    with _lock:
        entry = _cache.get(config)
        if entry is not None and entry[0] == stamps:
            return entry[1]
        context = _build(config, password)
        _cache[config] = (stamps, context)
        return context


def use_shared_ssl_context(
    kwargs: MutableMapping[str, Any], *, cafile: str | os.PathLike[str] | None = None
) -> None:
    """Give keyword arguments for `httpx.AsyncClient` / `httpx.Client` the shared context.

    Sets ``kwargs["verify"]`` to `shared_ssl_context` for the ``cert``, ``http2`` and
    ``trust_env`` they hold, and removes ``cert`` (it is loaded into that context; httpx
    would otherwise load it into the shared context itself). Leaves `kwargs` alone when
    they hold ``verify`` (the caller's choice, passed through untouched, ``cert`` too) and
    when httpx would build no context from them: a ``transport`` of the caller's and no
    ``proxy`` (with a transport httpx builds no default transport and reads no proxies
    from the environment).

    Args:
        kwargs: The client's keyword arguments, changed in place.
        cafile: A CA bundle to trust instead of the default.

    Raises:
        OSError: A file cannot be read.
        ssl.SSLError: A file holds no usable certificate or key.
    """
    if "verify" in kwargs:
        return
    if kwargs.get("transport") is not None and kwargs.get("proxy") is None:
        return
    kwargs["verify"] = shared_ssl_context(
        cafile=cafile,
        cert=kwargs.get("cert"),
        http2=bool(kwargs.get("http2", False)),
        trust_env=bool(kwargs.get("trust_env", True)),
    )
    kwargs.pop("cert", None)


def clear_ssl_context_cache() -> None:
    """Forget every shared context (for tests; clients keep the context they hold)."""
    with _lock:
        _cache.clear()

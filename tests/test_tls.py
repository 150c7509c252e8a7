"""The shared SSL context (DESIGN.md, section 2b): one per TLS configuration and process,
built once, shared by every client, never weaker than what httpx would have built."""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import certifi
import httpx
import pytest

from prefect_trio_client import _tls
from prefect_trio_client._tls import (
    clear_ssl_context_cache,
    shared_ssl_context,
    use_shared_ssl_context,
)
from prefect_trio_client.base import ServerType
from prefect_trio_client.exceptions import SettingsError
from prefect_trio_client.orchestration import PrefectClient, SyncPrefectClient, get_client
from prefect_trio_client.orchestration._connection import httpx_client_kwargs
from prefect_trio_client.settings import ClientSettings

HTTPS_URL = "https://prefect.example/api"
ENVIRONMENT = (
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "SSLKEYLOGFILE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
)

Client = PrefectClient | SyncPrefectClient


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An empty cache, and no CA or proxy settings from the developer's shell."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    clear_ssl_context_cache()
    yield
    clear_ssl_context_cache()


class Counter:
    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    def add(self) -> None:
        with self.lock:
            self.count += 1


@pytest.fixture
def new_contexts(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Counts every `ssl.SSLContext` created, by anyone (httpx, httpcore, us)."""
    counter = Counter()
    original = ssl.SSLContext.__new__

    def counting_new(cls: type[ssl.SSLContext], *args: Any, **kwargs: Any) -> ssl.SSLContext:
        counter.add()
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "__new__", staticmethod(counting_new))
    return counter


def ca_file(path: Path, certificates: int = 3) -> Path:
    """A CA file of our own: the first few certificates of certifi's bundle."""
    end = "-----END CERTIFICATE-----\n"
    blocks = Path(certifi.where()).read_text().split(end)
    path.write_text("".join(block + end for block in blocks[:certificates]))
    return path


def ssl_context_of(client: Client | httpx.Client | httpx.AsyncClient) -> ssl.SSLContext:
    http = client.httpx_client if isinstance(client, Client) else client
    transport = http._transport
    assert isinstance(transport, httpx.HTTPTransport | httpx.AsyncHTTPTransport)
    context = transport._pool._ssl_context
    assert context is not None
    return context


# --- The detector itself -------------------------------------------------------------------


def test_the_counter_sees_the_context_httpx_builds(new_contexts: Counter) -> None:
    httpx.AsyncClient()
    httpx.Client(base_url="http://127.0.0.1:9")
    assert new_contexts.count == 2


# --- Clients build no context of their own -----------------------------------------------

MAKERS: dict[str, Callable[[str], Client]] = {
    "get_client": lambda url: get_client(),
    "get_client-sync": lambda url: get_client(sync_client=True),
    "PrefectClient": PrefectClient,
    "SyncPrefectClient": SyncPrefectClient,
}


@pytest.mark.parametrize("scheme", ["https", "http"])
@pytest.mark.parametrize("maker", list(MAKERS))
def test_fifty_clients_build_one_context_between_them(
    maker: str, scheme: str, monkeypatch: pytest.MonkeyPatch, new_contexts: Counter
) -> None:
    url = f"{scheme}://prefect.example/api"
    monkeypatch.setenv("PREFECT_API_URL", url)
    clients = [MAKERS[maker](url) for _ in range(50)]
    # The first client built the shared context; the 49 others built nothing.
    assert new_contexts.count == 1
    shared = shared_ssl_context()
    assert all(ssl_context_of(client) is shared for client in clients)
    assert new_contexts.count == 1


@pytest.mark.parametrize("sync_client", [False, True])
def test_proxies_from_the_environment_share_it_too(
    sync_client: bool, monkeypatch: pytest.MonkeyPatch, new_contexts: Counter
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", HTTPS_URL)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    shared = shared_ssl_context()
    new_contexts.count = 0
    for _ in range(20):
        client = get_client(sync_client=sync_client)
        mounted = [t for t in client.httpx_client._mounts.values() if t is not None]
        assert len(mounted) == 2
        for transport in mounted:
            assert isinstance(transport, httpx.HTTPTransport | httpx.AsyncHTTPTransport)
            assert transport._pool._ssl_context is shared
    assert new_contexts.count == 0


@pytest.mark.anyio
async def test_fifty_open_contexts_share_one_ssl_context(new_contexts: Counter) -> None:
    stub = httpx.MockTransport(lambda request: httpx.Response(200, json="3.9.1"))
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                PrefectClient(HTTPS_URL, httpx_settings={"mounts": {"all://": stub}})
            )
            for _ in range(50)
        ]
        assert await clients[-1].api_version() == "3.9.1"
    assert new_contexts.count == 1
    assert all(ssl_context_of(client) is shared_ssl_context() for client in clients)


@pytest.mark.parametrize("sync_client", [False, True])
def test_the_in_process_server_needs_no_context(sync_client: bool, new_contexts: Counter) -> None:
    for _ in range(10):
        client = get_client(sync_client=sync_client)
        assert client.server_type is ServerType.EPHEMERAL
        assert not isinstance(
            client.httpx_client._transport, httpx.HTTPTransport | httpx.AsyncHTTPTransport
        )
        assert client.httpx_client._mounts == {}
    assert new_contexts.count == 0
    assert not _tls._cache


# --- One context per configuration -------------------------------------------------------


def test_the_same_configuration_is_the_same_object(tmp_path: Path) -> None:
    cafile = ca_file(tmp_path / "ca.pem")
    assert shared_ssl_context() is shared_ssl_context()
    assert shared_ssl_context(cafile=cafile) is shared_ssl_context(cafile=str(cafile))
    assert shared_ssl_context(http2=True) is shared_ssl_context(http2=True)


def test_what_changes_the_context_changes_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contexts = [
        shared_ssl_context(),
        shared_ssl_context(http2=True),
        shared_ssl_context(cafile=ca_file(tmp_path / "a.pem")),
        shared_ssl_context(cafile=ca_file(tmp_path / "b.pem")),
    ]
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file(tmp_path / "env.pem")))
    contexts.append(shared_ssl_context())
    contexts.append(shared_ssl_context(trust_env=False))  # certifi's bundle, not the variable
    monkeypatch.setenv("SSLKEYLOGFILE", str(tmp_path / "keys.log"))
    contexts.append(shared_ssl_context())
    assert len({id(context) for context in contexts}) == len(contexts)


def test_a_changed_cert_file_gives_a_new_context(tmp_path: Path) -> None:
    cafile = ca_file(tmp_path / "ca.pem")
    first = shared_ssl_context(cafile=cafile)
    assert shared_ssl_context(cafile=cafile) is first

    stat = cafile.stat()
    os.utime(cafile, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = shared_ssl_context(cafile=cafile)
    assert second is not first
    assert shared_ssl_context(cafile=cafile) is second

    # Replaced by another file (as configuration managers do): the new file is read.
    ca_file(tmp_path / "new.pem", certificates=2).replace(cafile)
    third = shared_ssl_context(cafile=cafile)
    assert third is not second
    assert len(third.get_ca_certs()) == 2
    assert len(_tls._cache) == 1  # the stale contexts are not kept


def test_a_changed_ssl_cert_file_variable_gives_a_new_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file(tmp_path / "one.pem", certificates=1)))
    first = shared_ssl_context()
    assert len(first.get_ca_certs()) == 1
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file(tmp_path / "two.pem", certificates=2)))
    assert len(shared_ssl_context().get_ca_certs()) == 2
    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    by_folder = shared_ssl_context()
    assert by_folder.cert_store_stats()["x509_ca"] == 0  # a folder is read at handshake time
    without_env = shared_ssl_context(trust_env=False)
    assert without_env.get_ca_certs() == httpx_default(trust_env=False).get_ca_certs()


def test_a_failed_build_caches_nothing(tmp_path: Path) -> None:
    cafile = tmp_path / "ca.pem"
    with pytest.raises(FileNotFoundError):
        shared_ssl_context(cafile=cafile)
    ca_file(cafile)
    assert len(shared_ssl_context(cafile=cafile).get_ca_certs()) == 3


# --- Verification is never weakened -------------------------------------------------------


def httpx_default(**kwargs: Any) -> ssl.SSLContext:
    """What httpx builds for an unshared client (``verify=True``)."""
    return httpx.create_ssl_context(**kwargs)


@pytest.mark.parametrize("http2", [False, True])
@pytest.mark.parametrize("source", ["certifi", "SSL_CERT_FILE", "PREFECT_API_SSL_CERT_FILE"])
def test_the_shared_context_verifies_as_httpx_would(
    source: str, http2: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cafile = ca_file(tmp_path / "ca.pem")
    if source == "SSL_CERT_FILE":
        monkeypatch.setenv("SSL_CERT_FILE", str(cafile))
    if source == "PREFECT_API_SSL_CERT_FILE":
        shared = shared_ssl_context(cafile=cafile, http2=http2)
        expected = ssl.create_default_context(cafile=str(cafile))  # as before sharing
    else:
        shared = shared_ssl_context(http2=http2)
        expected = httpx_default()
    assert shared.verify_mode is ssl.CERT_REQUIRED
    assert shared.check_hostname is True
    assert shared.protocol == expected.protocol
    assert shared.options == expected.options
    assert shared.minimum_version == expected.minimum_version
    assert shared.maximum_version == expected.maximum_version
    assert shared.verify_flags == expected.verify_flags
    assert shared.get_ciphers() == expected.get_ciphers()
    assert shared.get_ca_certs() == expected.get_ca_certs()
    if source != "certifi":
        assert len(shared.get_ca_certs()) == 3  # our file, not certifi's bundle


def test_prefect_clients_verify_against_the_cert_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cafile = ca_file(tmp_path / "ca.pem")
    monkeypatch.setenv("PREFECT_API_URL", HTTPS_URL)
    monkeypatch.setenv("PREFECT_API_SSL_CERT_FILE", str(cafile))
    context = ssl_context_of(get_client())
    assert context is ssl_context_of(SyncPrefectClient(HTTPS_URL))
    assert context is shared_ssl_context(cafile=cafile)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert len(context.get_ca_certs()) == 3


def test_http2_clients_get_their_own_context(monkeypatch: pytest.MonkeyPatch) -> None:
    # httpcore writes the ALPN protocols into the context before each handshake, so an
    # HTTP/2 client and an HTTP/1.1 client must not share one.
    monkeypatch.setenv("PREFECT_API_URL", HTTPS_URL)
    http1 = ssl_context_of(get_client())
    monkeypatch.setenv("PREFECT_API_ENABLE_HTTP2", "true")
    http2 = ssl_context_of(get_client())
    assert http2 is not http1
    assert http2 is shared_ssl_context(http2=True)


# --- Settings ----------------------------------------------------------------------------


def kwargs_for(settings: ClientSettings, **httpx_settings: Any) -> dict[str, Any]:
    return httpx_client_kwargs(
        HTTPS_URL, settings=settings, server_type=ServerType.SERVER, httpx_settings=httpx_settings
    )


def test_insecure_skip_verify_is_false_and_builds_nothing(
    monkeypatch: pytest.MonkeyPatch, new_contexts: Counter
) -> None:
    monkeypatch.setenv("PREFECT_API_TLS_INSECURE_SKIP_VERIFY", "true")
    assert kwargs_for(ClientSettings())["verify"] is False
    assert not _tls._cache
    assert new_contexts.count == 0


@pytest.mark.parametrize("ephemeral", [False, True])
@pytest.mark.parametrize("content", [None, b"not a certificate\n"])
def test_a_bad_cert_file_is_a_settings_error(
    content: bytes | None, ephemeral: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cafile = tmp_path / "ca.pem"
    if content is not None:
        cafile.write_bytes(content)
    monkeypatch.setenv("PREFECT_API_SSL_CERT_FILE", str(cafile))
    if not ephemeral:
        monkeypatch.setenv("PREFECT_API_URL", HTTPS_URL)
    with pytest.raises(SettingsError, match=r"PREFECT_API_SSL_CERT_FILE: cannot load .*ca\.pem"):
        get_client()
    ca_file(cafile)  # fixed: the next client loads it (a failure is not cached)
    assert get_client() is not None


def test_an_explicit_verify_wins_untouched(new_contexts: Counter) -> None:
    mine = ssl.create_default_context()
    new_contexts.count = 0
    settings = ClientSettings()
    assert kwargs_for(settings, verify=mine)["verify"] is mine
    assert kwargs_for(settings, verify=False)["verify"] is False
    client = PrefectClient(HTTPS_URL, httpx_settings={"verify": mine})
    assert ssl_context_of(client) is mine
    assert new_contexts.count == 0
    assert not _tls._cache


def test_an_explicit_verify_wins_over_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_TLS_INSECURE_SKIP_VERIFY", "true")
    mine = ssl.create_default_context()
    assert kwargs_for(ClientSettings(), verify=mine)["verify"] is mine


def test_a_client_certificate_is_loaded_into_its_own_shared_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    certfile, keyfile = tmp_path / "client.pem", tmp_path / "client.key"
    certfile.write_text("certificate")
    keyfile.write_text("key")
    loaded: list[tuple[Any, ...]] = []

    def load_cert_chain(self: ssl.SSLContext, *args: Any) -> None:
        loaded.append(args)

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", load_cert_chain)
    cert = (str(certfile), str(keyfile), "s3cret")
    # httpx would warn that cert= is deprecated (an error here) and load the chain into
    # the context it was given: the shared one. Neither may happen.
    first = ssl_context_of(PrefectClient(HTTPS_URL, httpx_settings={"cert": cert}))
    second = ssl_context_of(SyncPrefectClient(HTTPS_URL, httpx_settings={"cert": cert}))
    assert first is second
    assert first is not shared_ssl_context()
    assert loaded == [(str(certfile), str(keyfile), "s3cret")]
    assert "s3cret" not in repr(list(_tls._cache))


# --- use_shared_ssl_context -------------------------------------------------------------------


def test_kwargs_with_a_transport_and_no_proxy_are_left_alone() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    kwargs: dict[str, Any] = {"transport": transport, "cert": "client.pem"}
    use_shared_ssl_context(kwargs)
    assert kwargs == {"transport": transport, "cert": "client.pem"}
    kwargs = {"transport": transport, "proxy": "http://proxy.example:3128"}
    use_shared_ssl_context(kwargs)
    assert kwargs["verify"] is shared_ssl_context()


def test_kwargs_take_http2_and_trust_env_into_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file(tmp_path / "env.pem")))
    kwargs: dict[str, Any] = {"http2": True, "trust_env": False}
    use_shared_ssl_context(kwargs)
    assert kwargs["verify"] is shared_ssl_context(http2=True, trust_env=False)
    assert kwargs["verify"] is not shared_ssl_context(http2=True)


# --- Threads -------------------------------------------------------------------------------


class WatchedCache(dict[Any, Any]):
    """The cache, counting look-ups so a test knows when every thread has missed."""

    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0
        self.changed = threading.Condition()

    def get(self, key: Any, default: Any = None) -> Any:
        with self.changed:
            self.lookups += 1
            self.changed.notify_all()
        return super().get(key, default)


def test_threads_racing_build_exactly_one_context(monkeypatch: pytest.MonkeyPatch) -> None:
    threads_count = 8
    cache = WatchedCache()
    monkeypatch.setattr(_tls, "_cache", cache)
    builds: list[object] = []
    build = _tls._build

    def slow_build(config: Any, password: str | None) -> ssl.SSLContext:
        builds.append(config)
        # Hold the build until every thread has looked in the cache and missed (the
        # builder looks twice: before and after taking the lock), so all of them race.
        with cache.changed:
            assert cache.changed.wait_for(lambda: cache.lookups >= threads_count + 1, 30)
        return build(config, password)

    monkeypatch.setattr(_tls, "_build", slow_build)
    start = threading.Barrier(threads_count)
    results: list[ssl.SSLContext | None] = [None] * threads_count
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        start.wait()
        try:
            results[index] = shared_ssl_context()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(builds) == 1
    assert results[0] is not None
    assert all(result is results[0] for result in results)


def test_http_clients_built_directly_share_one_context(new_contexts: Counter) -> None:
    """`PrefectHttpxAsyncClient()` / `PrefectHttpxSyncClient()` built by hand share too."""
    from prefect_trio_client.base import PrefectHttpxAsyncClient, PrefectHttpxSyncClient

    clients: list[Any] = []
    for _ in range(20):
        clients.append(PrefectHttpxAsyncClient(base_url="https://prefect.test/api"))
        clients.append(PrefectHttpxSyncClient(base_url="https://prefect.test/api"))
    assert new_contexts.count <= 1
    assert clients[0]._transport._pool._ssl_context is clients[1]._transport._pool._ssl_context

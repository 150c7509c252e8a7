"""What the topology's parts are told: ports, the replicas' environment, nginx's and
PostgreSQL's configuration. Pure functions of a `Layout`, so they are tested without
starting anything.

Standard library only: the starter runs in any virtualenv (the nox session's, or a shell's).
"""

from __future__ import annotations

import json
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "DATABASE",
    "DATABASE_USER",
    "Layout",
    "Ports",
    "free_ports",
    "nginx_config",
    "ports_from",
    "postgres_settings",
    "prefect_env",
]

#: The database and its owner in the topology's own cluster (trust auth, loopback only).
DATABASE = "prefect"
DATABASE_USER = "prefect"


@dataclass(frozen=True)
class Ports:
    """Every port the topology listens on, all on 127.0.0.1."""

    postgres: int
    redis: int
    replicas: tuple[int, ...]
    #: nginx round-robin over the replicas, websockets upgraded: the URL clients use.
    proxy: int
    #: The same proxy without the websocket headers (a common misconfiguration: upgrade
    #: requests reach the replicas as plain GETs and are refused).
    proxy_no_websocket: int
    #: The same proxy closing client connections idle for a second.
    proxy_idle_cut: int


def ports_from(base: int, replicas: int = 2) -> Ports:
    """Consecutive ports from ``base``: postgres, redis, the proxies, then the replicas."""
    return Ports(
        postgres=base,
        redis=base + 1,
        proxy=base + 2,
        proxy_no_websocket=base + 3,
        proxy_idle_cut=base + 4,
        replicas=tuple(base + 5 + i for i in range(replicas)),
    )


def free_ports(replicas: int = 2) -> Ports:
    """Ports the kernel says are free now (held open together so they differ)."""
    sockets = [socket.socket() for _ in range(5 + replicas)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        numbers = [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    return Ports(
        postgres=numbers[0],
        redis=numbers[1],
        proxy=numbers[2],
        proxy_no_websocket=numbers[3],
        proxy_idle_cut=numbers[4],
        replicas=tuple(numbers[5:]),
    )


@dataclass(frozen=True)
class Layout:
    """Where everything lives and which programs run it: enough to start, stop or restart
    any part from any process (saved as JSON in the topology's folder)."""

    root: Path
    ports: Ports
    #: The `prefect` executable of a virtualenv with prefect and prefect-redis.
    prefect: Path
    #: PostgreSQL's server binaries (initdb, pg_ctl, createdb).
    pg_bin: Path
    redis_server: str
    nginx: str
    #: The unprivileged account PostgreSQL and nginx's workers run as when we are root.
    run_as: str | None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.proxy}/api"

    @property
    def api_url_no_websocket(self) -> str:
        return f"http://127.0.0.1:{self.ports.proxy_no_websocket}/api"

    @property
    def api_url_idle_cut(self) -> str:
        return f"http://127.0.0.1:{self.ports.proxy_idle_cut}/api"

    @property
    def replica_urls(self) -> tuple[str, ...]:
        return tuple(f"http://127.0.0.1:{port}/api" for port in self.ports.replicas)

    @property
    def database_url(self) -> str:
        return f"postgresql+asyncpg://{DATABASE_USER}@127.0.0.1:{self.ports.postgres}/{DATABASE}"

    @property
    def state_file(self) -> Path:
        return self.root / "topology.json"

    def to_json(self) -> str:
        data = asdict(self)
        data["root"] = str(self.root)
        data["prefect"] = str(self.prefect)
        data["pg_bin"] = str(self.pg_bin)
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Layout:
        data = json.loads(text)
        ports = data["ports"]
        return cls(
            root=Path(data["root"]),
            ports=Ports(**{**ports, "replicas": tuple(ports["replicas"])}),
            prefect=Path(data["prefect"]),
            pg_bin=Path(data["pg_bin"]),
            redis_server=data["redis_server"],
            nginx=data["nginx"],
            run_as=data["run_as"],
        )


def prefect_env(layout: Layout, home: Path) -> dict[str, str]:
    """The settings every Prefect process of the topology shares: PostgreSQL, and Redis
    for messaging, the event cache, causal ordering, concurrency leases and docket (the
    names `prefect server start --workers` asks for, in prefect/cli/_server_utils.py)."""
    redis = f"127.0.0.1:{layout.ports.redis}"
    return {
        "PREFECT_HOME": str(home),
        "PREFECT_API_DATABASE_CONNECTION_URL": layout.database_url,
        # One `prefect server database upgrade` runs before the replicas start: two
        # replicas migrating the same database at once would race.
        "PREFECT_API_DATABASE_MIGRATE_ON_START": "false",
        "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
        "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
        "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
        "PREFECT_REDIS_MESSAGING_HOST": "127.0.0.1",
        "PREFECT_REDIS_MESSAGING_PORT": str(layout.ports.redis),
        "PREFECT_REDIS_MESSAGING_DB": "0",
        "PREFECT_SERVER_DOCKET_URL": f"redis://{redis}/1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED": "false",
    }


def postgres_settings(layout: Layout, socket_dir: Path) -> str:
    """Lines appended to the cluster's postgresql.conf.

    Loopback only. Durability is off (fsync, synchronous_commit, full_page_writes): the
    data lives for one run, and a restart drill stops the server cleanly.
    """
    return "\n".join(
        [
            "listen_addresses = '127.0.0.1'",
            f"port = {layout.ports.postgres}",
            f"unix_socket_directories = '{socket_dir}'",
            "max_connections = 200",
            "fsync = off",
            "synchronous_commit = off",
            "full_page_writes = off",
            "log_min_messages = warning",
            "",
        ]
    )


_PROXY_HEADERS = """\
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"""

_WEBSOCKET_HEADERS = """\
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;"""


def _server_block(port: int, *, websocket: bool, idle_cut: bool) -> str:
    client_side = (
        # Close a client's connection after 1 s idle, and after 20 requests on it: the
        # client must notice and re-send what it had just started sending there.
        "        keepalive_timeout 1s;\n        keepalive_requests 20;\n"
        if idle_cut
        else "        keepalive_timeout 75s;\n"
    )
    headers = _PROXY_HEADERS + ("\n" + _WEBSOCKET_HEADERS if websocket else "")
    # Without the websocket headers, Connection must still be cleared for upstream
    # keep-alive; the Upgrade header is hop-by-hop and so not forwarded at all.
    if not websocket:
        headers += '\n            proxy_set_header Connection "";'
    return f"""\
    server {{
        listen 127.0.0.1:{port};
{client_side}        location / {{
            proxy_pass http://prefect_api;
            proxy_http_version 1.1;
{headers}
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
        }}
    }}
"""


def nginx_config(layout: Layout, prefix: Path) -> str:
    """nginx round-robin over the replicas, with three listeners: websockets upgraded (the
    proxy clients use), websockets not upgraded, and idle connections cut."""
    user = f"user {layout.run_as};\n" if layout.run_as else ""
    upstreams = "\n".join(
        f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;"
        for port in layout.ports.replicas
    )
    servers = "".join(
        [
            _server_block(layout.ports.proxy, websocket=True, idle_cut=False),
            _server_block(layout.ports.proxy_no_websocket, websocket=False, idle_cut=False),
            _server_block(layout.ports.proxy_idle_cut, websocket=True, idle_cut=True),
        ]
    )
    return f"""\
# Written by tests/topology; nginx runs in the foreground, everything under {prefix}.
{user}daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;

events {{
    worker_connections 4096;
}}

http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    client_max_body_size 50m;

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        '' '';
    }}

    upstream prefect_api {{
{upstreams}
        keepalive 64;
        # Below uvicorn's 5 s: else nginx reuses a connection the replica is closing, the
        # request meets a reset, the replica is marked down, and a POST is not re-sent.
        keepalive_timeout 4s;
    }}

{servers}}}
"""

"""The topology's configuration, checked without starting anything."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.topology.config import (
    Layout,
    free_ports,
    nginx_config,
    ports_from,
    postgres_settings,
    prefect_env,
)
from tests.topology.drill import drill_table


def _server_block(config: str, port: int) -> str:
    start = config.index(f"listen 127.0.0.1:{port};")
    end = config.find("server {", start)
    return config[start : end if end >= 0 else len(config)]


def test_ports_are_consecutive_and_distinct() -> None:
    ports = ports_from(4450, replicas=3)
    every = [
        ports.postgres,
        ports.redis,
        ports.proxy,
        ports.proxy_no_websocket,
        ports.proxy_idle_cut,
        *ports.replicas,
    ]
    assert sorted(every) == list(range(4450, 4458))
    free = free_ports(2)
    assert len({free.postgres, free.redis, free.proxy, *free.replicas}) == 5


def test_layout_round_trips_through_json(layout: Layout) -> None:
    rooted = replace(layout, run_as="postgres")
    assert Layout.from_json(rooted.to_json()) == rooted
    assert layout.api_url == "http://127.0.0.1:4452/api"
    assert layout.replica_urls == ("http://127.0.0.1:4455/api", "http://127.0.0.1:4456/api")


def test_prefect_env_points_every_shared_part_at_postgres_and_redis(layout: Layout) -> None:
    env = prefect_env(layout, Path("/tmp/home"))
    assert env["PREFECT_API_DATABASE_CONNECTION_URL"] == (
        "postgresql+asyncpg://prefect@127.0.0.1:4450/prefect"
    )
    assert env["PREFECT_API_DATABASE_MIGRATE_ON_START"] == "false"
    for name in ("PREFECT_MESSAGING_BROKER", "PREFECT_MESSAGING_CACHE"):
        assert env[name] == "prefect_redis.messaging"
    assert env["PREFECT_SERVER_EVENTS_CAUSAL_ORDERING"] == "prefect_redis.ordering"
    assert env["PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE"] == "prefect_redis.lease_storage"
    assert env["PREFECT_REDIS_MESSAGING_PORT"] == "4451"
    assert env["PREFECT_SERVER_DOCKET_URL"] == "redis://127.0.0.1:4451/1"


def test_postgres_listens_on_loopback_only(layout: Layout) -> None:
    settings = postgres_settings(layout, Path("/tmp/topology/postgres"))
    assert "listen_addresses = '127.0.0.1'" in settings
    assert "port = 4450" in settings


def test_nginx_round_robins_over_every_replica(layout: Layout) -> None:
    config = nginx_config(layout, Path("/tmp/topology/nginx"))
    assert "server 127.0.0.1:4455 " in config
    assert "server 127.0.0.1:4456 " in config
    assert "daemon off;" in config
    assert "keepalive_timeout 4s;" in config  # idle upstream connections: below uvicorn's 5 s
    assert "user " not in config  # not root: no account to switch to
    assert "user postgres;" in nginx_config(replace(layout, run_as="postgres"), Path("/tmp/n"))


def test_nginx_variants_differ_only_where_they_should(layout: Layout) -> None:
    config = nginx_config(layout, Path("/tmp/topology/nginx"))
    upgrading = _server_block(config, 4452)
    refusing = _server_block(config, 4453)
    cutting = _server_block(config, 4454)
    for block in (upgrading, refusing, cutting):
        assert "proxy_http_version 1.1;" in block
    assert "proxy_set_header Upgrade $http_upgrade;" in upgrading
    assert "proxy_set_header Connection $connection_upgrade;" in upgrading
    assert "Upgrade" not in refusing
    assert 'proxy_set_header Connection "";' in refusing
    assert "keepalive_timeout 1s;" in cutting
    assert "proxy_set_header Upgrade $http_upgrade;" in cutting
    assert "keepalive_timeout 75s;" in upgrading


def test_drill_table_shows_losses_and_when_the_replica_died() -> None:
    row = {
        "client": "trio",
        "runs": 200,
        "concurrency": 32,
        "drill": "replica-kill",
        "failed_at_s": 6.1,
        "wall_s": 50.5,
        "lost": 0,
        "duplicates": 0,
        "read_back": {
            "task_runs_lost": 2,
            "task_runs_duplicated": 0,
            "log_lines_lost": 3,
            "log_lines_duplicated": 4,
        },
        "gave_up": 0,
        "status_totals": {"201": 2000, "500": 7, "502": 1},
        "status_503": 0,
        "retries": 1,
    }
    lines = drill_table([row, {**row, "client": "prefect", "failed_at_s": None}])
    assert lines[2] == (
        "| replica-kill | trio | 200 | 32 | 6.1 | 50.5 | 0 | 0 "
        "| 2 / 0 | 3 / 4 | 0 | 7 | 1 | 0 | 1 |"
    )
    assert lines[3].startswith("| replica-kill | prefect | 200 | 32 | - |")

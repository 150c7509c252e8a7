"""Start, break and tear down Prefect's scaled topology on loopback (issue 16).

PostgreSQL (a cluster of its own under the topology's folder, as an unprivileged user when
we are root), Redis, N `prefect server start --no-services` replicas sharing both, one
`prefect server services start`, and nginx round-robin in front. `start_topology()` is the
way in: it waits until every replica and every proxy answers ``/api/health`` and tears
everything down when its block ends, whether by return, error, Ctrl-C or SIGTERM.

Every process runs in its own process group with its pid in ``<root>/pids/`` and its
output in ``<root>/logs/``, so any process that loads the layout (`Topology.attach`) can
kill a replica or restart PostgreSQL or Redis, and teardown finds what was restarted.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import types
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from tests.topology.config import (
    DATABASE,
    DATABASE_USER,
    Layout,
    Ports,
    free_ports,
    nginx_config,
    postgres_settings,
    prefect_env,
)

__all__ = ["Topology", "TopologyError", "start_topology"]

#: Seconds a part may take to answer its health check after it was started.
STARTUP_TIMEOUT = 180.0
#: Seconds a process gets between SIGTERM and SIGKILL.
STOP_GRACE = 10.0


class TopologyError(RuntimeError):
    """A part of the topology did not start; the message names it and ends with its log."""


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


class Topology:
    """Handle on a running (or starting) topology: its layout and its processes."""

    def __init__(
        self, layout: Layout, *, log: Callable[[str], None] = print, owner: bool = True
    ) -> None:
        self.layout = layout
        self._log = log
        # The owner (the starter) keeps what it starts as children; another handle starts
        # parts detached, since they outlive it (the owner's teardown stops them).
        self._owner = owner
        # Processes this object started, to reap them (others are only signalled).
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    @classmethod
    def attach(cls, state_file: Path, *, log: Callable[[str], None] = print) -> Topology:
        """A handle on a topology another process started (from its topology.json)."""
        return cls(Layout.from_json(state_file.read_text()), log=log, owner=False)

    # --- where things are --------------------------------------------------------------

    @property
    def root(self) -> Path:
        return self.layout.root

    def log_path(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    def _pid_path(self, name: str) -> Path:
        return self.root / "pids" / f"{name}.pid"

    def pid(self, name: str) -> int | None:
        """The pid of part ``name`` ("postgres", "redis", "replica-0", ...) if it runs."""
        if name == "postgres":
            return self._postgres_pid()
        try:
            pid = int(self._pid_path(name).read_text())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    @property
    def _pg_data(self) -> Path:
        return self.root / "postgres" / "data"

    def _postgres_pid(self) -> int | None:
        try:
            pid = int((self._pg_data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _alive(pid) else None

    # --- processes ----------------------------------------------------------------------

    def _account(self) -> tuple[int | None, int | None, list[int] | None]:
        """(user, group, extra groups) that drop root to the unprivileged account, if any
        (None: unchanged, as `subprocess` reads them)."""
        if self.layout.run_as is None:
            return None, None, None
        entry = pwd.getpwnam(self.layout.run_as)
        return entry.pw_uid, entry.pw_gid, []

    def _chown(self, path: Path) -> None:
        if self.layout.run_as is not None:
            entry = pwd.getpwnam(self.layout.run_as)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _run(
        self,
        name: str,
        argv: list[str],
        *,
        env: Mapping[str, str] | None = None,
        unprivileged: bool = False,
        timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        """Run a command to its end, its output appended to ``logs/<name>.log``."""
        user, group, extra_groups = self._account() if unprivileged else (None, None, None)
        with self.log_path(name).open("ab") as out:
            try:
                done = subprocess.run(
                    argv,
                    env=dict(env) if env is not None else None,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    check=False,
                    user=user,
                    group=group,
                    extra_groups=extra_groups,
                )
            except subprocess.TimeoutExpired as exc:
                raise TopologyError(f"{argv[0]} ran over {timeout:.0f} s") from exc
            except OSError as exc:
                raise TopologyError(f"{argv[0]} could not start: {exc}") from exc
        if done.returncode != 0:
            raise TopologyError(
                f"{' '.join(argv)} exited with {done.returncode}:\n{_tail(self.log_path(name))}"
            )

    def _spawn(self, name: str, argv: list[str], *, env: Mapping[str, str]) -> int:
        """Start a long-running part in a process group of its own; record its pid."""
        if not self._owner:
            return self._spawn_detached(name, argv, env=env)
        with self.log_path(name).open("ab") as out:
            try:
                process = subprocess.Popen(
                    argv,
                    env=dict(env),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # Ctrl-C reaches us only; we stop them in order
                )
            except OSError as exc:
                raise TopologyError(f"{name}: {argv[0]} could not start: {exc}") from exc
        self._children[name] = process
        self._pid_path(name).write_text(str(process.pid))
        return process.pid

    def _spawn_detached(self, name: str, argv: list[str], *, env: Mapping[str, str]) -> int:
        """`setsid -f`: a session of its own and not our child, so it may outlive us; the
        shell writes its pid before it becomes the part."""
        pid_path = self._pid_path(name)
        pid_path.unlink(missing_ok=True)
        record = 'echo $$ > "$0"; exec "$@"'
        self._run(name, ["setsid", "-f", "sh", "-c", record, str(pid_path), *argv], env=env)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                return int(pid_path.read_text())
            time.sleep(0.02)
        raise TopologyError(f"{name} did not start:\n{_tail(self.log_path(name))}")

    def _signal(self, name: str, sig: signal.Signals) -> int | None:
        pid = self.pid(name)
        if pid is None:
            return None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            # Only a group this part leads: a pid file outliving its process may name a
            # pid the kernel has given to someone else since.
            if os.getpgid(pid) == pid:
                os.killpg(pid, sig)
        return pid

    def _wait_gone(self, name: str, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        child = self._children.get(name)
        while time.monotonic() < deadline:
            if child is not None and child.pid == pid:
                child.poll()  # reap our own child, or it stays a zombie
            if not _alive(pid):
                return True
            time.sleep(0.05)
        return False

    def stop(self, name: str, *, kill: bool = False) -> None:
        """Stop part ``name``'s whole process group: SIGTERM and then SIGKILL after
        `STOP_GRACE`, or SIGKILL at once with ``kill``."""
        pid = self._signal(name, signal.SIGKILL if kill else signal.SIGTERM)
        if pid is None:
            return
        if not self._wait_gone(name, pid, 5.0 if kill else STOP_GRACE):
            self._signal(name, signal.SIGKILL)
            self._wait_gone(name, pid, 5.0)
        self._children.pop(name, None)

    def _wait_healthy(self, name: str, url: str, timeout: float = STARTUP_TIMEOUT) -> None:
        started = time.monotonic()
        while not _healthy(url):
            if name != "proxy" and self.pid(name) is None:
                raise TopologyError(f"{name} exited while starting:\n{_tail(self.log_path(name))}")
            if time.monotonic() - started > timeout:
                raise TopologyError(
                    f"{name}: no answer at {url}/health after {timeout:.0f} s:\n"
                    f"{_tail(self.log_path(name))}"
                )
            time.sleep(0.25)

    # --- PostgreSQL ---------------------------------------------------------------------

    def _pg(self, tool: str) -> str:
        return str(self.layout.pg_bin / tool)

    def init_postgres(self) -> None:
        """A new cluster (initdb, trust auth), started, with the topology's database."""
        folder = self.root / "postgres"
        folder.mkdir(mode=0o700)
        self._chown(folder)
        self._run(
            "postgres",
            [
                self._pg("initdb"),
                *("-D", str(self._pg_data), "-U", DATABASE_USER, "--auth=trust"),
                *("-E", "UTF8", "--no-sync", "--no-instructions"),
            ],
            unprivileged=True,
        )
        with (self._pg_data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(postgres_settings(self.layout, folder))
        self.start_postgres()
        self._run(
            "postgres",
            [
                self._pg("createdb"),
                *("-h", "127.0.0.1", "-p", str(self.layout.ports.postgres)),
                *("-U", DATABASE_USER, DATABASE),
            ],
        )

    def start_postgres(self) -> None:
        self._run(
            "postgres",
            [
                self._pg("pg_ctl"),
                *("-D", str(self._pg_data), "-l", str(self.root / "postgres" / "server.log")),
                *("-w", "-t", "60", "start"),
            ],
            unprivileged=True,
        )

    def stop_postgres(self) -> None:
        """pg_ctl stop -m fast (clients are disconnected); SIGKILL if that fails."""
        if self._postgres_pid() is None:
            return
        try:
            self._run(
                "postgres",
                [
                    self._pg("pg_ctl"),
                    "-D",
                    str(self._pg_data),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    "30",
                    "stop",
                ],
                unprivileged=True,
                timeout=40,
            )
        except TopologyError as exc:
            self._log(f"pg_ctl stop failed, killing the postmaster: {exc}")
            pid = self._postgres_pid()
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def restart_postgres(self, down_for: float = 0.0) -> None:
        """Stop PostgreSQL, keep it down ``down_for`` seconds, start it again."""
        self.stop_postgres()
        time.sleep(down_for)
        self.start_postgres()

    # --- Redis --------------------------------------------------------------------------

    def start_redis(self) -> None:
        """Redis on 127.0.0.1 without persistence (as a cache-only deployment runs it)."""
        folder = self.root / "redis"
        folder.mkdir(exist_ok=True)
        self._spawn(
            "redis",
            [
                self.layout.redis_server,
                *("--port", str(self.layout.ports.redis), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(folder)),
                *("--daemonize", "no", "--protected-mode", "yes"),
            ],
            env={"PATH": os.environ.get("PATH", "")},
        )
        deadline = time.monotonic() + 30
        while not self._redis_answers():
            if self.pid("redis") is None or time.monotonic() > deadline:
                raise TopologyError(f"redis did not start:\n{_tail(self.log_path('redis'))}")
            time.sleep(0.05)

    def _redis_answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.layout.ports.redis), 1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def restart_redis(self, down_for: float = 0.0) -> None:
        """Stop Redis (SIGTERM), keep it down ``down_for`` seconds, start it again: its
        streams and caches are empty afterwards, as after a real restart without
        persistence."""
        self.stop("redis")
        time.sleep(down_for)
        self.start_redis()

    # --- Prefect ------------------------------------------------------------------------

    def _prefect_env(self, name: str) -> dict[str, str]:
        home = self.root / name / "home"
        home.mkdir(parents=True, exist_ok=True)
        base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        return {**base, **prefect_env(self.layout, home)}

    def migrate(self) -> None:
        """Create Prefect's tables once, before any replica starts."""
        self._run(
            "migrate",
            [str(self.layout.prefect), "server", "database", "upgrade", "-y"],
            env=self._prefect_env("migrate"),
        )

    def start_replica(self, index: int, *, wait: bool = True) -> None:
        name = f"replica-{index}"
        port = self.layout.ports.replicas[index]
        self._spawn(
            name,
            [
                str(self.layout.prefect),
                *("server", "start", "--host", "127.0.0.1", "--port", str(port)),
                "--no-services",
            ],
            env={
                **self._prefect_env(name),
                # Only the first replica registers Prefect's block types at startup: two
                # inserting the same new rows at once fail on a unique constraint.
                "PREFECT_SERVER_REGISTER_BLOCKS_ON_START": "true" if index == 0 else "false",
            },
        )
        if wait:
            self._wait_healthy(name, self.layout.replica_urls[index])

    def kill_replica(self, index: int) -> None:
        """SIGKILL replica ``index``'s process group: in-flight requests get no answer."""
        self.stop(f"replica-{index}", kill=True)

    def restart_replica(self, index: int) -> None:
        self.stop(f"replica-{index}", kill=True)
        self.start_replica(index)

    def start_services(self) -> None:
        """`prefect server services start`: the background services, in one process."""
        self._spawn(
            "services",
            [str(self.layout.prefect), "server", "services", "start"],
            env=self._prefect_env("services"),
        )

    # --- nginx --------------------------------------------------------------------------

    def start_proxy(self) -> None:
        prefix = self.root / "nginx"
        prefix.mkdir(exist_ok=True)
        for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (prefix / temp).mkdir(exist_ok=True)
            self._chown(prefix / temp)
        conf = prefix / "nginx.conf"
        conf.write_text(nginx_config(self.layout, prefix), encoding="utf-8")
        self._spawn(
            "proxy",
            [
                self.layout.nginx,
                "-p",
                str(prefix),
                "-c",
                str(conf),
                "-e",
                str(prefix / "error.log"),
            ],
            env={"PATH": os.environ.get("PATH", "")},
        )
        for url in (
            self.layout.api_url,
            self.layout.api_url_no_websocket,
            self.layout.api_url_idle_cut,
        ):
            self._wait_healthy("proxy", url, timeout=60)

    # --- the whole ----------------------------------------------------------------------

    def start(self) -> None:
        """Start every part in dependency order and wait until each answers."""
        started = time.monotonic()
        for folder in ("logs", "pids"):
            (self.root / folder).mkdir(exist_ok=True)
        self.layout.state_file.write_text(self.layout.to_json(), encoding="utf-8")
        self._log(f"topology: starting under {self.root}")
        self.init_postgres()
        self.start_redis()
        self.migrate()
        self._log(f"topology: postgres and redis up, tables created ({_since(started)})")
        for index in range(len(self.layout.ports.replicas)):
            self.start_replica(index, wait=False)
        self.start_services()
        for index, url in enumerate(self.layout.replica_urls):
            self._wait_healthy(f"replica-{index}", url)
        self.start_proxy()
        if self.pid("services") is None:
            raise TopologyError(f"services exited:\n{_tail(self.log_path('services'))}")
        self._log(f"topology: ready at {self.layout.api_url} ({_since(started)})")

    def teardown(self) -> None:
        """Stop everything (proxy, API, services, Redis, PostgreSQL); safe to repeat."""
        names = ["proxy", *(f"replica-{i}" for i in range(len(self.layout.ports.replicas)))]
        for name in [*names, "services", "redis"]:
            try:
                self.stop(name)
            except OSError as exc:  # keep going: the rest must stop too
                self._log(f"topology: stopping {name}: {exc}")
        self.stop_postgres()


def _since(started: float) -> str:
    return f"{time.monotonic() - started:.1f} s"


def _unprivileged_account() -> str | None:
    """The account PostgreSQL runs as: none unless we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise TopologyError("running as root, and neither a 'postgres' nor a 'nobody' account exists")


def _find_pg_bin() -> Path:
    initdb = shutil.which("initdb")
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    if initdb:
        candidates.insert(0, Path(initdb).resolve().parent)
    for folder in candidates:
        if all((folder / tool).exists() for tool in ("initdb", "pg_ctl", "createdb")):
            return folder
    raise TopologyError("PostgreSQL's initdb, pg_ctl and createdb were not found (apt: postgresql)")


def _which(program: str, package: str) -> str:
    found = shutil.which(program) or next(
        (str(p) for p in (Path("/usr/sbin") / program, Path("/usr/bin") / program) if p.exists()),
        None,
    )
    if found is None:
        raise TopologyError(f"{program} was not found (apt: {package})")
    return found


class _Interrupted(BaseException):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C so teardown runs."""


_Handler = Callable[[int, "types.FrameType | None"], None]


@contextlib.contextmanager
def _signals(sigs: tuple[signal.Signals, ...], handler: _Handler) -> Iterator[None]:
    """``handler`` for ``sigs`` for the block's length (only the main thread may set
    handlers: elsewhere the block runs with the process's own)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in sigs}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _unwind(signum: int, frame: types.FrameType | None) -> None:
    """SIGTERM/SIGHUP raise in the main thread, as SIGINT does, so teardown runs."""
    raise _Interrupted(signal.Signals(signum).name)


def _deferring(log: Callable[[str], None]) -> _Handler:
    """Ctrl-C (and SIGTERM) during teardown only say so: a half-done teardown leaks
    PostgreSQL clusters and servers."""

    def later(signum: int, frame: types.FrameType | None) -> None:
        log("topology: tearing down, please wait")

    return later


@contextlib.contextmanager
def start_topology(
    prefect: Path,
    *,
    ports: Ports | None = None,
    replicas: int = 2,
    keep: bool = False,
    log: Callable[[str], None] = print,
) -> Iterator[Topology]:
    """The whole topology, running and healthy, for the block's length.

    Args:
        prefect: The `prefect` executable of a virtualenv with prefect and prefect-redis.
        ports: Where each part listens (`tests.topology.config.ports_from`); free ports
            when None.
        replicas: How many API replicas.
        keep: Leave the folder (logs, configs) in place after teardown, for a look.
        log: Where progress lines go.
    """
    root = Path(tempfile.mkdtemp(prefix="prefect-topology-"))
    root.chmod(0o755)  # the unprivileged account must reach its folders inside
    layout = Layout(
        root=root,
        ports=ports or free_ports(replicas),
        prefect=prefect,
        pg_bin=_find_pg_bin(),
        redis_server=_which("redis-server", "redis-server"),
        nginx=_which("nginx", "nginx"),
        run_as=_unprivileged_account(),
    )
    topology = Topology(layout, log=log)
    try:
        with _signals((signal.SIGTERM, signal.SIGHUP), _unwind):
            topology.start()
            yield topology
    except _Interrupted as exc:
        log(f"topology: {exc} received")
        raise SystemExit(128 + signal.Signals[str(exc)].value) from None
    finally:
        with _signals((signal.SIGINT, signal.SIGTERM, signal.SIGHUP), _deferring(log)):
            topology.teardown()
            if keep:
                log(f"topology: kept {root}")
            else:
                shutil.rmtree(root, ignore_errors=True)
            log("topology: stopped")

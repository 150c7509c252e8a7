"""Storage: one SQLite connection, used by one worker thread at a time.

Why this shape:

- **The event loop never touches SQLite.** Every statement runs in a worker thread
  through ``anyio.to_thread.run_sync`` with a ``CapacityLimiter(1)``, so a slow disk, a
  big scan or another process holding the file's lock never blocks the loop; the loop
  only schedules the call and receives the result.
- **One connection, one writer.** The limiter (plus a thread lock, in case the app is
  ever driven from two event loops) serialises the transactions of this process, so our
  own writers never meet "database is locked". ``busy_timeout`` covers other processes
  sharing the file, in the worker thread.
- **A request is one transaction.** `Database.write` runs a function inside
  ``BEGIN IMMEDIATE`` ... ``COMMIT`` and rolls back if it raises (an `ApiError` included),
  so a request's writes land fully or not at all. Reads run in a plain transaction, so
  they see one consistent snapshot.
- **Schema in the lifespan.** `Database.open` (called at app startup) creates or
  migrates the schema using ``PRAGMA user_version``; `Database.close` (at shutdown)
  closes the connection. Opens are counted: one app may run several lifespans at once
  (say, one per event loop, when a sync client's loop and an async one share it); the
  connection closes when the last one ends. A ``":memory:"`` database lives as long as
  at least one lifespan is running.
- **Any event loop.** The limiter belongs to an event loop, so each loop gets its own
  (an anyio ``RunVar``); the thread lock still lets one transaction run at a time.

File databases use WAL journaling with ``synchronous=NORMAL``: commits are atomic and
survive a crash of the process; the last commits may be lost on power failure, which is
the usual trade for a local development store.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar

from prefect_trio_client.server._tables import MIGRATIONS, Table
from prefect_trio_client.server._time import Clock, iso

__all__ = ["Database", "DatabaseNotOpen", "Doc", "SchemaTooNew", "Tx", "Where", "dumps", "loads"]

T = TypeVar("T")
Doc = dict[str, Any]
"""An object as the API returns it: plain JSON values only."""

Where = str | None | Collection[str]
"""A key column's required value: a value, NULL (None), or any of several values."""

PAGE_CACHE_KIB = 32 * 1024
"""SQLite's page cache for a file database (its default is 2 MiB). A listing at 100k runs
reads a page of index entries for the count and 200 scattered documents for the page: with
2 MiB they were read from the file again by every request; 32 MiB keeps them, and the
cache grows only as pages are read (issue 12)."""


class DatabaseNotOpen(RuntimeError):
    """A request arrived before the app's lifespan opened the database, or after it closed."""


class SchemaTooNew(RuntimeError):
    """The file was written by a newer version of this server; it is left untouched."""


def dumps(value: Any) -> str:
    """Compact JSON, as stored and as sent."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class Tx:
    """One transaction's view of the store: JSON documents by table.

    Every method runs in the database's worker thread. ``now`` is read once when the
    transaction starts, so every timestamp a request writes is the same instant, and
    transactions (which never overlap) get non-decreasing times.
    """

    def __init__(self, connection: sqlite3.Connection, now: datetime) -> None:
        self._connection = connection
        self.now = now
        self.now_iso = iso(now)
        self.stored_events: list[Doc] = []
        """Events this transaction stored, for live subscribers once it commits."""

    # ------------------------------------------------------------------ reading

    def get(self, table: Table, id: str) -> Doc | None:
        """The document with this id, or None."""
        row = self._connection.execute(
            f"SELECT doc FROM {table.name} WHERE id = ?", (id,)
        ).fetchone()
        return None if row is None else loads(row[0])

    def find(self, table: Table, **where: Where) -> list[Doc]:
        """Documents whose key columns match `where`, oldest first."""
        clause, params = _where(table, where)
        rows = self._connection.execute(
            f"SELECT doc FROM {table.name}{clause} ORDER BY rowid", params
        )
        return [loads(doc) for (doc,) in rows]

    def first(self, table: Table, **where: Where) -> Doc | None:
        """The oldest document whose key columns match `where`, or None."""
        clause, params = _where(table, where)
        row = self._connection.execute(
            f"SELECT doc FROM {table.name}{clause} ORDER BY rowid LIMIT 1", params
        ).fetchone()
        return None if row is None else loads(row[0])

    def find_between(
        self, table: Table, column: str, low: str, high: str, *, descending: bool, **where: Where
    ) -> list[Doc]:
        """Documents whose key `column` lies in ``[low, high]`` (text order) and whose key
        columns match `where`, ordered by `column`, then id, ascending or descending."""
        if column not in table.keys:
            raise ValueError(f"{table.name}.{column} is not a key column")
        clause, params = _where(table, where)
        clause += (" AND " if clause else " WHERE ") + f"{column} BETWEEN ? AND ?"
        direction = "DESC" if descending else "ASC"
        rows = self._connection.execute(
            f"SELECT doc FROM {table.name}{clause} ORDER BY {column} {direction}, id {direction}",
            (*params, low, high),
        )
        return [loads(doc) for (doc,) in rows]

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of a read-only query composed elsewhere (the filter compiler, ``_sql``)."""
        return self._connection.execute(sql, params).fetchall()

    def count(self, table: Table, **where: Where) -> int:
        clause, params = _where(table, where)
        (total,) = self._connection.execute(
            f"SELECT count(*) FROM {table.name}{clause}", params
        ).fetchone()
        return int(total)

    # ------------------------------------------------------------------ writing

    def insert(self, table: Table, doc: Doc, **keys: str | None) -> None:
        """Store a new document; key columns come from the document unless given.

        Raises:
            sqlite3.IntegrityError: A unique key is taken.
        """
        values = {key: keys[key] if key in keys else doc.get(key) for key in table.keys}
        columns = ", ".join(["id", *values, "doc"])
        marks = ", ".join("?" * (len(values) + 2))
        self._connection.execute(
            f"INSERT INTO {table.name} ({columns}) VALUES ({marks})",
            (doc["id"], *values.values(), dumps(doc)),
        )

    def update(self, table: Table, doc: Doc) -> None:
        """Replace the stored document of the same id (key columns follow the document)."""
        sets = "".join(f", {key} = ?" for key in table.keys)
        params = [doc.get(key) for key in table.keys]
        self._connection.execute(
            f"UPDATE {table.name} SET doc = ?{sets} WHERE id = ?",
            (dumps(doc), *params, doc["id"]),
        )

    def delete(self, table: Table, id: str) -> bool:
        """Delete one document; False when there was none."""
        cursor = self._connection.execute(f"DELETE FROM {table.name} WHERE id = ?", (id,))
        return cursor.rowcount > 0

    def delete_where(self, table: Table, **where: Where) -> int:
        """Delete the documents whose key columns match `where`; return how many."""
        clause, params = _where(table, where)
        cursor = self._connection.execute(f"DELETE FROM {table.name}{clause}", params)
        return cursor.rowcount


def loads(text: str) -> Doc:
    """A stored document."""
    doc: Doc = json.loads(text)
    return doc


def _where(table: Table, where: dict[str, Where]) -> tuple[str, list[str]]:
    parts: list[str] = []
    params: list[str] = []
    for column, value in where.items():
        if column != "id" and column not in table.keys:
            raise ValueError(f"{table.name}.{column} is not a key column")
        if value is None:
            parts.append(f"{column} IS NULL")
        elif isinstance(value, str):
            parts.append(f"{column} = ?")
            params.append(value)
        else:
            # One JSON parameter, however many values: no SQLite variable limit.
            parts.append(f"{column} IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(list(value)))
    return (" WHERE " + " AND ".join(parts) if parts else ""), params


class Database:
    """The API's store (see the module docstring). Open it before use, close it after.

    Args:
        location: A file path, or ``":memory:"`` for a private in-memory database.
        clock: Where transactions read the current time.
        busy_timeout: Seconds a write waits for another process's lock on the file.
    """

    def __init__(
        self, location: str | os.PathLike[str], *, clock: Clock, busy_timeout: float = 5.0
    ) -> None:
        self.location = location if isinstance(location, str) else os.fspath(location)
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._connection: sqlite3.Connection | None = None
        self._users = 0
        self._thread_lock = threading.Lock()
        self._limiter: RunVar[anyio.CapacityLimiter] = RunVar(f"sqlite-worker-{id(self)}")

    @property
    def in_memory(self) -> bool:
        return self.location in ("", ":memory:") or "mode=memory" in self.location

    async def open(self) -> None:
        """Connect and bring the schema up to date, in the worker thread.

        Raises:
            SchemaTooNew: The file's schema is newer than this server knows.
            sqlite3.Error: The file cannot be opened or migrated.
        """
        await anyio.to_thread.run_sync(self._connect, limiter=self._worker())

    async def close(self) -> None:
        """End one `open`; the last one closes the connection (later requests then get
        `DatabaseNotOpen`)."""
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._disconnect, limiter=self._worker())

    def _worker(self) -> anyio.CapacityLimiter:
        """This event loop's one-thread limiter for the database."""
        try:
            return self._limiter.get()
        except LookupError:
            limiter = anyio.CapacityLimiter(1)
            self._limiter.set(limiter)
            return limiter

    async def read(self, work: Callable[[Tx], T]) -> T:
        """Run `work` in a read transaction in the worker thread; return its result."""
        return await self._run(work, write=False)

    async def write(self, work: Callable[[Tx], T]) -> T:
        """Run `work` in a write transaction: committed if it returns, rolled back if not."""
        return await self._run(work, write=True)

    async def _run(self, work: Callable[[Tx], T], *, write: bool) -> T:
        return await anyio.to_thread.run_sync(self._transact, work, write, limiter=self._worker())

    # ------------------------------------------------------------------ worker thread

    def _connect(self) -> None:
        with self._thread_lock:
            if self._connection is not None:
                self._users += 1
                return
            uri = self.location.startswith("file:")
            if not self.in_memory and not uri:
                Path(self.location).expanduser().parent.mkdir(parents=True, exist_ok=True)
            target = (
                self.location if uri or self.in_memory else str(Path(self.location).expanduser())
            )
            connection = sqlite3.connect(
                target or ":memory:",
                timeout=self._busy_timeout,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # the limiter and the lock serialise all use
                uri=uri,
            )
            try:
                connection.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
                if not self.in_memory:
                    connection.execute("PRAGMA journal_mode = WAL")
                    connection.execute("PRAGMA synchronous = NORMAL")
                    connection.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
                _migrate(connection)
            except BaseException:
                connection.close()
                raise
            self._connection = connection
            self._users = 1

    def _disconnect(self) -> None:
        with self._thread_lock:
            self._users = max(self._users - 1, 0)
            if self._users == 0 and self._connection is not None:
                connection, self._connection = self._connection, None
                connection.close()

    def _transact(self, work: Callable[[Tx], T], write: bool) -> T:
        with self._thread_lock:
            connection = self._connection
            if connection is None:
                raise DatabaseNotOpen("the API's database is not open (start the app's lifespan)")
            connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                result = work(Tx(connection, self._clock()))
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            return result


def _schema_version(connection: sqlite3.Connection) -> int:
    """The schema version; raises `SchemaTooNew` for one this server does not know."""
    (version,) = connection.execute("PRAGMA user_version").fetchone()
    if version > len(MIGRATIONS):
        raise SchemaTooNew(
            f"the database schema is version {version}; this server knows up to"
            f" {len(MIGRATIONS)}. Use a newer prefect-trio-client or another file."
        )
    return int(version)


def _migrate(connection: sqlite3.Connection) -> None:
    """Apply the pending migrations, one transaction each.

    The version is read inside ``BEGIN IMMEDIATE``, so two processes opening a new file
    at once cannot both apply the same migration.
    """
    while True:
        connection.execute("BEGIN IMMEDIATE")
        try:
            version = _schema_version(connection)
            if version == len(MIGRATIONS):
                connection.execute("COMMIT")
                return
            for statement in MIGRATIONS[version]:
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {version + 1}")
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

"""The connection every table group shares, the size limits, and JSON encoding."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from node.store.errors import OversizedError
from node.store.schema import migrate
from protocol.encoding import canonical_json
from protocol.params import MAX_RECORD_BYTES

MAX_TRACE_BYTES = MAX_RECORD_BYTES
MAX_VOTE_BYTES = 1_048_576
MAX_DETAILS_BYTES = 16_384
DEFAULT_PAGE_LIMIT = 100
MAX_PAGE_LIMIT = 1_000
DEFAULT_BUSY_TIMEOUT_MS = 5_000
#: A reviewer's rationale is a short note kept off-chain, not an essay.
MAX_RATIONALE_CHARS = 4_000


def _encode(value: Any, what: str, limit: int) -> str:
    raw = canonical_json(value)
    if len(raw) > limit:
        raise OversizedError(what, len(raw), limit)
    return raw.decode("utf-8")


class StoreBase:
    """One SQLite connection, every call under one lock; the table groups build on it."""

    def __init__(self, path: Path | str, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> None:
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            str(path), isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000
        )
        try:
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            # synchronous is per connection: every table holds accepted traces or votes, so all
            # commits fsync the WAL.
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            migrate(self._conn)
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction, committed (durably) before the block's caller returns."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

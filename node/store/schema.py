"""The versioned schema: one migration a version, applied in one transaction."""

from __future__ import annotations

import sqlite3

from node.store.errors import SchemaTooNewError

SCHEMA_VERSION = 3


# --- Schema ------------------------------------------------------------------------------------

_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # Version 1.
    (
        """CREATE TABLE traces (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            trace_id TEXT NOT NULL UNIQUE,
            body TEXT NOT NULL,
            state TEXT NOT NULL,
            received_at_ms INTEGER NOT NULL,
            updated_at_ms INTEGER NOT NULL,
            submit_tx_hash TEXT,
            seed TEXT,
            snapshot_block INTEGER,
            verdict INTEGER,
            first_error INTEGER,
            finalize_tx_hash TEXT,
            failure_reason TEXT
        )""",
        "CREATE INDEX traces_by_state ON traces (state, seq)",
        """CREATE TABLE trace_history (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            trace_id TEXT NOT NULL REFERENCES traces (trace_id),
            state TEXT NOT NULL,
            details TEXT NOT NULL,
            at_ms INTEGER NOT NULL
        )""",
        "CREATE INDEX history_by_trace ON trace_history (trace_id, id)",
        # Votes need no trace row: auditors store votes for traces submitted on other nodes.
        """CREATE TABLE commits (
            trace_id TEXT NOT NULL,
            round INTEGER NOT NULL,
            auditor TEXT NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (trace_id, round, auditor)
        )""",
        """CREATE TABLE reveals (
            trace_id TEXT NOT NULL,
            round INTEGER NOT NULL,
            auditor TEXT NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (trace_id, round, auditor)
        )""",
        """CREATE TABLE equivocations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL CHECK (kind IN ('commit', 'reveal')),
            trace_id TEXT NOT NULL,
            round INTEGER NOT NULL,
            auditor TEXT NOT NULL,
            first_body TEXT NOT NULL,
            second_body TEXT NOT NULL,
            UNIQUE (kind, trace_id, round, auditor, second_body)
        )""",
        "CREATE INDEX equivocations_by_trace ON equivocations (trace_id, id)",
        """CREATE TABLE own_votes (
            trace_id TEXT NOT NULL,
            round INTEGER NOT NULL,
            votes TEXT NOT NULL,
            salt TEXT NOT NULL,
            PRIMARY KEY (trace_id, round)
        )""",
    ),
    # Version 2: the human review queue. `segment` holds the Segment model (the context pack an
    # auditor receives), never the trace; answer columns stay NULL until status is 'answered'.
    (
        """CREATE TABLE reviews (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            trace_id TEXT NOT NULL,
            round INTEGER NOT NULL,
            segment_index INTEGER NOT NULL,
            segment TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'answered', 'expired')),
            created_at_ms INTEGER NOT NULL,
            deadline_ms INTEGER NOT NULL,
            vote INTEGER,
            confidence_bps INTEGER CHECK (confidence_bps BETWEEN 0 AND 10000),
            rationale TEXT,
            answered_at_ms INTEGER,
            UNIQUE (trace_id, round, segment_index)
        )""",
        "CREATE INDEX reviews_by_status ON reviews (status, seq)",
    ),
    # Version 3: canary traces this node submitted, with their known answers, and the running
    # canary record of every auditor that revealed on them.
    (
        """CREATE TABLE canaries (
            trace_id TEXT PRIMARY KEY REFERENCES traces (trace_id),
            answers TEXT NOT NULL,
            planted_step INTEGER NOT NULL,
            scored INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE canary_scores (
            auditor TEXT PRIMARY KEY,
            passed INTEGER NOT NULL,
            failed INTEGER NOT NULL,
            abstained INTEGER NOT NULL
        )""",
    ),
)


def _read_version(conn: sqlite3.Connection) -> int:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return 0 if row is None else int(row[0])


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the schema up to `target` in one transaction and return the version found.

    Raises SchemaTooNewError, without writing, when the database is newer than `target`.
    `conn` must be in autocommit mode (`isolation_level=None`).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = _read_version(conn)
        if found > target:
            raise SchemaTooNewError(found, target)
        for statements in _MIGRATIONS[found:target]:
            for statement in statements:
                conn.execute(statement)
        conn.execute("DELETE FROM schema_version")
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (max(found, target),))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return found

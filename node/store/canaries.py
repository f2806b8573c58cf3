"""Canary traces this node submitted, with their known answers, and the auditors' records."""

from __future__ import annotations

import json
from collections.abc import Mapping

from node.store.records import CanaryRecord, TraceState
from node.store.traces import TraceTables
from protocol.canaries import CanaryScore
from protocol.models import Trace, Vote


class CanaryTables(TraceTables):
    # --- Canaries ------------------------------------------------------------------------------

    def put_canary(
        self, trace: Trace, answers: Mapping[int, Vote], planted_step: int, *, at_ms: int
    ) -> tuple[str, bool]:
        """Store a canary trace (state `received`, like any trace) and its known answers in one
        transaction; a trace already known returns its id and created=False, unchanged."""
        encoded = json.dumps({str(index): int(vote) for index, vote in answers.items()})
        with self._write() as conn:
            trace_id, created = self._insert_trace(conn, trace, at_ms)
            if created:
                conn.execute(
                    "INSERT INTO canaries (trace_id, answers, planted_step) VALUES (?, ?, ?)",
                    (trace_id, encoded, planted_step),
                )
        return trace_id, created

    def get_canary(self, trace_id: str) -> CanaryRecord | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT answers, planted_step, scored FROM canaries WHERE trace_id = ?",
                (trace_id,),
            ).fetchone()
        if row is None:
            return None
        answers = {int(index): Vote(vote) for index, vote in json.loads(row["answers"]).items()}
        return CanaryRecord(trace_id, answers, row["planted_step"], bool(row["scored"]))

    def unscored_canaries(self) -> list[str]:
        """Finalized canaries whose votes are not in the canary record yet."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT c.trace_id FROM canaries c JOIN traces t USING (trace_id) "
                "WHERE c.scored = 0 AND t.state = ?",
                (TraceState.FINALIZED,),
            ).fetchall()
        return [row["trace_id"] for row in rows]

    def record_canary_scores(self, trace_id: str, scores: Mapping[str, CanaryScore]) -> bool:
        """Add one canary's scores to the auditors' records, once: False if it was scored."""
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE canaries SET scored = 1 WHERE trace_id = ? AND scored = 0", (trace_id,)
            )
            if cursor.rowcount != 1:
                return False
            for auditor, score in scores.items():
                conn.execute(
                    "INSERT INTO canary_scores VALUES (?, ?, ?, ?) ON CONFLICT (auditor) DO "
                    "UPDATE SET passed = passed + excluded.passed, "
                    "failed = failed + excluded.failed, abstained = abstained + excluded.abstained",
                    (auditor, score.passed, score.failed, score.abstained),
                )
        return True

    def canary_scores(self) -> dict[str, CanaryScore]:
        with self._read() as conn:
            rows = conn.execute("SELECT * FROM canary_scores ORDER BY auditor").fetchall()
        return {
            row["auditor"]: CanaryScore(row["passed"], row["failed"], row["abstained"])
            for row in rows
        }

    def count_canaries(self) -> tuple[int, int]:
        """(canaries submitted, canaries scored)."""
        with self._read() as conn:
            row = conn.execute("SELECT COUNT(*) AS n, SUM(scored) AS s FROM canaries").fetchone()
        return row["n"], row["s"] or 0

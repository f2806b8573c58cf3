"""Finalizing a trace: the report built from a session's votes, sent to `Ledger.finalize`.

The coordinator finalizes its own traces; any node finalizes a trace that stalls (its
coordinator gone), from the votes it gathered. The contract re-checks everything, so the report
only has to be complete: every round-0 reveal of the basis, every complete round-1 reveal, and
every assigned auditor of a dispatched round that did not reveal listed as absent.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.chain import Receipt, Sender
from node.chain.errors import TransactionRevertedError
from node.chain.ledger import LedgerClient, OnChainVerdict
from node.pipeline.session import AuditSession
from protocol.models import Reveal
from protocol.rounds import RoundAbsence, compute_absences, is_reveal_complete


class IncompleteReportError(Exception):
    """The session does not hold every reveal a `finalize` of its trace must carry."""


@dataclass(frozen=True)
class Finalized:
    verdict: OnChainVerdict
    #: None when another node's `finalize` landed first.
    receipt: Receipt | None


def compute_report(
    session: AuditSession, *, without_unpublished_basis: bool = False
) -> tuple[list[Reveal], list[RoundAbsence]]:
    """Reveals and absences for `finalize` from what the session holds.

    Round 0 counts the basis when round 1 was opened (its committees depend on exactly those
    reveals), else every round-0 reveal held. Round-0 reveals are sealed to the submitter until
    round 1's commits close, so a bystander finalizing a stalled trace may lack a basis reveal:
    IncompleteReportError then, while the auditors make theirs public; with
    `without_unpublished_basis` the report instead leaves round 1 out, as if it had never opened
    (a basis member may never publish: the dead submitter's own auditor). Round 1 counts only
    if it was opened. Absences are listed only for rounds whose segments were seen going out,
    so an auditor that was never sent its segments (a coordinator that died before dispatching)
    is not reported absent.
    """
    held0 = session.round_state(0).reveals
    basis = session.basis
    if basis is not None and not all(auditor in held0 for auditor in basis):
        missing = sorted(set(basis) - held0.keys())
        if not without_unpublished_basis:
            raise IncompleteReportError(
                f"trace {session.trace_id[:10]}: {len(missing)} round-0 basis reveals are not "
                f"public yet (first {missing[0]})"
            )
        basis = None
    reveals = [held0[a] for a in basis] if basis is not None else list(held0.values())
    if basis is not None:
        reveals += [
            reveal
            for reveal in session.round_state(1).reveals.values()
            if is_reveal_complete(reveal, session.assignments)
        ]
    opened = session.dispatched if basis is not None else session.dispatched & {0}
    drawn = {key: committee for key, committee in session.assignments.items() if key[0] in opened}
    return reveals, compute_absences(drawn, reveals)


async def finalize_session(
    ledger: LedgerClient,
    sender: Sender,
    session: AuditSession,
    *,
    without_unpublished_basis: bool = False,
) -> Finalized:
    """Finalize on-chain unless it already is; returns the verdict read back from the Ledger.
    `without_unpublished_basis`: see `compute_report`."""
    trace_id = session.trace_id
    verdict = await ledger.verdict_of(trace_id)
    if verdict.is_final:
        return Finalized(verdict, None)
    reveals, absences = compute_report(session, without_unpublished_basis=without_unpublished_basis)
    layout = session.context.submission.layout
    try:
        receipt = await ledger.finalize(sender, trace_id, layout, reveals, absences)
    except TransactionRevertedError:
        verdict = await ledger.verdict_of(trace_id)
        if verdict.is_final:  # another node finalized between our read and our transaction
            return Finalized(verdict, None)
        raise
    return Finalized(await ledger.verdict_of(trace_id), receipt)

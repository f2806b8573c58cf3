"""Replay every committed test vector, and check the committed set is what the generator makes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from protocol.consensus import (
    compute_audit_outcome,
    compute_segment_verdict,
    compute_tallies,
    compute_trace_verdict,
)
from protocol.economics import compute_payouts, compute_vote_index
from protocol.eip712 import (
    compute_commit_digest,
    compute_domain_separator,
    compute_report_digest,
    compute_reveal_digest,
)
from protocol.encoding import canonical_json, to_hex
from protocol.hdag import build_hdag
from protocol.hdag_validation import validate_hdag
from protocol.ids import compute_trace_id
from protocol.merkle import compute_merkle_root, is_valid_merkle_proof
from protocol.models import Auditor, Commit, Hdag, Report, Reveal, SegmentVerdict, Trace
from protocol.params import DEVNET
from protocol.signing import recover_signer
from protocol.sortition import (
    compute_assignment_hash,
    compute_segment_tier,
    compute_sortition_seed,
    compute_tier_stakes,
    is_assigned,
)
from protocol.votes import compute_commitment, make_commit, make_reveal
from tests.vectors.generate import VECTORS_DIR, render_vectors

VECTOR_FILES = sorted(VECTORS_DIR.glob("*/*.json"))


def _load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def _trace(fields: dict[str, Any]) -> Trace:
    return Trace.model_validate_json(json.dumps(fields))


def replay_encoding(inputs: dict[str, Any], post: dict[str, Any]) -> None:
    trace = _trace(inputs["trace"])
    assert canonical_json(trace.canonical_fields()).decode() == post["canonical"]
    assert compute_trace_id(trace) == post["trace_id"]


def replay_hdag(inputs: dict[str, Any], post: dict[str, Any]) -> None:
    trace = _trace(inputs["trace"])
    expected = Hdag.model_validate_json(json.dumps(post["hdag"]))
    validate_hdag(expected, trace)
    assert build_hdag(trace) == expected


def replay_merkle(inputs: dict[str, Any], post: dict[str, Any]) -> None:
    ids = inputs["ids"]
    assert compute_merkle_root(ids) == post["root"]
    for index, proof in enumerate(post["proofs"]):
        assert is_valid_merkle_proof(post["root"], ids[index], index, len(ids), proof)


def replay_sortition(inputs: dict[str, Any], post: dict[str, Any]) -> None:
    seed = compute_sortition_seed(inputs["root"], inputs["block_hash"])
    assert seed == post["seed"]
    for case in post["cases"]:
        assert (
            to_hex(compute_assignment_hash(seed, case["segment"], case["auditor"])) == case["hash"]
        )
        args = (case["stake"], case["tier_stake"], case["k"])
        assert is_assigned(seed, case["segment"], case["auditor"], *args) is case["assigned"]


def replay_eip712(inputs: dict[str, Any], post: dict[str, Any]) -> None:
    domain = compute_domain_separator(inputs["chain_id"], inputs["ledger"])
    if "report" in inputs:
        report = Report.model_validate_json(json.dumps(inputs["report"]))
        assert compute_report_digest(report, domain) == post["report_digest"]
        return
    reveal = Reveal.model_validate_json(json.dumps(inputs["reveal"]))
    key, salt = inputs["private_key"], reveal.salt
    commitment = compute_commitment(reveal.votes, salt, reveal.auditor, reveal.trace_id, 0)
    assert commitment == post["commitment"]
    commit = make_commit(key, reveal.trace_id, reveal.round, reveal.votes, salt, domain)
    assert commit.signature == post["commit_signature"]
    assert compute_commit_digest(commit, domain) == post["commit_digest"]
    assert make_reveal(key, reveal.trace_id, reveal.round, reveal.votes, salt, domain) == reveal
    assert compute_reveal_digest(reveal, domain) == post["reveal_digest"]
    assert recover_signer(post["reveal_digest"], post["reveal_signature"]) == reveal.auditor
    assert isinstance(commit, Commit)


def replay_tally(inputs: dict[str, Any], post: dict[str, Any]) -> None:
    reveals = [Reveal.model_validate_json(json.dumps(r)) for r in inputs["reveals"]]
    tally = compute_tallies(0, {0: inputs["assignments"]["0"]}, reveals)[0]
    got = (tally.assigned_stake, tally.valid_stake, tally.invalid_stake, tally.abstain_stake)
    assert got == (post["assigned"], post["valid"], post["invalid"], post["abstain"])
    assert compute_segment_verdict(tally, DEVNET).name == post["verdict"]


def replay_verdict(inputs: dict[str, Any], post: dict[str, Any]) -> None:
    hdag = build_hdag(_trace(inputs["trace"]))
    verdicts = {int(i): SegmentVerdict[name] for i, name in inputs["verdicts"].items()}
    trace_verdict, first_error = compute_trace_verdict(hdag, verdicts)
    assert (trace_verdict.name, first_error) == (post["trace_verdict"], post["first_error"])


def replay_audit(inputs: dict[str, Any], post: dict[str, Any]) -> None:
    trace = _trace(inputs["trace"])
    hdag = build_hdag(trace)
    auditors = [Auditor.model_validate_json(json.dumps(a)) for a in inputs["auditors"]]
    reveals = [Reveal.model_validate_json(json.dumps(r)) for r in inputs["reveals"]]
    tier_stakes = compute_tier_stakes(auditors)
    tiers = [compute_segment_tier(node.level, tier_stakes) for node in hdag.nodes]
    seed = compute_sortition_seed(hdag.root, inputs["block_hash"])
    outcome = compute_audit_outcome(seed, tiers, inputs["k"], auditors, reveals, DEVNET, hdag)
    payouts = compute_payouts(
        inputs["fee"], outcome.assignments, compute_vote_index(reveals), outcome.verdicts, DEVNET
    )
    assert hdag.root == post["root"]
    assert [int(t) for t in tiers] == post["tiers"]
    assert {str(s): v.name for s, v in outcome.verdicts.items()} == post["verdicts"]
    assert sorted(outcome.escalations) == post["escalated"]
    assert (outcome.trace_verdict.name, outcome.first_error) == (
        post["trace_verdict"],
        post["first_error"],
    )
    assert (payouts.rewards, payouts.slashes, payouts.dust) == (
        post["rewards"],
        post["slashes"],
        post["dust"],
    )


REPLAYERS = {
    "encoding": replay_encoding,
    "hdag": replay_hdag,
    "merkle": replay_merkle,
    "sortition": replay_sortition,
    "eip712": replay_eip712,
    "tally": replay_tally,
    "verdict": replay_verdict,
    "audit": replay_audit,
}


@pytest.mark.parametrize("path", VECTOR_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_vector_replays(path: Path) -> None:
    document = _load(path)
    REPLAYERS[document["kind"]](document["input"], document["post"])


def test_every_kind_has_vectors() -> None:
    assert {path.parent.name for path in VECTOR_FILES} == set(REPLAYERS)


def test_committed_vectors_equal_a_fresh_generation() -> None:
    committed = {
        str(path.relative_to(VECTORS_DIR)): path.read_text(encoding="utf-8")
        for path in VECTOR_FILES
    }
    fresh = render_vectors()
    assert sorted(committed) == sorted(fresh), "run `make vectors` and commit the result"
    stale = [name for name in fresh if committed[name] != fresh[name]]
    assert not stale, f"stale vectors (run `make vectors`): {stale}"


def test_vectors_cover_every_verdict() -> None:
    audits = [_load(p)["post"] for p in VECTOR_FILES if p.parent.name == "audit"]
    tallies = [_load(p)["post"] for p in VECTOR_FILES if p.parent.name == "tally"]
    assert {a["trace_verdict"] for a in audits} >= {"SOUND", "FLAWED"}
    assert any(a["escalated"] for a in audits)
    verdicts = [_load(p)["post"] for p in VECTOR_FILES if p.parent.name == "verdict"]
    assert {t["verdict"] for t in tallies} == {"VALID", "INVALID", "UNRESOLVED"}
    assert {v["trace_verdict"] for v in verdicts} == {"SOUND", "FLAWED", "INCONCLUSIVE"}

"""Generate the protocol's test vectors: `python tests/vectors/generate.py [OUT_DIR]`.

Each vector is one JSON file `<kind>/<name>.json` holding `{"kind", "name", "input", "post"}`:
the input of a protocol function and what it must produce. The unit tests replay every file,
and the same files are meant to be replayed against the contracts and the devnet. Everything is
deterministic (keys, salts, block hashes are fixed), so regenerating gives identical files.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from protocol.consensus import (  # noqa: E402
    compute_audit_outcome,
    compute_segment_verdict,
    compute_tallies,
    compute_trace_verdict,
)
from protocol.economics import compute_payouts, compute_vote_index  # noqa: E402
from protocol.eip712 import (  # noqa: E402
    compute_commit_digest,
    compute_domain_separator,
    compute_report_digest,
    compute_reveal_digest,
)
from protocol.encoding import canonical_json, keccak_hex, to_hex  # noqa: E402
from protocol.hdag import build_hdag  # noqa: E402
from protocol.ids import compute_trace_id  # noqa: E402
from protocol.merkle import compute_merkle_proof, compute_merkle_root  # noqa: E402
from protocol.models import (  # noqa: E402
    Auditor,
    Level,
    Report,
    Reveal,
    SegmentVerdict,
    Tier,
    Trace,
    Vote,
    VoteEntry,
)
from protocol.params import DEVNET  # noqa: E402
from protocol.signing import compute_address  # noqa: E402
from protocol.sortition import (  # noqa: E402
    compute_assignment_hash,
    compute_segment_tier,
    compute_sortition_seed,
    compute_tier_stakes,
    is_assigned,
)
from protocol.votes import compute_commitment, make_commit, make_reveal  # noqa: E402

VECTORS_DIR = Path(__file__).resolve().parent
EXAMPLES = REPO / "examples" / "traces"
CHAIN_ID = 31337
LEDGER = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
DOMAIN = compute_domain_separator(CHAIN_ID, LEDGER)
BLOCK_HASH = keccak_hex(b"vector block hash")
ETHER = 10**18

#: Small records in the external-data format, kept here so vectors never depend on ../shared.
RECORDS: list[dict[str, Any]] = [
    {
        "id": "vector-arith-1",
        "source": "vectors",
        "problem": "Sam has 3 bags of 14 marbles and gives away 9. How many are left?",
        "steps": [
            "First, the marbles in the bags: 3 * 14 = 42.",
            "Then subtract the ones given away: 42 - 9 = 33.",
            "So Sam has 33 marbles left.",
        ],
        "label": -1,
    },
    {
        "id": "vector-latex-1",
        "source": "vectors",
        "problem": "Compute $\\frac{3}{4} \\times 8$ and compare it with 5.",
        "steps": [
            "We have $\\frac{3}{4} \\times 8 = 6$.",
            "Since $6 > 5$, the product is larger.",
            "Alternatively, $8 \\cdot 0.75 = 6$ as well, which confirms $6 \\geq 5$.",
        ],
        "label": -1,
    },
    {
        "id": "vector-sorting-1",
        "source": "vectors",
        "problem": "Sort alphabetically: pear apple fig",
        "steps": [
            'The first letters: "pear": "p" (16). "apple": "a" (1). "fig": "f" (6).',
            'We now have: (1) "apple" < (6) "fig" < (16) "pear".',
            "The answer is apple fig pear",
        ],
        "label": -1,
    },
    {
        "id": "vector-dyck-1",
        "source": "vectors",
        "problem": "Complete the rest of the sequence, making sure that the parentheses are "
        "closed properly. Input: ( < >",
        "steps": [
            "We should process each input one by one and keep track of the stack configuration.",
            "stack: empty",
            "( ; stack: (",
            "< ; stack: ( <",
            "> ; stack: (",
            'Now, we have reached the end. The final stack is "(".',
            "So the answer is )",
        ],
        "label": -1,
    },
    {
        "id": "vector-free-text",
        "source": "vectors",
        "problem": "Is 91 prime?",
        "reasoning": "Let's test small divisors. 91 / 7 = 13, so 7 divides 91.\n\n"
        "Therefore 91 = 7 * 13 is not prime. Wait, check 13 * 7 = 91 again: yes.",
    },
]


def _key(index: int) -> str:
    return "0x" + f"{index:064x}"


def _traces() -> Iterator[tuple[str, Trace]]:
    for path in sorted(EXAMPLES.glob("*.json")):
        yield path.stem, Trace.model_validate_json(path.read_bytes())
    for record in RECORDS:
        yield str(record["id"]), Trace.model_validate_json(json.dumps(record))


def _auditors(count: int) -> list[Auditor]:
    return [
        Auditor(
            address=compute_address(_key(i)),
            stake=(i * 7 % 11 + 1) * ETHER,
            tiers=(Tier.CHECKER, Tier.LLM) if i % 2 else (Tier.LLM, Tier.HUMAN),
        )
        for i in range(1, count + 1)
    ]


def encoding_vectors() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for name, trace in _traces():
        fields = trace.canonical_fields()
        post = {"canonical": canonical_json(fields).decode(), "trace_id": compute_trace_id(trace)}
        yield name, {"trace": fields}, post


def hdag_vectors() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for name, trace in _traces():
        hdag = build_hdag(trace)
        yield name, {"trace": trace.canonical_fields()}, {"hdag": hdag.model_dump(mode="json")}


def merkle_vectors() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for count in (1, 2, 3, 5, 8, 13):
        ids = [keccak_hex(i.to_bytes(2, "big")) for i in range(count)]
        proofs = [list(compute_merkle_proof(ids, i)) for i in range(count)]
        yield f"leaves-{count}", {"ids": ids}, {"root": compute_merkle_root(ids), "proofs": proofs}


def sortition_vectors() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    root = keccak_hex(b"vector root")
    seed = compute_sortition_seed(root, BLOCK_HASH)
    cases = []
    for segment in range(6):
        for i, auditor in enumerate(_auditors(4)):
            tier_stake, k = 20 * ETHER, 1 + (segment + i) % 5
            cases.append(
                {
                    "segment": segment,
                    "auditor": auditor.address,
                    "stake": auditor.stake,
                    "tier_stake": tier_stake,
                    "k": k,
                    "hash": to_hex(compute_assignment_hash(seed, segment, auditor.address)),
                    "assigned": is_assigned(
                        seed, segment, auditor.address, auditor.stake, tier_stake, k
                    ),
                }
            )
    inputs = {"root": root, "block_hash": BLOCK_HASH}
    yield "predicate", inputs, {"seed": seed, "cases": cases}


def _votes(pattern: str) -> tuple[VoteEntry, ...]:
    """One vote per character: V valid, I invalid, A abstain, on segments 0, 2, 4, ..."""
    kinds = {"V": Vote.VALID, "I": Vote.INVALID, "A": Vote.ABSTAIN}
    return tuple(
        VoteEntry(
            segment=2 * i,
            vote=kinds[c],
            confidence=5_000 + 1_000 * i,
            rationale=keccak_hex(c.encode()),
        )
        for i, c in enumerate(pattern)
    )


def eip712_vectors() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    trace_id = keccak_hex(b"vector trace")
    reveals = []
    for index, pattern in enumerate(("V", "VIA", "IIVV"), start=1):
        key, salt = _key(index), keccak_hex(bytes([index]))
        votes = _votes(pattern)
        commit = make_commit(key, trace_id, 0, votes, salt, DOMAIN)
        reveal = make_reveal(key, trace_id, 0, votes, salt, DOMAIN)
        reveals.append(reveal)
        post = {
            "commitment": compute_commitment(votes, salt, reveal.auditor, trace_id, 0),
            "commit_digest": compute_commit_digest(commit, DOMAIN),
            "reveal_digest": compute_reveal_digest(reveal, DOMAIN),
            "commit_signature": commit.signature,
            "reveal_signature": reveal.signature,
        }
        inputs = {
            "chain_id": CHAIN_ID,
            "ledger": LEDGER,
            "private_key": key,
            "reveal": reveal.model_dump(mode="json"),
        }
        yield f"votes-{pattern}", inputs, post
    report = Report(trace_id=trace_id, reveals=tuple(reveals))
    inputs = {"chain_id": CHAIN_ID, "ledger": LEDGER, "report": report.model_dump(mode="json")}
    yield "report", inputs, {"report_digest": compute_report_digest(report, DOMAIN)}


def _tally_case(stakes: list[int], pattern: str, absent: int) -> tuple[dict[str, Any], ...]:
    """A one-segment round: auditor i with stakes[i] votes pattern[i]; the last `absent` skip."""
    keys = [_key(i + 1) for i in range(len(stakes))]
    committee = {compute_address(k): s for k, s in zip(keys, stakes, strict=True)}
    kinds = {"V": Vote.VALID, "I": Vote.INVALID, "A": Vote.ABSTAIN}
    reveals = [
        make_reveal(
            key,
            keccak_hex(b"t"),
            0,
            (VoteEntry(segment=0, vote=kinds[c], confidence=10_000, rationale=keccak_hex(b"")),),
            keccak_hex(key.encode()),
            DOMAIN,
        ).model_dump(mode="json")
        for key, c in list(zip(keys, pattern, strict=True))[: len(keys) - absent]
    ]
    return {"0": committee}, reveals  # type: ignore[return-value]


TALLY_CASES = {
    "unanimous-valid": ([1, 1, 1], "VVV", 0),
    "two-thirds-exactly": ([2, 1], "VI", 0),
    "just-below-two-thirds": ([199, 101], "VI", 0),
    "invalid-supermajority": ([1, 4, 1], "VIA", 0),
    "quorum-exactly-half": ([1, 1], "VV", 1),
    "no-quorum": ([1, 2], "VV", 1),
    "abstain-blocks": ([1, 1, 1], "VAA", 0),
    "nobody-revealed": ([5, 5], "VV", 2),
}


def tally_vectors() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for name, (stakes, pattern, absent) in TALLY_CASES.items():
        assignments, reveals = _tally_case([s * ETHER for s in stakes], pattern, absent)
        parsed = [Reveal.model_validate(r, strict=False) for r in reveals]
        tally = compute_tallies(0, {0: assignments["0"]}, parsed)[0]
        post = {
            "assigned": tally.assigned_stake,
            "valid": tally.valid_stake,
            "invalid": tally.invalid_stake,
            "abstain": tally.abstain_stake,
            "verdict": compute_segment_verdict(tally, DEVNET).name,
        }
        yield name, {"assignments": assignments, "reveals": reveals}, post


def _verdict_cases(levels: list[Level]) -> dict[str, dict[int, SegmentVerdict]]:
    """Named segment-verdict maps over an HDAG whose node levels are `levels`, in order."""
    valid = dict.fromkeys(range(len(levels)), SegmentVerdict.VALID)

    def last(level: Level) -> int:
        return max(i for i, node_level in enumerate(levels) if node_level is level)

    def first(level: Level) -> int:
        return min(i for i, node_level in enumerate(levels) if node_level is level)

    return {
        "all-valid": valid,
        "one-unresolved": valid | {last(Level.STEP): SegmentVerdict.UNRESOLVED},
        "last-step-invalid": valid | {last(Level.STEP): SegmentVerdict.INVALID},
        "operation-invalid": valid | {last(Level.OPERATION): SegmentVerdict.INVALID},
        "goal-only-invalid": valid | {0: SegmentVerdict.INVALID},
        "strategy-invalid": valid | {first(Level.STRATEGY): SegmentVerdict.INVALID},
        "invalid-beats-unresolved": valid
        | {first(Level.STEP): SegmentVerdict.UNRESOLVED, last(Level.STEP): SegmentVerdict.INVALID},
        "missing-counts-unresolved": {i: v for i, v in valid.items() if i != last(Level.STEP)},
    }


def verdict_vectors() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    trace = Trace.model_validate_json((EXAMPLES / "sound-apples.json").read_bytes())
    hdag = build_hdag(trace)
    for name, verdicts in _verdict_cases([node.level for node in hdag.nodes]).items():
        trace_verdict, first_error = compute_trace_verdict(hdag, verdicts)
        inputs = {
            "trace": trace.canonical_fields(),
            "verdicts": {str(i): v.name for i, v in sorted(verdicts.items())},
        }
        yield name, inputs, {"trace_verdict": trace_verdict.name, "first_error": first_error}


def _vote_of(auditor_index: int, text: str, flawed: set[str]) -> Vote:
    if auditor_index == 1:
        return Vote.VALID
    if auditor_index == 2:
        return Vote.ABSTAIN
    return Vote.INVALID if any(marker in text for marker in flawed) else Vote.VALID


def audit_vectors() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Whole audits: sortition, two rounds of signed votes, verdict, first error, payouts.

    Auditors vote INVALID on segments whose text contains a planted error marker, VALID
    elsewhere, except auditor 1 who always votes VALID (a lazy auditor the tally outvotes) and
    auditor 2 who always abstains (so some segments escalate).
    """
    flawed = {"6 * 15 = 80", "47 > 52"}
    auditors = _auditors(7)
    tier_stakes = compute_tier_stakes(auditors)
    for name, trace in _traces():
        hdag = build_hdag(trace)
        tiers = [compute_segment_tier(node.level, tier_stakes) for node in hdag.nodes]
        seed = compute_sortition_seed(hdag.root, BLOCK_HASH)
        k = 3
        reveals: list[Reveal] = []
        for round_ in (0, 1):
            outcome = compute_audit_outcome(seed, tiers, k, auditors, reveals, DEVNET, hdag)
            for i, auditor in enumerate(auditors, start=1):
                mine = sorted(
                    s
                    for (r, s), committee in outcome.assignments.items()
                    if r == round_ and auditor.address in committee
                )
                if not mine:
                    continue
                votes = tuple(
                    VoteEntry(
                        segment=s,
                        vote=_vote_of(i, hdag.node_text(hdag.nodes[s]), flawed),
                        confidence=9_000,
                        rationale=keccak_hex(b""),
                    )
                    for s in mine
                )
                salt = keccak_hex(bytes([i, round_]))
                reveals.append(make_reveal(_key(i), hdag.trace_id, round_, votes, salt, DOMAIN))
        outcome = compute_audit_outcome(seed, tiers, k, auditors, reveals, DEVNET, hdag)
        payouts = compute_payouts(
            ETHER // 100, outcome.assignments, compute_vote_index(reveals), outcome.verdicts, DEVNET
        )
        inputs = {
            "trace": trace.canonical_fields(),
            "block_hash": BLOCK_HASH,
            "k": k,
            "fee": ETHER // 100,
            "auditors": [a.model_dump(mode="json") for a in auditors],
            "reveals": [r.model_dump(mode="json") for r in reveals],
        }
        post = {
            "root": hdag.root,
            "tiers": [int(t) for t in tiers],
            "verdicts": {str(s): v.name for s, v in sorted(outcome.verdicts.items())},
            "escalated": sorted(outcome.escalations),
            "trace_verdict": outcome.trace_verdict.name,
            "first_error": outcome.first_error,
            "rewards": payouts.rewards,
            "slashes": payouts.slashes,
            "dust": payouts.dust,
        }
        yield name, inputs, post


GENERATORS: dict[str, Callable[[], Iterator[tuple[str, dict[str, Any], dict[str, Any]]]]] = {
    "encoding": encoding_vectors,
    "hdag": hdag_vectors,
    "merkle": merkle_vectors,
    "sortition": sortition_vectors,
    "eip712": eip712_vectors,
    "tally": tally_vectors,
    "verdict": verdict_vectors,
    "audit": audit_vectors,
}


def render_vectors() -> dict[str, str]:
    """Relative path -> file content of every vector."""
    files = {}
    for kind, generate in GENERATORS.items():
        for name, inputs, post in generate():
            document = {"kind": kind, "name": name, "input": inputs, "post": post}
            files[f"{kind}/{name}.json"] = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    return files


def write_vectors(out_dir: Path) -> int:
    files = render_vectors()
    for relative, content in files.items():
        path = out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return len(files)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else VECTORS_DIR
    print(f"wrote {write_vectors(target)} vectors to {target}")

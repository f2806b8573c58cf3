"""First-mistake accuracy of the tier-1 checkers on the external development records, offline.

Run from the repository root: `python benchmarks/checkers_offline.py [file-stem ...]`. For each
record: build the HDAG and its segments, judge every segment with `Tier1Checker`, map
VALID/INVALID/ABSTAIN to segment verdicts VALID/INVALID/UNRESOLVED, take
`protocol.consensus.compute_first_error` as the predicted first wrong step and compare it with
the record's `label` (-1: no error). Two policies are reported:

- `all_levels`: every segment, goal to operation, judged by the checkers (the brief's setting);
- `steps_and_operations`: strategy, tactic and goal segments left UNRESOLVED, which shows how
  much an INVALID group segment (whose error the protocol places at the group's first step)
  costs or gains.

Two more simulate protocol changes that are only proposed (protocol/ is unchanged):

- `proposed_finest_evidence`: all levels judged, but the first error is the earliest INVALID
  step or operation when there is one; INVALID groups and the goal count only otherwise;
- `proposed_previous_step_context`: the same, and every step segment also sees the previous
  step's claim as context (a dependency on the preceding step, which state-tracking traces
  such as Dyck stacks need to judge a transition).

Prints a table and writes benchmarks/results/checkers_offline.json. Development split: report
these figures, never tune to them.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from auditors.checkers import Tier1Checker
from protocol.consensus import compute_first_error
from protocol.hdag import build_hdag
from protocol.models import Hdag, Level, Segment, SegmentVerdict, Tier, Trace, Vote
from protocol.segments import build_segments

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO.parent / "shared/data/external-dev"
RESULTS = REPO / "benchmarks/results/checkers_offline.json"
TARGETS = {
    "bbm-multistep_arithmetic": 0.95,
    "bbm-dyck_languages": 0.85,
    "bbm-word_sorting": 0.70,
}
DEFAULT_FILES = (*TARGETS, "bbm-logical_deduction", "bbm-tracking_shuffled_objects")
DEFAULT_FILES += tuple(f"processbench-{name}" for name in ("gsm8k", "math"))
_FINE = frozenset({Level.STEP, Level.OPERATION})
POLICIES = {
    "all_levels": frozenset(Level),
    "steps_and_operations": _FINE,
}
PROPOSALS = ("proposed_finest_evidence", "proposed_previous_step_context")
_VERDICT = {
    Vote.VALID: SegmentVerdict.VALID,
    Vote.INVALID: SegmentVerdict.INVALID,
    Vote.ABSTAIN: SegmentVerdict.UNRESOLVED,
}


def load_traces(stem: str) -> list[Trace]:
    path = DATA_DIR / f"{stem}.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Trace.model_validate_json(line) for line in lines if line.strip()]


def judge_trace(checker: Tier1Checker, trace: Trace) -> dict[str, int]:
    """Predicted first error per policy for one trace."""
    hdag = build_hdag(trace)
    segments = build_segments(trace, hdag, [Tier.CHECKER] * len(hdag.nodes))
    votes = {segment.index: checker.judge(segment).vote for segment in segments}
    predicted = {
        policy: compute_first_error(hdag, _verdicts(segments, votes, levels))
        for policy, levels in POLICIES.items()
    }
    predicted["proposed_finest_evidence"] = _finest_first_error(hdag, segments, votes)
    widened = _with_previous_step_context(hdag, segments)
    wide_votes = {segment.index: checker.judge(segment).vote for segment in widened}
    predicted["proposed_previous_step_context"] = _finest_first_error(hdag, widened, wide_votes)
    return predicted


def _finest_first_error(hdag: Hdag, segments: Sequence[Segment], votes: dict[int, Vote]) -> int:
    fine = compute_first_error(hdag, _verdicts(segments, votes, _FINE))
    if fine >= 0:
        return fine
    return compute_first_error(hdag, _verdicts(segments, votes, frozenset(Level)))


def _with_previous_step_context(hdag: Hdag, segments: Sequence[Segment]) -> list[Segment]:
    steps = [node for node in hdag.nodes if node.level is Level.STEP]
    previous = {later.id: hdag.claim_text(earlier) for earlier, later in pairwise(steps)}
    return [
        segment.model_copy(update={"context": (previous[segment.node_id], *segment.context)})
        if segment.node_id in previous
        else segment
        for segment in segments
    ]


def _verdicts(
    segments: Sequence[Segment], votes: dict[int, Vote], levels: frozenset[Level]
) -> dict[int, SegmentVerdict]:
    return {
        segment.index: _VERDICT[votes[segment.index]]
        for segment in segments
        if segment.level in levels
    }


def measure_file(stem: str) -> dict[str, Any]:
    checker = Tier1Checker()
    traces = load_traces(stem)
    started = time.perf_counter()
    predictions = [judge_trace(checker, trace) for trace in traces]
    elapsed = time.perf_counter() - started
    labels = [trace.label if trace.label is not None else -1 for trace in traces]
    result: dict[str, Any] = {
        "records": len(traces),
        "flawed_records": sum(label >= 0 for label in labels),
        "seconds_per_trace": round(elapsed / max(1, len(traces)), 4),
        "target": TARGETS.get(stem),
    }
    for policy in (*POLICIES, *PROPOSALS):
        predicted = [prediction[policy] for prediction in predictions]
        result[policy] = _score(predicted, labels)
    return result


def _score(predicted: Sequence[int], labels: Sequence[int]) -> dict[str, Any]:
    outcomes: Counter[str] = Counter()
    for guess, label in zip(predicted, labels, strict=True):
        outcomes[_outcome(guess, label)] += 1
    correct = outcomes["correct_sound"] + outcomes["correct_flawed"]
    return {"accuracy": round(correct / max(1, len(labels)), 4), **dict(sorted(outcomes.items()))}


def _outcome(guess: int, label: int) -> str:
    if guess == label:
        return "correct_sound" if label < 0 else "correct_flawed"
    if guess < 0:
        return "missed_error"
    if label < 0:
        return "false_alarm"
    return "too_early" if guess < label else "too_late"


def main(argv: Sequence[str]) -> None:
    stems = list(argv) or list(DEFAULT_FILES)
    results = {stem: measure_file(stem) for stem in stems}
    for stem, result in results.items():
        target = result["target"]
        shown = f" (target {target:.0%})" if target is not None else ""
        print(f"{stem}: {result['records']} records{shown}")
        for policy in (*POLICIES, *PROPOSALS):
            print(f"  {policy:31s} {json.dumps(result[policy])}")
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "checker": "auditors.checkers.Tier1Checker",
        "note": "development split: reported, not tuned to",
        "results": results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main(sys.argv[1:])

"""Segmentation ablation: the HDAG against fixed-size and random segmentation, one judge.

Run from the repository root:
`python benchmarks/segmentation.py [--files F ...] [--seed 0] [--out ...json]`.

The papers report 0.89 accuracy with hierarchical segmentation against 0.40 without. Here the
judge is held fixed (the real tier-1 checkers, `Tier1Checker`, in process: no committee, no
network, since the alternatives are not valid on-chain HDAG layouts) and only the segmentation
changes, on every labelled record of the files:

- hdag: the protocol's segments (`build_segments`), each with its context pack (the claims it
  depends on), the first error placed by the protocol's rule (`compute_first_error`);
- fixed: the text cut every W characters, W the record's mean step length, so the number of
  pieces matches the HDAG's steps on average but the cuts ignore sentences and equations;
- random: as many pieces as the record has steps, cut at seeded random positions.

A piece judged INVALID points at the step holding its first character; the predicted first
error is the earliest such step, -1 when none. Scored as `trustnode eval` scores: first-error
accuracy, ProcessBench F1 with its two accuracies. Writes the JSON and a PNG (one group of bars
per file).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from bisect import bisect_right
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt  # `pip install .[bench]`; headless, it draws with Agg
from common import LABELLED_FILES, RESULTS_DIR, save_figure, stamp, write_result_and_figure

from auditors.checkers import Tier1Checker
from devnet.evaluation.metrics import compute_first_error_scores
from devnet.evaluation.runner import load_eval_records
from protocol.consensus import compute_first_error
from protocol.encoding import keccak_hex
from protocol.hdag import build_hdag
from protocol.models import Hdag, Level, SegmentVerdict, Tier, Trace, Vote
from protocol.models import Segment as ProtocolSegment
from protocol.segments import build_segments
from protocol.sortition import compute_segment_tier

RESULTS = RESULTS_DIR / "segmentation.json"
ARMS = ("hdag", "fixed", "random")
#: Every tier staked, so each level is routed as on a full network.
TIER_STAKES = dict.fromkeys(Tier, 1)
JUDGE = Tier1Checker()

Cuts = Callable[[Hdag, random.Random], list[int]]


def predict_hdag(trace: Trace, hdag: Hdag, rng: random.Random) -> int:
    """First error from the protocol's own segments and rule."""
    tiers = [compute_segment_tier(node.level, TIER_STAKES) for node in hdag.nodes]
    verdicts = {
        segment.index: SegmentVerdict.INVALID
        for segment in build_segments(trace, hdag, tiers)
        if JUDGE.judge(segment).vote is Vote.INVALID
    }
    return compute_first_error(hdag, verdicts)


def step_starts(hdag: Hdag) -> list[int]:
    return sorted(node.span.start for node in hdag.nodes if node.level is Level.STEP)


def fixed_cuts(hdag: Hdag, rng: random.Random) -> list[int]:
    """Every W characters, W the mean step length (at least one character)."""
    width = max(1, len(hdag.text) // max(1, len(step_starts(hdag))))
    return list(range(width, len(hdag.text), width))


def random_cuts(hdag: Hdag, rng: random.Random) -> list[int]:
    """As many pieces as steps, at random positions."""
    pieces = max(1, len(step_starts(hdag)))
    return sorted(rng.sample(range(1, len(hdag.text)), min(pieces - 1, len(hdag.text) - 1)))


def predict_pieces(cuts: Cuts) -> Callable[[Trace, Hdag, random.Random], int]:
    def predict(trace: Trace, hdag: Hdag, rng: random.Random) -> int:
        starts = step_starts(hdag)
        bounds = [0, *cuts(hdag, rng), len(hdag.text)]
        for index, (start, end) in enumerate(itertools.pairwise(bounds)):
            piece = _piece(hdag, trace, index, start, end)
            if piece.text.strip() and JUDGE.judge(piece).vote is Vote.INVALID:
                return max(0, bisect_right(starts, start) - 1)
        return -1

    return predict


def _piece(hdag: Hdag, trace: Trace, index: int, start: int, end: int) -> ProtocolSegment:
    """A piece of text as a step-level segment with no context (no DAG links exist)."""
    return ProtocolSegment(
        trace_id=hdag.trace_id,
        index=index,
        node_id=keccak_hex(f"{hdag.trace_id}:{start}:{end}".encode()),
        level=Level.STEP,
        tier=Tier.CHECKER,
        problem=trace.problem,
        text=hdag.text[start:end],
    )


PREDICTORS = {
    "hdag": predict_hdag,
    "fixed": predict_pieces(fixed_cuts),
    "random": predict_pieces(random_cuts),
}


def measure_file(path: Path, seed: int) -> dict[str, Any]:
    records = load_eval_records(path, None)
    labels = [record.label for record in records]
    scores: dict[str, Any] = {"file": path.name, "records": len(records)}
    for arm in ARMS:
        rng = random.Random(seed)
        predicted = [
            PREDICTORS[arm](record.trace, build_hdag(record.trace), rng) for record in records
        ]
        scores[arm] = compute_first_error_scores(predicted, labels)
    print(json.dumps(scores), flush=True)
    return scores


def plot(points: Sequence[dict[str, Any]], path: Path) -> None:
    figure, axes = plt.subplots(figsize=(max(7, 1.3 * len(points)), 4.5))
    width = 0.8 / len(ARMS)
    for offset, arm in enumerate(ARMS):
        axes.bar(
            [i + offset * width for i in range(len(points))],
            [100 * (p[arm]["first_error_accuracy"] or 0) for p in points],
            width=width,
            label=arm,
        )
    axes.set_xticks([i + width for i in range(len(points))])
    axes.set_xticklabels(
        [p["file"].removesuffix(".jsonl") for p in points], rotation=30, ha="right", fontsize=8
    )
    axes.set_ylabel("first-error accuracy (%)")
    axes.set_ylim(0, 100)
    axes.set_title("Segmentation ablation, tier-1 checkers as the one judge")
    axes.legend()
    save_figure(figure, path)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--files", type=Path, nargs="+", default=list(LABELLED_FILES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    points = [measure_file(path, args.seed) for path in args.files]
    document = {
        "command": " ".join(["python", "benchmarks/segmentation.py", *argv]),
        "judge": "Tier1Checker, one judge, no committee",
        "points": points,
        "wall_s": round(time.perf_counter() - started, 1),
        **stamp(),
    }
    write_result_and_figure(args.out, document, partial(plot, points))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

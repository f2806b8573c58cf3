"""Corruption sweep: ProcessBench F1 against the adversarial share of the stake, through the
real network, with oracle auditors (`trustnode eval --auditors oracle:P`), beside the exact
prediction and the single-auditor baseline.

Run from the repository root:
`python benchmarks/sweep.py [--records FILE] [--limit 24]
[--auditors oracle:0.7 oracle:0.8 oracle:0.9] [--strategies flip always-valid collude random
copycat] [--fractions 0 0.1 0.2 0.3 0.4] [--stakes 10 10 20 30 30] [--commit-window S]
[--reveal-window S] [--stall-timeout S] [--trace-timeout S] [--out ...json]`.

Each point is one `trustnode eval` run (`devnet.evaluation.run_evaluation`) on a fresh
five-node devnet: every node an oracle auditor right with probability P (seeded), or with
`--auditors tier1` the real tier-1 checkers, the nodes whose stake is the largest share not
above the fraction given `--strategy` instead. The nodes stake 10, 10, 20, 30 and 30 ETH, so
every requested share is met exactly (10% is node 1, 20% node 3, 30% node 4, 40% nodes 1 and
4); the plot's x axis shows the realised share all the same. Oracle auditors isolate the
protocol (committees, tally, escalation, adversaries) from judge quality; the papers' claim
under test is "correct under up to 30% malicious participants".

Beside every measured point stand two computed ones (`devnet.evaluation.prediction`): the exact
prediction, what the protocol's rules make of independent oracle votes on the same records with
the same adversaries (every way the committees and votes can fall, enumerated: no sampling),
and the single-auditor baseline, one honest auditor of the same P judging every segment alone.
The prediction is also computed over every record of the file (`predicted_all_records`), where
the few measured records cannot speak. `random` and `copycat` adversaries are measured only:
their votes are not independent oracle draws. With `tier1` there is no prediction (the
checkers' votes are deterministic and abstain on most segments, not independent draws) and the
single-auditor baseline is measured instead: one tier-1 judge on the same records in process,
as in `segmentation.py`; with `tier1+llm` (every node also runs the local SmolLM2 judge), one
node's checker and LLM in process, on the measured records only. Writes the JSON and a PNG
plot beside it (matplotlib, from `pip install .[bench]`, which `make bench` runs).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt  # `pip install .[bench]`; headless, it draws with Agg
from common import DATA, RESULTS_DIR, replot, stamp, write_result
from eth_account import Account
from segmentation import predict_hdag

from auditors.checkers import Tier1Checker
from auditors.judgement import AsyncJudge, Judge
from auditors.tiers import TieredJudge
from devnet.accounts import dev_private_key
from devnet.evaluation import EvalOptions, run_evaluation
from devnet.evaluation.metrics import compute_first_error_scores
from devnet.evaluation.prediction import (
    PREDICTABLE,
    ModelAuditor,
    RecordShape,
    compute_record_shape,
    predict_network,
    predict_records,
    predict_single_auditor,
)
from devnet.evaluation.runner import load_eval_records, parse_oracle_accuracy
from node.config import LlmJudgeSettings
from node.llm.judge import open_llm_judge
from node.termination import run_until_terminated
from protocol.consensus import compute_first_error
from protocol.hdag import build_hdag
from protocol.models import Auditor, SegmentVerdict, Tier, Vote
from protocol.segments import build_segments
from protocol.sortition import compute_segment_tier

RESULTS = RESULTS_DIR / "sweep.json"
DEFAULT_RECORDS = DATA / "processbench-gsm8k.jsonl"
#: The papers' claim: correct under up to 30% malicious participants.
CLAIMED_FRACTION = 0.3
ETHER = 10**18
#: The five nodes' stakes in ETH: every tenth up to 40% is some nodes' exact share.
SWEEP_STAKES_ETH = (10, 10, 20, 30, 30)


@dataclass(frozen=True)
class SweepSetup:
    """What every point of one sweep shares."""

    records: Path
    limit: int
    seed: int
    stakes_eth: tuple[int, ...] = SWEEP_STAKES_ETH
    #: The nodes' windows and the trace timeout (EvalOptions fields); empty: the defaults.
    timing: dict[str, float] = field(default_factory=dict)


def snapshot_of(stakes_wei: Sequence[int]) -> tuple[Auditor, ...]:
    """The devnet's auditors as the coordinator sees them: these stakes, checker and LLM tiers
    (the addresses are placeholders: a record's shape depends on the stakes alone)."""
    return tuple(
        Auditor(address=f"0x{i:040x}", stake=stake, tiers=(Tier.CHECKER, Tier.LLM))
        for i, stake in enumerate(stakes_wei, start=1)
    )


def model_auditors(
    adversaries: Sequence[int], strategy: str, stakes_eth: Sequence[int] = SWEEP_STAKES_ETH
) -> list[ModelAuditor]:
    return _models(adversaries, strategy, [stake * ETHER for stake in stakes_eth])


def _models(
    adversaries: Sequence[int], strategy: str, stakes_wei: Sequence[int]
) -> list[ModelAuditor]:
    """Node i (1-based) plays `strategy` if it is among `adversaries`, else honest."""
    return [
        ModelAuditor(stake, strategy if index in adversaries else "honest")
        for index, stake in enumerate(stakes_wei, start=1)
    ]


def predict_point(
    shapes: Sequence[RecordShape],
    accuracy: float,
    adversaries: Sequence[int],
    strategy: str,
    stakes_eth: Sequence[int] = SWEEP_STAKES_ETH,
) -> dict[str, float | None] | None:
    """The exact prediction for these records, or None for a strategy it does not model."""
    if adversaries and strategy not in PREDICTABLE:
        return None
    auditors = model_auditors(adversaries, strategy, stakes_eth)
    return _rounded(predict_network(shapes, auditors, accuracy))


def predict_at_snapshots(
    setup: SweepSetup,
    entries: Sequence[dict[str, Any]],
    accuracy: float,
    adversaries: Sequence[int],
    strategy: str,
) -> dict[str, float | None] | None:
    """The exact prediction with each record at the stakes its trace was audited under (its
    entry's on-chain snapshot), or None when it does not model the strategy or a record has no
    snapshot. Slashes between traces move the stakes off exact two-thirds ties."""
    if adversaries and strategy not in PREDICTABLE:
        return None
    addresses = [
        Account.from_key(dev_private_key(i)).address.lower()
        for i in range(1, len(setup.stakes_eth) + 1)
    ]
    stakes_of = {e["id"]: e.get("snapshot_stakes") for e in entries}
    cases = []
    for record in load_eval_records(setup.records, setup.limit):
        snapshot = stakes_of.get(record.record_id)
        if not snapshot:
            return None
        by_address = {address.lower(): int(stake) for address, stake in snapshot.items()}
        stakes = [by_address[address] for address in addresses]
        shape = compute_record_shape(record.trace, snapshot_of(stakes))
        cases.append((shape, _models(adversaries, strategy, stakes)))
    return _rounded(predict_records(cases, accuracy))


def _rounded(scores: dict[str, float | None]) -> dict[str, float | None]:
    return {name: None if value is None else round(value, 4) for name, value in scores.items()}


def load_shapes(
    records: Path, limit: int | None, stakes_eth: Sequence[int] = SWEEP_STAKES_ETH
) -> list[RecordShape]:
    snapshot = snapshot_of([stake * ETHER for stake in stakes_eth])
    return [compute_record_shape(r.trace, snapshot) for r in load_eval_records(records, limit)]


def measure_single_judge(records: Path, limit: int | None) -> dict[str, float | None]:
    """One tier-1 judge alone on every segment of the records (deterministic, in process)."""
    loaded = load_eval_records(records, limit)
    rng = random.Random(0)  # unused by the HDAG arm; its signature takes one
    predicted = [predict_hdag(r.trace, build_hdag(r.trace), rng) for r in loaded]
    return _rounded(compute_first_error_scores(predicted, [r.label for r in loaded]))


async def measure_single_tiered_judge(
    records: Path, limit: int | None, checkers: bool = True
) -> dict[str, float | None]:
    """One node's tier-1 checker and local LLM (`tier1+llm`) alone on every segment, in process;
    with `checkers` off the LLM alone (`llm`), judging every segment in its tier.

    Segments are routed as on the devnet (the tiers the node's auditor stands in staked, no
    human tier), and each is offered to the checker first, then to the LLM if its tier allows,
    as a node does (`auditors.tiers.TieredJudge`); a segment judged INVALID counts, as in
    `segmentation.py`.
    """
    loaded = load_eval_records(records, limit)
    tier_stakes = {Tier.CHECKER: 1, Tier.LLM: 1} if checkers else {Tier.LLM: 1}
    predicted = []
    with tempfile.TemporaryDirectory(prefix="trust-sweep-llm-") as log_dir:
        async with open_llm_judge(LlmJudgeSettings(endpoint="local"), Path(log_dir)) as llm:
            if llm is None:  # endpoint "local" always gives one; this narrows the type
                raise RuntimeError("the local LLM backend gave no evaluator")
            judges: dict[Tier, Judge | AsyncJudge] = {Tier.LLM: llm}
            if checkers:
                judges[Tier.CHECKER] = Tier1Checker()
            judge = TieredJudge(judges)
            for record in loaded:
                hdag = build_hdag(record.trace)
                tiers = [compute_segment_tier(node.level, tier_stakes) for node in hdag.nodes]
                segments = build_segments(record.trace, hdag, tiers)
                judgements = await asyncio.gather(*(judge.judge(seg) for seg in segments))
                invalid = {
                    seg.index: SegmentVerdict.INVALID
                    for seg, judgement in zip(segments, judgements, strict=True)
                    if judgement.vote is Vote.INVALID
                }
                predicted.append(compute_first_error(hdag, invalid))
    return _rounded(compute_first_error_scores(predicted, [r.label for r in loaded]))


#: The tier1+llm single judge's figures per (records, limit): minutes of LLM calls, computed
#: once per sweep rather than once per point.
_TIERED_BASELINES: dict[tuple[Path, int | None], dict[str, float | None]] = {}


async def single_tiered_judge(records: Path, limit: int | None) -> dict[str, float | None]:
    key = (records, limit)
    if key not in _TIERED_BASELINES:
        _TIERED_BASELINES[key] = await measure_single_tiered_judge(records, limit)
    return _TIERED_BASELINES[key]


async def compute_baselines(
    setup: SweepSetup,
    auditors: str,
    accuracy: float | None,
    adversaries: Sequence[int],
    strategy: str,
) -> dict[str, Any]:
    """The prediction and the single-auditor baseline, on the measured records and the file."""
    records, limit, stakes = setup.records, setup.limit, setup.stakes_eth
    if auditors == "tier1+llm":
        # The whole file's figure would cost an hour of LLM calls on two cores: measured
        # records only.
        return {
            "predicted": None,
            "predicted_all_records": None,
            "single_auditor": await single_tiered_judge(records, limit),
            "single_auditor_all_records": None,
        }
    if accuracy is None:
        return {
            "predicted": None,
            "predicted_all_records": None,
            "single_auditor": measure_single_judge(records, limit),
            "single_auditor_all_records": measure_single_judge(records, None),
        }
    measured, everything = load_shapes(records, limit, stakes), load_shapes(records, None, stakes)
    return {
        "predicted": predict_point(measured, accuracy, adversaries, strategy, stakes),
        "predicted_all_records": predict_point(everything, accuracy, adversaries, strategy, stakes),
        "single_auditor": _rounded(predict_single_auditor(measured, accuracy)),
        "single_auditor_all_records": _rounded(predict_single_auditor(everything, accuracy)),
    }


async def measure_point(
    setup: SweepSetup, auditors: str, fraction: float, strategy: str
) -> dict[str, Any]:
    """One `trustnode eval` run on a fresh devnet."""
    accuracy = parse_oracle_accuracy(auditors)
    with tempfile.TemporaryDirectory(prefix="trust-sweep-") as tmp:
        options = EvalOptions(
            records=setup.records,
            out=Path(tmp) / "result.json",
            limit=setup.limit,
            seed=setup.seed,
            auditors=auditors,
            byzantine=fraction,
            strategy=strategy,  # type: ignore[arg-type]
            nodes=len(setup.stakes_eth),
            stakes_eth=setup.stakes_eth,
            **({} if accuracy is None else {"judge_accuracy": accuracy}),
            **setup.timing,
        )
        started = time.perf_counter()
        document = await run_evaluation(options, io.StringIO())
    metrics = document["metrics"]
    adversaries = document["adversaries"]["nodes"]
    point = {
        "auditors": auditors,
        "accuracy": accuracy,
        "strategy": strategy if document["adversaries"]["nodes"] else "none",
        "requested_fraction": fraction,
        "adversarial_fraction": document["adversaries"]["stake_fraction"],
        "adversarial_nodes": document["adversaries"]["nodes"],
        "f1": metrics["f1"],
        "accuracy_erroneous": metrics["accuracy_erroneous"],
        "accuracy_correct": metrics["accuracy_correct"],
        "first_error_accuracy": metrics["first_error_accuracy"],
        "brier": metrics["brier"],
        "revealed_share": metrics.get("revealed_share_mean"),
        "final": metrics["final"],
        "records": metrics["records"],
        "wall_s": round(time.perf_counter() - started, 1),
        "timing": setup.timing,
        "predicted_at_snapshots": None
        if accuracy is None
        else predict_at_snapshots(setup, document["entries"], accuracy, adversaries, strategy),
        **await compute_baselines(setup, auditors, accuracy, adversaries, strategy),
    }
    print(json.dumps(point), flush=True)
    return point


async def run(args: argparse.Namespace, document: dict[str, Any]) -> None:
    """Every point in turn, the result file rewritten after each (a long sweep keeps its points)."""
    plan = [(auditors, 0.0, "flip") for auditors in args.auditors]
    plan += [
        (auditors, fraction, strategy)
        for auditors in args.auditors
        for strategy in args.strategies
        for fraction in args.fractions
        if fraction > 0
    ]
    setup = SweepSetup(args.records, args.limit, args.seed, tuple(args.stakes), _timing(args))
    for auditors, fraction, strategy in plan:
        point = await measure_point(setup, auditors, fraction, strategy)
        document["points"].append(point)
        write_result(args.out, document)


def _timing(args: argparse.Namespace) -> dict[str, float]:
    given = {
        "commit_window_s": args.commit_window,
        "reveal_window_s": args.reveal_window,
        "stall_timeout_s": args.stall_timeout,
        "trace_timeout_s": args.trace_timeout,
    }
    return {key: value for key, value in given.items() if value is not None}


def _f1(scores: dict[str, Any] | None) -> float | None:
    value = None if scores is None else scores.get("f1")
    return None if value is None else 100 * value


def auditors_of(point: dict[str, Any]) -> str:
    """The point's auditors (results written before `--auditors` existed hold only P)."""
    return point.get("auditors") or f"oracle:{point['accuracy']:g}"


def plot(points: Sequence[dict[str, Any]], path: Path) -> None:
    """One panel per strategy: F1 against the realised adversarial share for each kind of
    auditor, measured (solid), predicted for the same records (dashed) and for the whole file
    (dotted), and the single auditor of the same kind over the whole file (a horizontal line)."""
    kinds = sorted({auditors_of(p) for p in points})
    strategies = sorted({p["strategy"] for p in points} - {"none"})
    columns = min(3, max(1, len(strategies)))
    rows = max(1, -(-len(strategies) // columns))
    figure, panels = plt.subplots(rows, columns, figsize=(5.2 * columns, 4.2 * rows), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for panel, strategy in zip(panels.flat, strategies, strict=False):
        for colour, kind in zip(colours, kinds, strict=False):
            line = sorted(
                (
                    p
                    for p in points
                    if auditors_of(p) == kind and p["strategy"] in ("none", strategy)
                ),
                key=lambda p: p["adversarial_fraction"],
            )
            xs = [100 * p["adversarial_fraction"] for p in line]
            panel.plot(
                xs,
                [_f1(p) for p in line],
                marker="o",
                color=colour,
                label=f"{kind} measured",
            )
            for key, style, name in (
                ("predicted", "--", "predicted"),
                ("predicted_all_records", ":", "predicted, all records"),
            ):
                predicted = [
                    (x, _f1(p[key]))
                    for x, p in zip(xs, line, strict=True)
                    if _f1(p.get(key)) is not None
                ]
                if predicted:
                    panel.plot(
                        *zip(*predicted, strict=True),
                        linestyle=style,
                        color=colour,
                        label=f"{kind} {name}",
                    )
            single = _f1(line[0].get("single_auditor_all_records"))
            if single is not None:
                panel.axhline(
                    single,
                    color=colour,
                    linewidth=0.8,
                    alpha=0.6,
                    label=f"{kind} one auditor alone",
                )
        panel.axvline(100 * CLAIMED_FRACTION, color="grey", linestyle=":")
        panel.set_title(f"{strategy} (grey: papers' 30% claim)")
        panel.set_xlabel("adversarial share of the stake (%)")
        panel.set_ylabel("ProcessBench F1 (%)")
        panel.set_ylim(0, 100)
    for panel in list(panels.flat)[len(strategies) :]:
        panel.axis("off")
    handles, labels = panels.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", fontsize=7, ncol=4)
    figure.suptitle(f"Corruption sweep through the network ({', '.join(kinds)}, on-chain verdicts)")
    # Room at the bottom for the shared legend, at the top for the title.
    figure.tight_layout(rect=(0, 0.06 + 0.04 * len(kinds), 1, 0.96))
    figure.savefig(path, dpi=110)
    plt.close(figure)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--records", type=Path, default=DEFAULT_RECORDS)
    parser.add_argument("--limit", type=int, default=24)
    parser.add_argument(
        "--auditors",
        nargs="+",
        default=["oracle:0.7", "oracle:0.8", "oracle:0.9"],
        help="oracle:P (simulated judges of accuracy P) or a real tier such as tier1",
    )
    parser.add_argument(
        "--strategies", nargs="+", default=["flip", "always-valid", "collude", "random", "copycat"]
    )
    parser.add_argument("--fractions", type=float, nargs="+", default=[0, 0.1, 0.2, 0.3, 0.4])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--stakes", type=int, nargs="+", default=list(SWEEP_STAKES_ETH), help="ETH per node"
    )
    for flag in ("--commit-window", "--reveal-window", "--stall-timeout", "--trace-timeout"):
        parser.add_argument(
            flag, type=float, default=None, help="seconds, every node (default: the node's)"
        )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--replot", action="store_true", help="only redraw the PNG from --out")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    if args.replot:
        replot(args.out, plot)
        return 0
    started = time.perf_counter()
    document: dict[str, Any] = {
        "command": " ".join(["python", "benchmarks/sweep.py", *argv]),
        "records": str(args.records),
        "limit": args.limit,
        "seed": args.seed,
        "stakes_eth": args.stakes,
        **stamp(),
        "note": (
            "oracle auditors: a labelled simulation of judges, not real judges"
            if all(parse_oracle_accuracy(kind) is not None for kind in args.auditors)
            else "real tier auditors; any oracle points are a labelled simulation of judges"
        ),
        "points": [],
    }
    run_until_terminated(lambda: run(args, document))
    document["wall_s"] = round(time.perf_counter() - started, 1)
    write_result(args.out, document)
    print(f"written {args.out}")
    plot(document["points"], args.out.with_suffix(".png"))
    print(f"written {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

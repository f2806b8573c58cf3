"""Privacy: how much of a trace one auditor, and a coalition of the three largest stakers, see,
against the exposure budget, as the network grows.

Run from the repository root:
`python benchmarks/privacy.py [--files F ...] [--limit 200] [--auditors 5 9 25 100]
[--eval benchmarks/results/calibration-eval.json] [--out ...json]`.

For each network size N, `--limit` labelled records (spread evenly over the BIG-Bench Mistake
and ProcessBench development files) are audited by the protocol's own functions, without a
network: N auditors with the devnet's stakes (10, 20, ... 90 ETH, repeating) in the checker and
LLM tiers, the committee size the coordinator picks under the budget
(`compute_trace_committee_size`), the round-0 committees sortition draws from a per-record
seed, and `protocol.exposure.compute_exposure` over the segments' visible spans (own text and
context claims). Beside them stands each trace's floor: the visible share of its largest
segment, which whoever judges that segment sees whatever the network's size. Escalation rounds
are left out here; they can only add exposure, and the measured five-node figures, read from
the chain by `trustnode eval` (`--eval`, the result file `benchmarks/calibration.py` keeps),
include them. Writes the JSON and a PNG (the distribution of each figure, with the budget).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt  # `pip install .[bench]`; headless, it draws with Agg
from common import (
    LABELLED_FILES,
    REPO,
    RESULTS_DIR,
    load_labelled_traces,
    save_figure,
    stamp,
    write_result_and_figure,
)

from devnet.deployment import DEFAULT_STAKES_ETH
from protocol.encoding import keccak_hex
from protocol.exposure import compute_exposure, compute_union_length
from protocol.hdag import build_hdag
from protocol.models import Auditor, Tier, Trace
from protocol.params import BASIS_POINTS, DEVNET
from protocol.segments import compute_visible_spans
from protocol.sortition import (
    compute_assignments,
    compute_segment_tier,
    compute_tier_stakes,
    compute_trace_committee_size,
)

RESULTS = RESULTS_DIR / "privacy.json"
DEFAULT_EVAL = RESULTS_DIR / "calibration-eval.json"
ETHER = 10**18


def make_auditors(count: int) -> tuple[Auditor, ...]:
    return tuple(
        Auditor(
            address=f"0x{index:040x}",
            stake=DEFAULT_STAKES_ETH[(index - 1) % len(DEFAULT_STAKES_ETH)] * ETHER,
            tiers=(Tier.CHECKER, Tier.LLM),
        )
        for index in range(1, count + 1)
    )


def measure_exposure(trace: Trace, auditors: Sequence[Auditor]) -> tuple[int, float, float]:
    """(k, largest single share, coalition share) of one round-0 audit of `trace`."""
    hdag = build_hdag(trace)
    tier_stakes = compute_tier_stakes(auditors)
    tiers = [compute_segment_tier(node.level, tier_stakes) for node in hdag.nodes]
    k = compute_trace_committee_size(hdag, auditors, DEVNET)
    seed = keccak_hex(f"privacy/{hdag.trace_id}".encode())
    figures = compute_exposure(
        len(hdag.text),
        [compute_visible_spans(hdag, node) for node in hdag.nodes],
        compute_assignments(seed, tiers, k, auditors),
        {auditor.address: auditor.stake for auditor in auditors},
        DEVNET.exposure_budget_bps,
    )
    return k, figures.max_auditor_bps / BASIS_POINTS, figures.coalition_bps / BASIS_POINTS


def describe(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)
    budget = DEVNET.exposure_budget_bps / BASIS_POINTS
    return {
        "mean": round(statistics.fmean(ordered), 4),
        "p50": round(ordered[len(ordered) // 2], 4),
        "p90": round(ordered[min(len(ordered) - 1, 9 * len(ordered) // 10)], 4),
        "max": round(ordered[-1], 4),
        "within_budget": round(sum(v <= budget for v in ordered) / len(ordered), 4),
    }


def compute_segment_floor(trace: Trace) -> float:
    """The largest share of the text one segment shows: no committee can expose less."""
    hdag = build_hdag(trace)
    largest = max(compute_union_length(compute_visible_spans(hdag, n)) for n in hdag.nodes)
    return largest / len(hdag.text)


def measure_network(traces: Sequence[Trace], size: int) -> dict[str, Any]:
    auditors = make_auditors(size)
    rows = [measure_exposure(trace, auditors) for trace in traces]
    point = {
        "auditors": size,
        "k_mean": round(statistics.fmean(k for k, _, _ in rows), 2),
        "max_auditor": describe([single for _, single, _ in rows]),
        "coalition_of_3": describe([coalition for _, _, coalition in rows]),
        "samples": {
            "max_auditor": [round(single, 4) for _, single, _ in rows],
            "coalition_of_3": [round(coalition, 4) for _, _, coalition in rows],
        },
    }
    summary = {key: point[key] for key in ("auditors", "k_mean", "max_auditor", "coalition_of_3")}
    print(json.dumps(summary), flush=True)
    return point


def read_measured(path: Path) -> dict[str, Any] | None:
    """The on-chain exposure figures of a `trustnode eval` result file, if there is one."""
    if not path.exists():
        return None
    entries = json.loads(path.read_text(encoding="utf-8"))["entries"]
    single = [float(e["max_exposure"]) for e in entries if e.get("max_exposure") is not None]
    coalition = [
        float(e["coalition_exposure"]) for e in entries if e.get("coalition_exposure") is not None
    ]
    if not single:
        return None
    return {
        "source": str(path.relative_to(REPO) if path.is_relative_to(REPO) else path),
        "auditors": 5,
        "max_auditor": describe(single),
        "coalition_of_3": describe(coalition),
        "samples": {"max_auditor": single, "coalition_of_3": coalition},
    }


def _cdf(values: Sequence[float]) -> tuple[list[float], list[float]]:
    ordered = sorted(values)
    return [100 * v for v in ordered], [100 * (i + 1) / len(ordered) for i in range(len(ordered))]


def plot(
    points: Sequence[dict[str, Any]],
    measured: dict[str, Any] | None,
    floors: Sequence[float],
    path: Path,
) -> None:
    figure, panels = plt.subplots(1, 2, figsize=(11, 4.3), sharey=True)
    panels[0].plot(*_cdf(floors), color="grey", label="floor: the trace's largest segment")
    for panel, key, title in (
        (panels[0], "max_auditor", "largest share seen by one auditor"),
        (panels[1], "coalition_of_3", "share seen by the 3 largest stakers together"),
    ):
        for point in points:
            panel.plot(*_cdf(point["samples"][key]), label=f"{point['auditors']} auditors")
        if measured is not None:
            panel.plot(
                *_cdf(measured["samples"][key]),
                color="black",
                linestyle="--",
                label="5 auditors, on-chain (with escalations)",
            )
        panel.axvline(100 * DEVNET.exposure_budget_bps / BASIS_POINTS, color="grey", linestyle=":")
        panel.set_title(f"{title}\n(grey: the {DEVNET.exposure_budget_bps // 100}% budget)")
        panel.set_xlabel("share of the trace's text (%)")
        panel.set_xlim(0, 100)
    panels[0].set_ylabel("traces at or below (%)")
    panels[0].legend(fontsize=8)
    save_figure(figure, path)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--files", type=Path, nargs="+", default=list(LABELLED_FILES))
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--auditors", type=int, nargs="+", default=[5, 9, 25, 100])
    parser.add_argument("--eval", type=Path, default=DEFAULT_EVAL)
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    traces = load_labelled_traces(args.files, args.limit)
    points = [measure_network(traces, size) for size in args.auditors]
    measured = read_measured(args.eval)
    floors = [compute_segment_floor(trace) for trace in traces]
    print(json.dumps({"segment_floor": describe(floors)}))
    document = {
        "command": " ".join(["python", "benchmarks/privacy.py", *argv]),
        "records": len(traces),
        "budget": DEVNET.exposure_budget_bps / BASIS_POINTS,
        "points": points,
        "segment_floor": describe(floors) | {"samples": [round(f, 4) for f in floors]},
        "measured_on_chain": measured,
        "wall_s": round(time.perf_counter() - started, 1),
        **stamp(),
    }
    write_result_and_figure(args.out, document, partial(plot, points, measured, floors))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Committee-size ablation: ProcessBench F1 against the target committee size k, computed.

Run from the repository root:
`python benchmarks/committee.py [--records FILE] [--sizes 1 2 3 4 5] [--accuracies 0.7 0.8 0.9]
[--out ...json]`.

The node picks k from the exposure budget (on the five-node devnet always the floor, 3), so k
cannot be varied on a running network without changing the protocol's parameters. This
ablation therefore computes, with the exact prediction `benchmarks/sweep.py` validates against
the network (`devnet.evaluation.prediction`: committees by sortition on the sweep's five
auditors of 10, 10, 20, 30 and 30 ETH, two-thirds supermajority of stake, one escalation round
with 2k), the F1 every record of the file would get for each k, honest oracle auditors of
accuracy P, and with one 30-ETH auditor (30% of the stake, the papers' claim) flipping every
answer. Computed, not measured: it says
what the protocol's rules make of independent judges, nothing about latency. Writes the JSON and
a PNG.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt  # `pip install .[bench]`; headless, it draws with Agg
from common import RESULTS_DIR, save_figure, stamp, write_result_and_figure
from sweep import DEFAULT_RECORDS, SWEEP_STAKES_ETH, load_shapes, model_auditors

from devnet.evaluation.prediction import predict_network, predict_single_auditor

RESULTS = RESULTS_DIR / "committee.json"
#: A 30-ETH auditor: 30% of the sweep's stake, the papers' claimed limit.
FLIPPING_NODE = 4
FLIPPING_STAKE = round(SWEEP_STAKES_ETH[FLIPPING_NODE - 1] / sum(SWEEP_STAKES_ETH), 4)


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    shapes = load_shapes(args.records, None)
    rows = []
    for accuracy in args.accuracies:
        single = predict_single_auditor(shapes, accuracy)["f1"]
        for adversaries in ((), (FLIPPING_NODE,)):
            auditors = model_auditors(adversaries, "flip")
            for k in args.sizes:
                fixed = [replace(shape, k=k) for shape in shapes]
                f1 = predict_network(fixed, auditors, accuracy)["f1"]
                row = {
                    "accuracy": accuracy,
                    "flipping_stake": FLIPPING_STAKE if adversaries else 0.0,
                    "k": k,
                    "f1": None if f1 is None else round(f1, 4),
                    "single_auditor_f1": None if single is None else round(single, 4),
                }
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


def plot(rows: Sequence[dict[str, Any]], path: Path) -> None:
    figure, axes = plt.subplots(figsize=(7, 4.5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for colour, accuracy in zip(colours, sorted({r["accuracy"] for r in rows}), strict=False):
        for flipping, style in ((0.0, "-"), (FLIPPING_STAKE, "--")):
            line = [
                r for r in rows if r["accuracy"] == accuracy and r["flipping_stake"] == flipping
            ]
            label = f"P={accuracy:g}" + (f", {100 * flipping:g}% flipping" if flipping else "")
            axes.plot(
                [r["k"] for r in line],
                [100 * (r["f1"] or 0) for r in line],
                marker="o",
                linestyle=style,
                color=colour,
                label=label,
            )
        single = next(r["single_auditor_f1"] for r in rows if r["accuracy"] == accuracy)
        axes.axhline(100 * (single or 0), color=colour, linewidth=0.8, alpha=0.6)
    axes.set_xlabel("target committee size k (the devnet's budget picks 3)")
    axes.set_ylabel("ProcessBench F1 (%), computed")
    axes.set_ylim(0, 100)
    axes.set_title("Committee size, 5 auditors (thin lines: one auditor alone)")
    axes.legend(fontsize=8)
    save_figure(figure, path)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--records", type=Path, default=DEFAULT_RECORDS)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--accuracies", type=float, nargs="+", default=[0.7, 0.8, 0.9])
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    rows = measure(args)
    document = {
        "command": " ".join(["python", "benchmarks/committee.py", *argv]),
        "records": str(args.records.name),
        "note": "computed with devnet.evaluation.prediction, not measured on a network",
        "rows": rows,
        "wall_s": round(time.perf_counter() - started, 1),
        **stamp(),
    }
    write_result_and_figure(args.out, document, partial(plot, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""HDAG build + validation throughput on the ProcessBench development records, one core.

Run from the repository root: `python benchmarks/hdag.py`. Times `build_hdag` followed by
`validate_hdag` over every record (best of several passes), against a baseline that only computes
each trace's id (the floor cost of reading a trace), reports peak memory, prints a table and
writes benchmarks/results/hdag.json.
"""

from __future__ import annotations

import json
import platform
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from machine import cpu_model  # benchmarks/ is sys.path[0] when run as a script

from protocol.hdag import build_hdag
from protocol.hdag_validation import validate_hdag
from protocol.ids import compute_trace_id
from protocol.models import Trace

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO.parent / "shared/data/external-dev"
RESULTS = REPO / "benchmarks/results/hdag.json"
REPETITIONS = 5
TARGET_TRACES_PER_S = 300


def load_traces() -> list[Trace]:
    paths = sorted(DATA_DIR.glob("processbench-*.jsonl"))
    if not paths:
        sys.exit(f"no ProcessBench records under {DATA_DIR}")
    lines = (line for path in paths for line in path.read_text(encoding="utf-8").splitlines())
    return [Trace.model_validate_json(line) for line in lines if line.strip()]


def build_and_validate(traces: Sequence[Trace]) -> int:
    """One pass; returns the number of nodes built."""
    nodes = 0
    for trace in traces:
        hdag = build_hdag(trace)
        validate_hdag(hdag, trace)
        nodes += len(hdag.nodes)
    return nodes


def compute_ids(traces: Sequence[Trace]) -> int:
    return sum(len(compute_trace_id(trace)) for trace in traces)


def best_seconds(work: Callable[[], object]) -> float:
    timings = []
    for _ in range(REPETITIONS):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


def peak_traced_bytes(work: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def measure() -> dict[str, Any]:
    traces = load_traces()
    nodes = build_and_validate(traces)  # warm-up, and the node count
    hdag_s = best_seconds(lambda: build_and_validate(traces))
    baseline_s = best_seconds(lambda: compute_ids(traces))
    traces_per_s = len(traces) / hdag_s
    return {
        "records": len(traces),
        "text_chars": sum(len(trace.text) for trace in traces),
        "nodes": nodes,
        "repetitions": REPETITIONS,
        "build_validate_s": round(hdag_s, 4),
        "traces_per_s": round(traces_per_s, 1),
        "nodes_per_s": round(nodes / hdag_s, 1),
        "ms_per_trace": round(1000 * hdag_s / len(traces), 3),
        "baseline_trace_id_s": round(baseline_s, 4),
        "baseline_traces_per_s": round(len(traces) / baseline_s, 1),
        "ratio_to_baseline": round(hdag_s / baseline_s, 1),
        "tracemalloc_peak_bytes": peak_traced_bytes(lambda: build_and_validate(traces)),
        # ru_maxrss is in KiB on Linux.
        "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "target_traces_per_s": TARGET_TRACES_PER_S,
        "meets_target": traces_per_s >= TARGET_TRACES_PER_S,
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def format_table(figures: dict[str, Any]) -> str:
    rows = [
        ("records (ProcessBench dev)", f"{figures['records']}"),
        ("nodes built", f"{figures['nodes']}"),
        ("build + validate, best pass", f"{figures['build_validate_s']:.3f} s"),
        ("traces / s (one core)", f"{figures['traces_per_s']:.0f}"),
        ("nodes / s", f"{figures['nodes_per_s']:.0f}"),
        ("ms / trace", f"{figures['ms_per_trace']:.2f}"),
        ("baseline: trace id only", f"{figures['baseline_traces_per_s']:.0f} traces/s"),
        ("ratio to baseline", f"{figures['ratio_to_baseline']:.1f} x"),
        ("tracemalloc peak, one pass", f"{figures['tracemalloc_peak_bytes'] / 2**20:.1f} MiB"),
        ("process max RSS", f"{figures['max_rss_bytes'] / 2**20:.1f} MiB"),
        ("target traces / s", f"{figures['target_traces_per_s']} (met: {figures['meets_target']})"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def main() -> None:
    figures = measure()
    print(format_table(figures))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"written {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()

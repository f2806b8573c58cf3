"""Who&When: which agent and which step of a failed multi-agent run caused the failure.

Run from the repository root: `python benchmarks/whowhen.py [--files F ...] [--out ...json]`.

Each Who&When record (its own format: `question`, `history` of messages, `mistake_agent`,
`mistake_step`) becomes a trace in the record format of the other files: the question as the
problem, one step per message, the mistake step as the label (`to_trace`); `trustnode eval`
accepts the converted JSONL as any other file. Here the tier-1 checkers judge the HDAG's
segments in process, as `benchmarks/segmentation.py`'s `hdag` arm does, and the first INVALID
step is the predicted mistake step; its message's agent (the `name`, else the role before any
parenthesis) is the predicted agent. Beside it stand the published best method (53.5% agent,
14.2% step, from the data README) and two trivial baselines: blaming the first message, and
blaming the most frequent agent of the run. Writes the JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import DATA, RESULTS_DIR, stamp, write_result
from segmentation import predict_hdag

from protocol.hdag import build_hdag
from protocol.models import Trace

RESULTS = RESULTS_DIR / "whowhen.json"
DEFAULT_FILES = tuple(sorted(DATA.glob("whowhen-*.jsonl")))
PUBLISHED = {"agent_accuracy": 0.535, "step_accuracy": 0.142}


def agent_of(message: dict[str, Any]) -> str:
    name = message.get("name") or str(message.get("role", ""))
    return name.split(" (", 1)[0].strip()


def to_trace(record: dict[str, Any]) -> Trace:
    steps = [str(m.get("content", "")).strip() or "(empty message)" for m in record["history"]]
    body = {
        "id": record["id"],
        "source": record["source"],
        "problem": record["question"],
        "steps": steps,
        "label": int(record["mistake_step"]),
    }
    return Trace.model_validate_json(json.dumps(body))


def score(records: Sequence[dict[str, Any]], steps: Sequence[int]) -> dict[str, float]:
    """Shares of records whose predicted step, and whose predicted step's agent, are right."""
    step_hits = agent_hits = 0
    for record, step in zip(records, steps, strict=True):
        step_hits += step == int(record["mistake_step"])
        if 0 <= step < len(record["history"]):
            agent_hits += agent_of(record["history"][step]) == record["mistake_agent"]
    return {
        "step_accuracy": round(step_hits / len(records), 4),
        "agent_accuracy": round(agent_hits / len(records), 4),
    }


def most_frequent_agent_step(record: dict[str, Any]) -> int:
    agents = [agent_of(message) for message in record["history"]]
    busiest = Counter(agents).most_common(1)[0][0]
    return agents.index(busiest)


def measure(files: Sequence[Path]) -> dict[str, Any]:
    records = [
        json.loads(line)
        for path in files
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    predicted = []
    for record in records:
        trace = to_trace(record)
        predicted.append(predict_hdag(trace, build_hdag(trace), random.Random(0)))
    return {
        "records": len(records),
        "tier1_hdag": score(records, predicted)
        | {"no_error_found": round(sum(p < 0 for p in predicted) / len(records), 4)},
        "first_message": score(records, [0] * len(records)),
        "busiest_agent_first_message": score(
            records, [most_frequent_agent_step(r) for r in records]
        ),
        "published_best": PUBLISHED,
    }


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--files", type=Path, nargs="+", default=list(DEFAULT_FILES))
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    document = {
        "command": " ".join(["python", "benchmarks/whowhen.py", *argv]),
        "files": [path.name for path in args.files],
        **measure(args.files),
        "wall_s": round(time.perf_counter() - started, 1),
        **stamp(),
    }
    write_result(args.out, document)
    print(json.dumps(document, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

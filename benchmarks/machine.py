"""What the benchmarks record about the machine they ran on."""

from __future__ import annotations

import hashlib
import json
import platform
import time
from pathlib import Path

#: Rounds of the yardstick workload; about 0.2 s on the hosts measured so far.
YARDSTICK_ROUNDS = 20_000


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def host_speed(repeats: int = 5) -> float:
    """Rounds per second of a fixed pure-Python workload, the best of `repeats` runs.

    The shared hosts behind this machine's "model name" differ by up to 3x from day to day, so a
    benchmark records this beside its figures: two runs compare only after dividing by it. The
    workload (JSON, hashing, dicts, integer arithmetic) is independent of this project's code,
    so it does not move when the code does.
    """
    document = {"steps": [f"Step {i}: {i} * {i + 1} = {i * (i + 1)}" for i in range(20)]}
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for round_ in range(YARDSTICK_ROUNDS):
            text = json.dumps(document, sort_keys=True)
            digest = hashlib.sha256(text.encode()).digest()
            counts: dict[int, int] = {}
            for byte in digest:
                counts[byte % 7] = counts.get(byte % 7, 0) + round_ * byte
            json.loads(text)
        best = min(best, time.perf_counter() - started)
    return round(YARDSTICK_ROUNDS / best, 1)

"""Every record of the external development data builds a valid HDAG, one step node per step."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol.hdag import build_hdag
from protocol.hdag_validation import validate_hdag
from protocol.models import STEP_SEPARATOR, Level, Trace

DATA_DIR = Path(__file__).resolve().parents[3] / "shared/data/external-dev"
DATA_FILES = sorted(DATA_DIR.glob("processbench-*.jsonl")) + sorted(DATA_DIR.glob("bbm-*.jsonl"))


def _records(path: Path) -> list[Trace]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Trace.model_validate_json(line) for line in lines if line.strip()]


def test_the_data_set_is_present() -> None:
    if not DATA_DIR.is_dir():
        pytest.skip(f"external development data not found at {DATA_DIR}")
    assert len(DATA_FILES) == 9


@pytest.mark.parametrize("path", DATA_FILES, ids=[path.stem for path in DATA_FILES])
def test_every_record_builds_a_valid_hdag(path: Path) -> None:
    records = _records(path)
    assert records, f"{path.name} holds no records"
    for trace in records:
        hdag = build_hdag(trace)
        validate_hdag(hdag, trace)
        _assert_steps_match(trace, [hdag.node_text(n) for n in hdag.nodes if n.level is Level.STEP])


def _assert_steps_match(trace: Trace, step_texts: list[str]) -> None:
    assert trace.steps is not None
    assert len(step_texts) == len(trace.steps), trace.record_id
    expected = [step + STEP_SEPARATOR for step in trace.steps[:-1]] + [trace.steps[-1]]
    assert step_texts == expected, trace.record_id

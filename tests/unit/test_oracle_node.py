"""`oracle:P` auditors in the node: the labels file, `audit.oracle` in the config, `make_judge`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auditors.adversaries import Behaviour
from auditors.oracle import OracleConfigError
from node import oracle_labels
from node.config import AuditSettings, ConfigError, OracleSettings, load_config
from node.oracle_labels import OracleLabelsError, read_oracle_labels, write_oracle_labels
from node.pipeline import make_judge
from node.tracefile import read_traces
from protocol.ids import compute_trace_id
from protocol.models import Level, Segment, Tier, Vote

AUDITOR = "0x" + "a1" * 20
TRACE_A = "0x" + "ab" * 32
TRACE_B = "0x" + "cd" * 32
RECORDS = [
    {"id": "r-1", "problem": "2 + 2?", "steps": ["2 + 2 = 5.", "So 5."], "label": 0},
    {"id": "r-2", "problem": "3 + 3?", "steps": ["3 + 3 = 6.", "So 6."], "label": -1},
]


def _labels_file(directory: Path, content: Any, name: str = "labels.json") -> Path:
    path = directory / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def _config(directory: Path, oracle: dict[str, Any], **audit: Any) -> Path:
    path = directory / "node.json"
    config = {"data_dir": "data", "account": {"key_env": "K"}, "audit": {"oracle": oracle, **audit}}
    path.write_text(json.dumps(config))
    return path


# ---- the labels file ------------------------------------------------------------------------


def test_labels_written_from_a_jsonl_of_records_read_back(tmp_path: Path) -> None:
    jsonl = tmp_path / "records.jsonl"
    jsonl.write_text("".join(json.dumps(record) + "\n" for record in RECORDS))
    traces = [record.trace for record in read_traces(jsonl)]
    written = write_oracle_labels(traces, tmp_path / "labels.json")
    assert written == {compute_trace_id(traces[0]): 0, compute_trace_id(traces[1]): -1}
    assert read_oracle_labels(tmp_path / "labels.json") == written
    assert not list(tmp_path.glob("*.partial"))


def test_writing_nothing_or_unlabelled_records_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "labels.json"
    with pytest.raises(OracleLabelsError, match="no records"):
        write_oracle_labels([], path)
    jsonl = _labels_file(tmp_path, json.dumps({**RECORDS[0], "label": None}), "r.jsonl")
    with pytest.raises(OracleLabelsError, match="no label"):
        write_oracle_labels([record.trace for record in read_traces(jsonl)], path)
    assert not path.exists()


def test_upper_case_trace_ids_are_read_in_lower_case(tmp_path: Path) -> None:
    path = _labels_file(tmp_path, {TRACE_A.upper().replace("0X", "0x"): 3})
    assert read_oracle_labels(path) == {TRACE_A: 3}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{", "not a JSON document"),
        ([1, 2], "not a JSON object"),
        ({}, "holds no labels"),
        ({"trace-1": 0}, "not a 0x-prefixed trace id"),
        ({TRACE_A: -2}, "must be an integer in"),
        ({TRACE_A: 2_000}, "must be an integer in"),
        ({TRACE_A: 1.0}, "must be an integer in"),
        ({TRACE_A: True}, "must be an integer in"),
        ({TRACE_A: "1"}, "must be an integer in"),
        (f'{{"{TRACE_A}": 1, "{TRACE_A}": 2}}', "twice with different labels"),
    ],
)
def test_bad_labels_files_are_refused(tmp_path: Path, content: Any, problem: str) -> None:
    with pytest.raises(OracleLabelsError, match=problem):
        read_oracle_labels(_labels_file(tmp_path, content))


def test_missing_and_oversized_labels_files_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(OracleLabelsError, match="no such labels file"):
        read_oracle_labels(tmp_path / "absent.json")
    path = _labels_file(tmp_path, {TRACE_A: 0, TRACE_B: 1})
    monkeypatch.setattr(oracle_labels, "MAX_ORACLE_LABELS_BYTES", path.stat().st_size - 1)
    with pytest.raises(OracleLabelsError, match="exceeds"):
        read_oracle_labels(path)


# ---- audit.oracle in the config -------------------------------------------------------------


def test_oracle_settings_resolve_the_labels_file_and_read_it(tmp_path: Path) -> None:
    _labels_file(tmp_path, {TRACE_A: 1})
    config = load_config(_config(tmp_path, {"labels_file": "labels.json", "accuracy": 0.7}))
    oracle = config.audit.oracle
    assert oracle is not None
    assert oracle.labels_file == tmp_path / "labels.json"
    assert (oracle.accuracy, oracle.seed, dict(oracle.labels)) == (0.7, 0, {TRACE_A: 1})


@pytest.mark.parametrize(
    ("oracle", "field", "problem"),
    [
        ({"accuracy": 0}, "audit.oracle.accuracy", "greater than 0"),
        ({"accuracy": 1.01}, "audit.oracle.accuracy", "less than or equal to 1"),
        ({"accuracy": "0.7"}, "audit.oracle.accuracy", "valid number"),
        ({"seed": -1}, "audit.oracle.seed", "greater than or equal to 0"),
        ({"seed": 1.5}, "audit.oracle.seed", "valid integer"),
        ({"colour": "blue"}, "audit.oracle.colour", "Extra inputs"),
        ({"labels_file": "absent.json"}, "audit.oracle", "no such labels file"),
        ({"labels_file": "bad.json"}, "audit.oracle", "must be an integer in"),
        ({"labels_file": None}, "audit.oracle.labels_file", ""),
    ],
)
def test_bad_oracle_settings_name_the_field(
    tmp_path: Path, oracle: dict[str, Any], field: str, problem: str
) -> None:
    _labels_file(tmp_path, {TRACE_A: 1})
    _labels_file(tmp_path, {TRACE_A: -5}, "bad.json")
    settings = {"labels_file": "labels.json", "accuracy": 0.7, "seed": 1, **oracle}
    with pytest.raises(ConfigError, match=f"field '{field}': .*{problem}"):
        load_config(_config(tmp_path, settings))


def test_an_oversized_labels_file_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oracle_labels, "MAX_ORACLE_LABELS_BYTES", 10)
    _labels_file(tmp_path, {TRACE_A: 1})
    with pytest.raises(ConfigError, match=r"field 'audit.oracle': .*exceeds the 10-byte limit"):
        load_config(_config(tmp_path, {"labels_file": "labels.json", "accuracy": 1}))


@pytest.mark.parametrize(
    "other",
    [
        {"llm": {"endpoint": "http://127.0.0.1:8080/v1"}},
        {"human_review": True, "review_deadline_s": 5},
    ],
)
def test_an_oracle_replaces_llm_and_human_judges_so_both_are_refused(
    tmp_path: Path, other: dict[str, Any]
) -> None:
    _labels_file(tmp_path, {TRACE_A: 1})
    path = _config(tmp_path, {"labels_file": "labels.json", "accuracy": 1}, **other)
    with pytest.raises(ConfigError, match="oracle replaces every judge"):
        load_config(path)


# ---- make_judge -----------------------------------------------------------------------------


def _settings(tmp_path: Path, behaviour: Behaviour = "honest") -> AuditSettings:
    labels = _labels_file(tmp_path, {TRACE_A: 0})
    oracle = OracleSettings(labels_file=labels, accuracy=1.0, seed=0)
    return AuditSettings(oracle=oracle, behaviour=behaviour)


def _layout_of(trace_id: str) -> bytes | None:
    # Segment 0 on step 0, segment 1 on step 1, both steps.
    step = bytes([Level.STEP.depth])
    return step + b"\x00\x00" + step + b"\x00\x01" if trace_id == TRACE_A else None


def _segment(index: int, text: str, trace_id: str = TRACE_A) -> Segment:
    return Segment(
        trace_id=trace_id,
        index=index,
        node_id="0x" + "ef" * 32,
        level=Level.STEP,
        tier=Tier.CHECKER,
        problem="2 + 2?",
        text=text,
    )


async def test_an_oracle_node_judges_by_label_not_by_its_checkers(tmp_path: Path) -> None:
    judge = make_judge(_settings(tmp_path), auditor=AUDITOR, layout_of=_layout_of)
    assert judge is not None
    # The checker would say VALID on step 0 and INVALID on step 1: the label says the opposite.
    assert (await judge.judge(_segment(0, "2 + 2 = 4."))).vote is Vote.INVALID
    assert (await judge.judge(_segment(1, "2 + 2 = 5."))).vote is Vote.VALID
    assert (await judge.judge(_segment(0, "2 + 2 = 4.", TRACE_B))).vote is Vote.ABSTAIN


async def test_adversaries_compose_with_an_oracle(tmp_path: Path) -> None:
    flip = make_judge(_settings(tmp_path, "flip"), auditor=AUDITOR, layout_of=_layout_of)
    assert flip is not None
    assert (await flip.judge(_segment(0, "2 + 2 = 4."))).vote is Vote.VALID
    lazy = make_judge(_settings(tmp_path, "always-valid"), auditor=AUDITOR, layout_of=_layout_of)
    assert lazy is not None
    assert (await lazy.judge(_segment(0, "2 + 2 = 4."))).vote is Vote.VALID
    assert make_judge(_settings(tmp_path, "absent"), auditor=AUDITOR, layout_of=_layout_of) is None


def test_an_oracle_without_its_inputs_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OracleConfigError, match="auditor address and layout_of"):
        make_judge(_settings(tmp_path))

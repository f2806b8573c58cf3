from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.tracefile import MAX_TRACE_FILE_BYTES, TraceFileError, read_traces

GOOD = {"problem": "p", "steps": ["1 + 1 = 2"]}


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_reads_one_trace_and_jsonl_records(tmp_path: Path) -> None:
    single = _write(tmp_path, "t.json", json.dumps(GOOD))
    many = _write(tmp_path, "t.jsonl", json.dumps(GOOD) + "\n\n" + json.dumps(GOOD) + "\n")
    assert len(list(read_traces(single))) == 1
    records = list(read_traces(many))
    assert [record.where for record in records] == [f"{many} line 1", f"{many} line 3"]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("bad.json", "{not json", "invalid JSON"),
        ("list.json", "[1, 2]", "must be a JSON object, got list"),
        ("missing.json", json.dumps({"steps": ["a"]}), "field 'problem': Field required"),
        ("type.json", json.dumps({"problem": "p", "steps": "a"}), "field 'steps'"),
        ("empty.json", json.dumps({"problem": "p", "reasoning": "  "}), "text is empty"),
        ("binary.json", b"\xff\xfe\x00", "not UTF-8"),
    ],
)
def test_errors_name_file_and_field(
    tmp_path: Path, name: str, content: str | bytes, expected: str
) -> None:
    path = _write(tmp_path, name, content)
    with pytest.raises(TraceFileError, match=expected) as info:
        list(read_traces(path))
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_jsonl_error_names_line_and_record_id(tmp_path: Path) -> None:
    bad = {"id": "rec-7", "problem": "p", "steps": [3]}
    path = _write(tmp_path, "r.jsonl", json.dumps(GOOD) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(TraceFileError, match=r"line 2 \(id rec-7\): field 'steps.0'"):
        list(read_traces(path))


def test_oversized_inputs_are_refused_before_parsing(tmp_path: Path) -> None:
    big = _write(tmp_path, "big.json", " " * (MAX_TRACE_FILE_BYTES + 1))
    with pytest.raises(TraceFileError, match="exceeds"):
        list(read_traces(big))
    line = json.dumps({"problem": "p", "reasoning": "x" * (MAX_TRACE_FILE_BYTES + 1)})
    with pytest.raises(TraceFileError, match="line 1: record exceeds"):
        list(read_traces(_write(tmp_path, "big.jsonl", line + "\n")))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TraceFileError, match="no such file"):
        list(read_traces(tmp_path / "nope.json"))


def test_directory_is_not_a_trace_file(tmp_path: Path) -> None:
    with pytest.raises(TraceFileError, match="not a regular file"):
        list(read_traces(tmp_path))

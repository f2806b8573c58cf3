"""`trustnode segment` and `trustnode demo`: output shapes, and one-line errors with exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from node.cli import main
from protocol.models import Level

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "traces" / "flawed-arithmetic.json"
EXAMPLES_JSONL = REPO / "examples" / "traces.jsonl"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_segment_prints_an_indented_tree(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["segment", str(EXAMPLE)], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("trace 0x")
    assert lines[2].startswith("goal ")
    assert any(
        line.startswith("    ") and "operation" in line and "6 * 15 = 80" in line for line in lines
    )


def test_segment_json_has_the_documented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["segment", str(EXAMPLES_JSONL), "--json"], capsys)
    assert code == 0
    documents = [json.loads(line) for line in out.splitlines()]
    assert len(documents) == len(EXAMPLES_JSONL.read_text().splitlines())
    for document in documents:
        assert set(document) == {"id", "root", "text", "nodes"}
        for node in document["nodes"]:
            assert set(node) == {"id", "level", "span", "parents", "deps", "text"}
            start, end = node["span"]
            assert document["text"][start:end] == node["text"]
            assert Level(node["level"])
        steps = [n for n in document["nodes"] if n["level"] == "step"]
        assert "".join(n["text"] for n in steps) == document["text"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"problem": "p", "steps": [1]}', "line 1: field 'steps.0'"),
        ('{"problem": "p"', "line 1: invalid JSON"),
        ('{"steps": ["a"]}', "line 1: field 'problem': Field required"),
    ],
)
def test_segment_errors_are_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content + "\n")
    code, out, err = _run(["segment", str(path)], capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("trustnode: error: ") and expected in err


def test_installed_command_never_prints_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_bytes(b"\x00\xff garbage")
    trustnode = Path(sys.executable).with_name("trustnode")
    result = subprocess.run(
        [str(trustnode), "segment", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "not UTF-8" in result.stderr


def test_segment_names_the_record_of_a_too_large_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "huge.jsonl"
    record = {"id": "huge", "problem": "p", "steps": ["Then 1 + 1 = 2."] * 2000}
    path.write_text(json.dumps(record) + "\n")
    code, _, err = _run(["segment", str(path)], capsys)
    assert code == 2
    assert "line 1 (id huge): the trace splits into" in err


ONE_RECORD = '{"id": "a", "problem": "p", "steps": ["a"], "label": -1}\n'


@pytest.mark.parametrize(
    ("extra", "content", "expected"),
    [
        ([], None, "no such file"),
        ([], '{"problem": "p", "steps": ["a"]}\n', "needs an 'id' and a 'label'"),
        (
            ["--auditors", "oracle:2"],
            ONE_RECORD,
            "--auditors must be",
        ),
        (
            ["--devnet", "/nonexistent", "--byzantine", "0.2"],
            ONE_RECORD,
            "not with --devnet",
        ),
        (
            ["--devnet", "/nonexistent", "--commit-window", "60"],
            ONE_RECORD,
            "not with --devnet",
        ),
        (
            ["--devnet", "/nonexistent", "--stakes", "10,10,20,30,30"],
            ONE_RECORD,
            "not with --devnet",
        ),
        (
            ["--nodes", "3", "--stakes", "10,10,20,30,30"],
            ONE_RECORD,
            "--stakes: 5 stakes for 3 dev auditors",
        ),
    ],
)
def test_eval_errors_are_one_line_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    content: str | None,
    expected: str,
) -> None:
    records = tmp_path / "records.jsonl"
    if content is not None:
        records.write_text(content, encoding="utf-8")
    code, _, err = _run(["eval", str(records), "--out", str(tmp_path / "o.json"), *extra], capsys)
    assert code == 2
    assert expected in err and err.count("\n") == 1
    assert not (tmp_path / "o.json").exists()


@pytest.mark.parametrize(
    "bad",
    [
        ["--byzantine", "1.5"],
        ["--limit", "0"],
        ["--in-flight", "x"],
        ["--commit-window", "0"],
        ["--stall-timeout", "-5"],
        ["--stakes", "10,x"],
        ["--stakes", "10,0,5"],
        ["--stakes", ""],
    ],
)
def test_eval_refuses_bad_numbers(tmp_path: Path, bad: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["eval", str(tmp_path / "r.jsonl"), "--out", str(tmp_path / "o.json"), *bad])
    assert exited.value.code == 2

"""Reading traces from files: one trace JSON object, or a JSONL file of records.

Every problem becomes a `TraceFileError` whose message names the file, the record (line number
and record id when known) and the field, so the CLI can print one line and exit 2.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from protocol.models import Trace
from protocol.params import MAX_RECORD_BYTES

#: Largest trace file read whole (a single JSON object); JSONL files are streamed line by line.
MAX_TRACE_FILE_BYTES = MAX_RECORD_BYTES


class TraceFileError(Exception):
    """A trace file or one of its records is unusable; the message is one complete line."""


@dataclass(frozen=True)
class TraceRecord:
    """A validated trace and where it came from, for messages that point back at the input."""

    trace: Trace
    where: str


def read_traces(path: Path) -> Iterator[TraceRecord]:
    """Yield each trace of `path`; JSONL when the name ends in .jsonl, one JSON object otherwise."""
    if not path.exists():
        raise TraceFileError(f"{path}: no such file")
    if not path.is_file():
        raise TraceFileError(f"{path}: not a regular file")
    if path.suffix == ".jsonl":
        yield from _read_jsonl(path)
    else:
        yield _read_single(path)


def _read_single(path: Path) -> TraceRecord:
    size = path.stat().st_size
    if size > MAX_TRACE_FILE_BYTES:
        raise TraceFileError(
            f"{path}: {size} bytes exceeds the {MAX_TRACE_FILE_BYTES}-byte limit of a trace file"
        )
    return parse_trace(path.read_bytes(), str(path))


def _read_jsonl(path: Path) -> Iterator[TraceRecord]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            where = f"{path} line {number}"
            if len(line) > MAX_RECORD_BYTES:
                raise TraceFileError(f"{where}: record exceeds the {MAX_RECORD_BYTES}-byte limit")
            if line.strip():
                yield parse_trace(line, where)


def _decode(raw: bytes, where: str) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise TraceFileError(f"{where}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise TraceFileError(f"{where}: invalid JSON ({exc.msg} at char {exc.pos})") from None


def parse_trace(raw: bytes, where: str) -> TraceRecord:
    """Validate one JSON document as a Trace, naming the record and field on failure.

    Validation runs on the JSON text itself so strict typing uses JSON semantics (arrays are
    accepted for tuples, but "3" is never an integer).
    """
    value = _decode(raw, where)
    if not isinstance(value, dict):
        raise TraceFileError(f"{where}: a trace must be a JSON object, got {type(value).__name__}")
    record_id = value.get("id")
    if isinstance(record_id, str):
        where = f"{where} (id {record_id[:80]})"
    try:
        return TraceRecord(Trace.model_validate_json(raw), where)
    except ValidationError as exc:
        raise TraceFileError(f"{where}: {describe_validation_error(exc)}") from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming the first bad field: "field 'steps.2': Input should be a valid string"."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    return f"field '{field}': {message}" if field else message

"""The labels file of `oracle:P` auditors: one JSON object {trace id: label}.

A labelled simulation for experiments (`auditors.oracle`), never a deployment judge. The file is
written from the records before they are submitted, keyed by the id of each record exactly as it
will be submitted, and read (bounded, validated) when a node's configuration names it:

    traces = [record.trace for record in read_traces(Path("data.jsonl"))]
    write_oracle_labels(traces, Path("labels.json"))
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from auditors.oracle import NO_ERROR, OracleConfigError, compute_oracle_labels
from node.files import read_bounded
from protocol.models import Trace
from protocol.params import MAX_STEPS

__all__ = [
    "MAX_ORACLE_LABELS_BYTES",
    "OracleLabelsError",
    "read_oracle_labels",
    "write_oracle_labels",
]

MAX_ORACLE_LABELS_BYTES = 8 * 2**20
"""Largest labels file read or written: about 100,000 labels at about 75 bytes each."""

_TRACE_ID = re.compile(r"^0x[0-9a-fA-F]{64}$")


class OracleLabelsError(ValueError):
    """A labels file is unusable; the message is one line naming the file and the problem."""


def read_oracle_labels(path: Path) -> dict[str, int]:
    """The {trace id (lowercase): label} of `path`; OracleLabelsError on any problem.

    Refused: a missing or oversized file, anything but a non-empty JSON object, a key that is
    not a trace id, the same id twice with different labels, a label that is not an integer in
    [-1, MAX_STEPS).
    """
    raw = read_bounded(path, MAX_ORACLE_LABELS_BYTES, "labels file", OracleLabelsError)
    try:
        pairs = json.loads(raw.decode("utf-8"), object_pairs_hook=_pairs)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OracleLabelsError(f"{path}: not a JSON document ({exc})") from None
    if not isinstance(pairs, _Pairs):
        raise OracleLabelsError(f"{path}: not a JSON object of trace id -> label")
    return _validate(path, pairs)


class _Pairs(list[tuple[str, Any]]):
    """An object's members in file order, duplicates kept, so they can be refused."""


def _pairs(members: list[tuple[str, Any]]) -> _Pairs:
    return _Pairs(members)


def _validate(path: Path, pairs: _Pairs) -> dict[str, int]:
    if not pairs:
        raise OracleLabelsError(f"{path}: holds no labels")
    labels: dict[str, int] = {}
    for key, label in pairs:
        if not _TRACE_ID.match(key):
            raise OracleLabelsError(f"{path}: key {key[:70]!r} is not a 0x-prefixed trace id")
        # bool is an int to Python, not to JSON: `true` is no label.
        if type(label) is not int or not NO_ERROR <= label < MAX_STEPS:
            raise OracleLabelsError(
                f"{path}: label of {key} must be an integer in [-1, {MAX_STEPS}), got {label!r}"
            )
        trace_id = key.lower()
        if labels.get(trace_id, label) != label:
            raise OracleLabelsError(f"{path}: {key} appears twice with different labels")
        labels[trace_id] = label
    return labels


def write_oracle_labels(records: Iterable[Trace], path: Path) -> dict[str, int]:
    """Write the labels of `records` to `path` (atomically) and return them.

    Every record must carry a label; no records, a record without a label, or more labels than
    the file limit holds raises OracleLabelsError and leaves `path` untouched.
    """
    try:
        labels = compute_oracle_labels(records)
    except OracleConfigError as exc:
        raise OracleLabelsError(f"{path}: {exc}") from None
    if not labels:
        raise OracleLabelsError(f"{path}: no records to take labels from")
    encoded = (json.dumps(dict(sorted(labels.items())), indent=1) + "\n").encode("utf-8")
    if len(encoded) > MAX_ORACLE_LABELS_BYTES:
        raise OracleLabelsError(
            f"{path}: {len(labels)} labels exceed the {MAX_ORACLE_LABELS_BYTES}-byte limit"
        )
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(encoded)
    os.replace(partial, path)
    return labels

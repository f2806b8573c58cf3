"""Reading a small file a node is given (config, labels), bounded, with one-line errors."""

from __future__ import annotations

from pathlib import Path


def read_bounded(path: Path, limit: int, kind: str, error: type[Exception]) -> bytes:
    """The bytes of `path`, or `error` with a message naming the file: missing (`no such
    {kind}`), larger than `limit` bytes, or unreadable."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise error(f"{path}: {size} bytes exceeds the {limit}-byte limit")
        return path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: no such {kind}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror})") from None

"""Length-prefixed frames for the `/trust/1/fetch` request/response protocol.

One request frame, one response frame per stream: a 4-byte big-endian length, then the payload.
The length is checked against the limit before any payload is read, so a peer cannot make us
buffer more than `max_bytes`.
"""

from __future__ import annotations

from typing import Any

from libp2p.network.stream.exceptions import StreamEOF

_LENGTH_BYTES = 4


class FrameError(Exception):
    """A frame was oversized, or the stream ended before the frame was complete."""


def encode_frame(payload: bytes, max_bytes: int) -> bytes:
    if len(payload) > max_bytes:
        raise FrameError(f"frame of {len(payload)} bytes exceeds {max_bytes}")
    return len(payload).to_bytes(_LENGTH_BYTES, "big") + payload


async def _read_exactly(stream: Any, count: int) -> bytes:
    """Streams return what has arrived, so loop; StreamEOF before `count` bytes is an error."""
    chunks: list[bytes] = []
    remaining = count
    while remaining > 0:
        try:
            chunk = await stream.read(remaining)
        except StreamEOF:
            chunk = b""
        if not chunk:
            raise FrameError(f"stream ended {remaining} bytes short of a {count}-byte read")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


async def read_frame(stream: Any, max_bytes: int) -> bytes:
    length = int.from_bytes(await _read_exactly(stream, _LENGTH_BYTES), "big")
    if length > max_bytes:
        raise FrameError(f"peer announced a {length}-byte frame, limit is {max_bytes}")
    return await _read_exactly(stream, length) if length else b""

"""Fixtures that start real processes on 127.0.0.1 and stop them by process id."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devnet.anvil import AnvilProcess, start_anvil, stop_anvil


@pytest.fixture
def anvil(tmp_path: Path) -> Iterator[AnvilProcess]:
    process = start_anvil(tmp_path / "anvil")
    try:
        yield process
    finally:
        stop_anvil(process.pid)

"""Fixtures that start real processes on 127.0.0.1 and stop them by process id."""

from __future__ import annotations

import gc
import warnings
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


@pytest.fixture(scope="session", autouse=True)
def _collect_leaked_libp2p_sockets() -> Iterator[None]:
    """After the last test, collect the sockets py-libp2p leaves behind in test-process hosts.

    A host stopped after a peer it was connected to died (the pipeline tests' spy) keeps a
    connection socket reachable from trio's thread cache until interpreter exit; unclosed, it
    would surface as an unraisable ResourceWarning after the session, failing the run. Only
    socket ResourceWarnings are silenced, and only in this final collection; node processes
    are separate and exit with their sockets.
    """
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()

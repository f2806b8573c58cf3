"""`trustnode demo` end to end: Anvil and five node processes audit the examples over gossip;
the verdicts are read from the chain."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devnet.anvil import is_anvil

TRUSTNODE = str(Path(sys.executable).with_name("trustnode"))


def test_demo_finds_the_planted_errors_on_chain() -> None:
    result = subprocess.run(
        [TRUSTNODE, "demo"], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "flawed-arithmetic.json: FLAWED (read from the Ledger)" in out
    assert "first error: step 0: To find the total cost" in out
    assert "flawed-comparison.json: FLAWED (read from the Ledger)" in out
    assert "first error: step 0: Compare the two scores: 47 > 52" in out
    assert "sound-apples.json: FLAWED" not in out
    assert "sound-arithmetic.json: SOUND (read from the Ledger)" in out
    assert out.count("finalize 0x") == 5
    assert out.count("coordinated by node") == 5
    pid = int(out.rsplit("and anvil (pid ", 1)[1].split(")")[0])
    assert not is_anvil(pid)

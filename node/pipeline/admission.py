"""How many traces a coordinator drives at once, adapted to how fast their rounds complete.

Phases are event-driven: a round's commits arrive as fast as its auditors can judge, and the
commit window only bounds the wait for auditors that never answer. When the nodes' CPU is the
bottleneck, every extra trace in flight slows every round; once commits arrive after the
window, honest auditors are counted absent, segments escalate, traces stall and are finalized
twice over, and throughput collapses instead of levelling off (measured on the five-node
devnet: 4.7 segments/s with 32 traces in flight against 11.3 with 6).

So a coordinator admits traces the way TCP sends packets (AIMD). A round whose last commit
arrived within `CONGESTED_SHARE` of the commit window is a good signal: one more trace per good
round until the first congestion (slow start), then one more per `limit` good rounds. A round
whose last commit came later halves the limit, once per congestion event: rounds that started
before the last decrease were already in flight and say nothing new. The signal is the last
commit that *arrived*, so an auditor that never answers (a node down) is not read as load; a
round judged by the human tier is no signal at all, since its pace is a person's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

#: A round is congested when its last commit arrived later than this share of the window.
CONGESTED_SHARE = 0.5
DEFAULT_INITIAL_LIMIT = 4
DEFAULT_CEILING = 128


@dataclass(frozen=True)
class RoundSignal:
    """What one finished commit phase says about the load (monotonic seconds)."""

    started_at: float
    finished_at: float
    #: From the round's start to its last commit that arrived; None when none arrived.
    commit_delay_s: float | None
    commit_window_s: float


def is_congested(signal: RoundSignal) -> bool:
    """True when the round's commits arrived late enough to crowd the window."""
    if signal.commit_delay_s is None:
        return False
    return signal.commit_delay_s > CONGESTED_SHARE * signal.commit_window_s


class AdmissionControl:
    """A semaphore whose size follows the rounds' signals; used from one event loop."""

    def __init__(
        self,
        *,
        adaptive: bool = True,
        initial: int = DEFAULT_INITIAL_LIMIT,
        ceiling: int = DEFAULT_CEILING,
    ) -> None:
        """`adaptive` False: a fixed limit of `ceiling` (the benchmark's baseline)."""
        if not 1 <= initial <= ceiling:
            raise ValueError(f"need 1 <= initial ({initial}) <= ceiling ({ceiling})")
        self.adaptive = adaptive
        self.ceiling = ceiling
        self.limit = float(initial if adaptive else ceiling)
        self.active = 0
        self.decreases = 0
        self._slow_start = True
        self._decreased_at = float("-inf")
        self._room = asyncio.Event()
        self._room.set()

    @property
    def capacity(self) -> int:
        return max(1, min(self.ceiling, int(self.limit)))

    async def acquire(self) -> None:
        while self.active >= self.capacity:
            self._room.clear()
            await self._room.wait()
        self.active += 1

    def release(self) -> None:
        self.active -= 1
        self._room.set()

    def on_round(self, signal: RoundSignal) -> None:
        """Adjust the limit to one finished commit phase."""
        if not self.adaptive:
            return
        if is_congested(signal):
            if signal.started_at > self._decreased_at:
                self.limit = max(1.0, self.limit / 2)
                self._slow_start = False
                self._decreased_at = signal.finished_at
                self.decreases += 1
            return
        step = 1.0 if self._slow_start else 1 / self.limit
        self.limit = min(float(self.ceiling), self.limit + step)
        self._room.set()

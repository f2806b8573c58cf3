"""A progress line for long evaluations: items done, rate, ETA.

On a terminal the line is redrawn in place (at most a few times a second); to a file or pipe a
full line is written every `every` items, so logs stay readable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

REDRAW_S = 0.25
DEFAULT_EVERY = 25


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def format_progress(done: int, total: int, rate_per_s: float | None, width: int = 24) -> str:
    """`[#######-----------------] 12/40 30% 1.50/s ETA 00:19` (no rate or ETA while unknown)."""
    share = done / total if total else 1.0
    filled = int(width * share)
    line = f"[{'#' * filled}{'-' * (width - filled)}] {done}/{total} {share:.0%}"
    if rate_per_s:
        line += f" {rate_per_s:.2f}/s ETA {format_duration((total - done) / rate_per_s)}"
    return line


class Progress:
    """Counts completed items of a run that may resume with some already done."""

    def __init__(
        self,
        total: int,
        out: TextIO,
        *,
        already_done: int = 0,
        every: int = DEFAULT_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.done = already_done
        self._out = out
        self._every = every
        self._clock = clock
        self._started = clock()
        #: The rate counts only this run's items, not those a resumed run found done.
        self._resumed = already_done
        self._drawn_at = float("-inf")
        self._live = out.isatty()

    def advance(self, note: str = "") -> None:
        self.done += 1
        now = self._clock()
        last = self.done == self.total
        if self._live and (last or now - self._drawn_at >= REDRAW_S):
            self._out.write("\r" + self._line(now, note) + ("\n" if last else ""))
            self._out.flush()
            self._drawn_at = now
        elif not self._live and (last or self.done % self._every == 0):
            self._out.write(self._line(now, note) + "\n")
            self._out.flush()

    def _line(self, now: float, note: str) -> str:
        elapsed = now - self._started
        rate = (self.done - self._resumed) / elapsed if elapsed > 0 else None
        return format_progress(self.done, self.total, rate) + (f"  {note}" if note else "")

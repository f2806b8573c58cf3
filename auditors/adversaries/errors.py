"""The one error an adversary's configuration raises."""

from __future__ import annotations


class AdversaryConfigError(ValueError):
    """A judging behaviour is unknown, or lacks (or gets a bad) parameter it needs."""

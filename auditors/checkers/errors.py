"""The one exception of the checkers: text a checker cannot, or will not, judge."""

from __future__ import annotations


class UnparseableError(Exception):
    """The text is not something this checker understands, or exceeds its bounds.

    Checkers turn it into an abstention: the segment moves up a tier.
    """

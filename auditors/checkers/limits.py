"""Bounds that keep every tier-1 check cheap on hostile input.

Each check refuses (and its checker abstains) rather than spend more than these allow, so a
trace crafted to exhaust an auditor's memory or time only moves its segments up a tier.
"""

from __future__ import annotations

#: Longest relation chain judged; longer text is not a single mechanical act.
MAX_RELATION_CHARS = 1000
#: Longest segment text a checker reads at all; longer segments are left to higher tiers.
MAX_SEGMENT_CHARS = 50_000
#: Digits of one written operand (the old `10^10000`-digit trick).
MAX_OPERAND_DIGITS = 200
#: Largest integer exponent evaluated, so `9^9^9` is refused, not computed.
MAX_EXPONENT = 64
#: Largest bit length of an intermediate numerator or denominator.
MAX_VALUE_BITS = 4096
#: Deepest bracket nesting parsed (the recursive-descent parser recurses once per level).
MAX_NESTING = 40
#: Most tokens in one side of a relation.
MAX_TOKENS = 400
#: Most AST nodes handed to sympy, and its polynomial degree and symbol bounds: expanding a
#: polynomial of degree d in v symbols yields at most C(d + v, v) terms.
MAX_SYMBOLIC_NODES = 200
MAX_SYMBOLIC_DEGREE = 16
MAX_SYMBOLS = 4
#: Most claims one checker reports for one segment.
MAX_CLAIMS = 500

"""Versioned judge prompts, shipped as package data: `<name>-v<N>.txt` beside this module.

A prompt file holds a `[system]` and a `[user]` section; `$problem`, `$context` and `$text`
are the segment's context pack, which is all the judge sees. A released file is never edited:
a change is a new version, so the version in a rationale says exactly what the judge was asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template

from auditors.llm.errors import LlmConfigError
from auditors.llm.wire import ChatMessage
from protocol.models import Segment

#: Yes/No question, scored from the first answer token's logprobs.
SEGMENT_PROMPT = "segment-v1"
#: The same question asking for `{"verdict": ..., "confidence": ...}`, for servers without logprobs.
SEGMENT_JSON_PROMPT = "segment-json-v1"
#: What the context placeholder reads when the segment depends on nothing.
NO_CONTEXT = "(none)"

_VERSION = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*-v[0-9]+$")
_SECTION = re.compile(r"^\[(system|user)\]$", re.MULTILINE)
_PLACEHOLDERS = frozenset({"problem", "context", "text"})


@dataclass(frozen=True)
class PromptTemplate:
    """A loaded prompt: its version (the file name without `.txt`) and its two sections."""

    version: str
    system: Template
    user: Template

    def render(self, segment: Segment) -> tuple[ChatMessage, ...]:
        """The chat messages for `segment`. `$` in segment text is copied verbatim."""
        fields = {
            "problem": segment.problem.strip(),
            "context": render_context(segment.context),
            "text": segment.text.strip(),
        }
        return (
            ChatMessage("system", self.system.substitute(fields)),
            ChatMessage("user", self.user.substitute(fields)),
        )


def render_context(claims: tuple[str, ...]) -> str:
    """Claims numbered in text order, one a line; NO_CONTEXT for none."""
    if not claims:
        return NO_CONTEXT
    return "\n".join(f"{number}. {claim.strip()}" for number, claim in enumerate(claims, 1))


@cache
def load_prompt(version: str) -> PromptTemplate:
    """The prompt `version` (e.g. "segment-v1"); LlmConfigError when unknown or ill-formed."""
    if not _VERSION.match(version):
        raise LlmConfigError(f"not a prompt version: {version!r}")
    resource = resources.files(__package__).joinpath(f"{version}.txt")
    if not resource.is_file():
        raise LlmConfigError(f"no prompt file for {version!r}")
    return parse_prompt(version, resource.read_text(encoding="utf-8"))


def parse_prompt(version: str, source: str) -> PromptTemplate:
    """Split `source` into its `[system]` and `[user]` sections, in that order, each once, using
    only the three context-pack placeholders."""
    parts = _SECTION.split(source)
    # split() gives [preamble, name, body, name, body]
    if len(parts) != 5 or parts[0].strip() or (parts[1], parts[3]) != ("system", "user"):
        raise LlmConfigError(f"prompt {version!r} needs a [system] then a [user] section")
    system, user = Template(parts[2].strip()), Template(parts[4].strip())
    for template in (system, user):
        unknown = set(template.get_identifiers()) - _PLACEHOLDERS
        if unknown or not template.is_valid():
            raise LlmConfigError(f"prompt {version!r} has bad placeholders: {sorted(unknown)}")
    return PromptTemplate(version, system, user)

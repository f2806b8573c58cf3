"""The one exception tree of the LLM evaluator: catch `LlmError` to catch them all.

```
LlmError
├── LlmConfigError           settings or environment incomplete or invalid
├── LlmTransportError        the endpoint could not be reached (after the retries)
│   └── LlmTimeoutError      a read, write or pool timeout (never retried)
├── LlmStatusError           the endpoint answered an HTTP error status
├── LlmResponseError         the endpoint answered 2xx with a body we refuse
│   ├── MalformedResponseError    not JSON, or not the chat-completion shape
│   └── ResponseTooLargeError     larger than the configured bound
└── LocalLlmError            the local llama.cpp server could not be found, started or stopped
```
"""

from __future__ import annotations


class LlmError(Exception):
    """Base of every error raised by `auditors.llm`."""


class LlmConfigError(LlmError):
    """The settings (or the `TRUST_LLM_*` environment) are missing or invalid."""


class LlmTransportError(LlmError):
    """The endpoint could not be reached, including after every retry of a connect error."""


class LlmTimeoutError(LlmTransportError):
    """A read, write or pool timeout: not retried, since the server may still be generating."""


class LlmStatusError(LlmError):
    """An HTTP error status: a 4xx at once, a 429 or 5xx once the retries are spent."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"HTTP {status_code}: {message}")
        self.status_code = status_code


class LlmResponseError(LlmError):
    """A 2xx answer whose body cannot be used."""


class MalformedResponseError(LlmResponseError):
    """The body is not JSON or lacks the chat-completion fields (`choices[0].message`)."""


class ResponseTooLargeError(LlmResponseError):
    """The body exceeds the configured byte bound; reading stopped at the bound."""


class LocalLlmError(LlmError):
    """The local llama.cpp server (optional extra `local-llm`) is missing or failed."""

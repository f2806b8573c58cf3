"""The `trustnode` command line.

Each subcommand is a small function taking the parsed arguments and returning an exit code.
Errors the user can fix end with one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

# The demo lives in devnet/, the layer above node/; only the CLI entry point reaches up.
from devnet.demo import run_offline_demo
from node.tracefile import TraceFileError, read_traces
from protocol.errors import ProtocolError
from protocol.hdag import build_hdag
from protocol.hdag_validation import validate_hdag
from protocol.models import Hdag, HdagNode

EXIT_USAGE = 2
EXCERPT_CHARS = 60


class CliError(Exception):
    """A user-facing failure: printed as one line, exit code 2."""


def _excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _node_depths(hdag: Hdag) -> dict[str, int]:
    """Indentation depth of each node: its distance from the goal along decomposition edges."""
    depths: dict[str, int] = {}
    for node in hdag.nodes:  # canonical order lists every parent before its children
        depths[node.id] = 0 if node.parent is None else depths[node.parent] + 1
    return depths


def format_hdag_tree(hdag: Hdag, label: str) -> str:
    depths = _node_depths(hdag)
    lines = [f"trace {hdag.trace_id}  {label}", f"root  {hdag.root}  ({len(hdag.nodes)} nodes)"]
    labels = {node.id: "  " * depths[node.id] + node.level.value for node in hdag.nodes}
    width = max(len(label) for label in labels.values())
    for node in hdag.nodes:
        span = f"[{node.span.start}, {node.span.end})"
        excerpt = _excerpt(hdag.node_text(node))
        lines.append(f"{labels[node.id]:<{width}}  {span:<14} {excerpt}")
    return "\n".join(lines)


def _node_json(hdag: Hdag, node: HdagNode) -> dict[str, Any]:
    return {
        "id": node.id,
        "level": node.level.value,
        "span": [node.span.start, node.span.end],
        "parents": [] if node.parent is None else [node.parent],
        "deps": list(node.deps),
        "text": hdag.node_text(node),
    }


def hdag_json(hdag: Hdag) -> dict[str, Any]:
    return {
        "id": hdag.trace_id,
        "root": hdag.root,
        "text": hdag.text,
        "nodes": [_node_json(hdag, node) for node in hdag.nodes],
    }


def command_segment(args: argparse.Namespace, out: TextIO) -> int:
    for record in read_traces(Path(args.file)):
        try:
            hdag = build_hdag(record.trace)
            validate_hdag(hdag, record.trace)
        except ProtocolError as exc:
            raise CliError(f"{record.where}: {exc}") from None
        if args.json:
            out.write(json.dumps(hdag_json(hdag), ensure_ascii=False) + "\n")
        else:
            out.write(format_hdag_tree(hdag, record.where) + "\n\n")
    return 0


def command_demo(args: argparse.Namespace, out: TextIO) -> int:
    return run_offline_demo(out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trustnode", description="TRUST node: decentralized auditing of LLM reasoning."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    segment = commands.add_parser(
        "segment", help="split traces into their five-level HDAG and print it"
    )
    segment.add_argument("file", help="a trace JSON file, or a .jsonl file of records")
    segment.add_argument("--json", action="store_true", help="print one JSON object per trace")
    segment.set_defaults(handler=command_segment)
    demo = commands.add_parser(
        "demo", help="audit the shipped example traces (offline protocol walk-through today)"
    )
    demo.set_defaults(handler=command_demo)
    return parser


Handler = Callable[[argparse.Namespace, TextIO], int]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args, sys.stdout)
    except (TraceFileError, CliError, ProtocolError) as exc:
        print(f"trustnode: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: not an error of ours, and nothing to report.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())

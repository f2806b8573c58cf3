"""The `trustnode` command line.

Each subcommand is a small function taking the parsed arguments and returning an exit code.
Errors the user can fix end with one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

# The devnet lives in devnet/, the layer above node/; only the CLI entry point reaches up.
from devnet.chain import DEFAULT_DEVNET_DIR, DevnetError, load_deployment, start_chain, stop_chain
from devnet.demo import DemoError, audit_examples, run_demo
from devnet.deployment import MAX_DEV_AUDITORS, Deployment, check_dev_stakes
from devnet.evaluation import (
    AUDITOR_KINDS,
    DEFAULT_EVAL_IN_FLIGHT,
    DEFAULT_EVAL_NODES,
    DEFAULT_EVAL_TRACE_TIMEOUT_S,
    DEFAULT_JUDGE_ACCURACY,
    STRATEGIES,
    EvalError,
    EvalOptions,
    format_eval_metrics,
    run_evaluation,
)
from devnet.network import NETWORK_FILE, Network, start_network, stop_network
from node.chain import ChainClient, ChainError
from node.chain.ledger import LedgerClient, OnChainVerdict
from node.config import ConfigError, load_config
from node.review_cli import ReviewSession, print_pending
from node.rpc_client import RpcClient, RpcClientError
from node.termination import EXIT_TERMINATED, TerminatedError, run_until_terminated
from node.tracefile import TraceFileError, read_traces
from protocol.errors import ProtocolError
from protocol.hdag import build_hdag
from protocol.hdag_validation import validate_hdag
from protocol.models import Hdag, HdagNode

EXIT_USAGE = 2
EXIT_NOT_FINAL = 1
_TRACE_ID = re.compile(r"^0x[0-9a-f]{64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
EXCERPT_CHARS = 60
DEFAULT_DEVNET_AUDITORS = 5
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_WAIT_S = 120.0
WAIT_POLL_S = 0.1


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
    return run_until_terminated(lambda: run_demo(out))


def command_devnet_up(args: argparse.Namespace, out: TextIO) -> int:
    if args.nodes:
        return _devnet_up_with_nodes(args, out)
    auditors = DEFAULT_DEVNET_AUDITORS if args.auditors is None else args.auditors
    _check_stakes(args.stakes, auditors)
    deployment = asyncio.run(start_chain(Path(args.dir), auditors, stakes_eth=args.stakes))
    _write_chain(out, deployment)
    for auditor in deployment.auditors:
        out.write(f"auditor {auditor.address} stake {auditor.stake / 10**18:g} ETH\n")
    out.write(f"deployment file: {Path(args.dir) / 'deployment.json'}\n")
    return 0


def _check_stakes(stakes: tuple[int, ...] | None, auditors: int) -> None:
    if stakes is None:
        return
    try:
        check_dev_stakes(stakes, auditors)
    except ValueError as exc:
        raise CliError(f"--stakes: {exc}") from None


def _write_chain(out: TextIO, devnet: Deployment | Network) -> None:
    rpc_url = devnet.rpc_url if isinstance(devnet, Deployment) else devnet.chain_rpc_url
    out.write(
        f"anvil   {rpc_url} (pid {devnet.anvil_pid}, chain {devnet.chain_id})\n"
        f"registry {devnet.registry}\nledger   {devnet.ledger}\n"
    )


def _devnet_up_with_nodes(args: argparse.Namespace, out: TextIO) -> int:
    if not 1 <= args.nodes <= MAX_DEV_AUDITORS:
        raise CliError(f"--nodes must be between 1 and {MAX_DEV_AUDITORS}, got {args.nodes}")
    if args.auditors is not None and args.auditors != args.nodes:
        raise CliError("--nodes N registers N auditors, one per node: leave out --auditors")
    _check_stakes(args.stakes, args.nodes)
    network = asyncio.run(start_network(Path(args.dir), args.nodes, node_stakes_eth=args.stakes))
    _write_chain(out, network)
    for node in network.nodes:
        out.write(f"node {node.index}  {node.address}  {node.rpc_url}  peer {node.peer_id}\n")
    out.write(f"network file: {Path(args.dir) / NETWORK_FILE}\n")
    return 0


def command_devnet_down(args: argparse.Namespace, out: TextIO) -> int:
    directory = Path(args.dir)
    if not (directory / NETWORK_FILE).exists():
        deployment = stop_chain(directory)
        out.write(f"stopped anvil (pid {deployment.anvil_pid})\n")
        return 0
    network = stop_network(directory)
    for node in network.nodes:
        out.write(f"stopped node {node.index} (pid {node.pid})\n")
    out.write(f"stopped anvil (pid {network.anvil_pid})\n")
    return 0


def _ledger_location(args: argparse.Namespace) -> tuple[str, str]:
    if args.rpc or args.ledger:
        if not (args.rpc and args.ledger):
            raise CliError("--rpc and --ledger go together")
        if not _ADDRESS.match(args.ledger):
            raise CliError(f"--ledger must be a 0x-prefixed 20-byte address, got {args.ledger!r}")
        if not args.rpc.startswith(("http://", "https://")):
            raise CliError(f"--rpc must be an http(s) URL, got {args.rpc!r}")
        return args.rpc, args.ledger
    deployment = load_deployment(Path(args.dir))
    return deployment.rpc_url, deployment.ledger


async def _read_verdict(rpc_url: str, ledger: str, trace_id: str) -> OnChainVerdict:
    chain = ChainClient(rpc_url)
    try:
        return await LedgerClient(chain, ledger).verdict_of(trace_id)
    finally:
        await chain.close()


def format_verdict(verdict: OnChainVerdict) -> str:
    if not verdict.is_final:
        return f"trace {verdict.trace_id}: not finalized on-chain"
    counts = {name: 0 for name in ("VALID", "INVALID", "UNRESOLVED")}
    for segment in verdict.segment_verdicts:
        counts[segment.name] += 1
    when = datetime.fromtimestamp(verdict.finalized_at, UTC).isoformat(timespec="seconds")
    lines = [
        f"trace {verdict.trace_id}: {verdict.verdict.name}",
        f"segments: {len(verdict.segment_verdicts)} ("
        + ", ".join(f"{count} {name}" for name, count in counts.items())
        + ")",
        f"finalized at {when}",
    ]
    if verdict.first_error >= 0:
        lines.insert(1, f"first error: step {verdict.first_error}")
    return "\n".join(lines)


def verdict_json(verdict: OnChainVerdict) -> dict[str, Any]:
    return {
        "trace_id": verdict.trace_id,
        "verdict": verdict.verdict.name,
        "first_error": verdict.first_error,
        "segment_verdicts": [segment.name for segment in verdict.segment_verdicts],
        "finalized_at": verdict.finalized_at,
    }


def command_verdict(args: argparse.Namespace, out: TextIO) -> int:
    trace_id = args.trace_id.lower()
    if not _TRACE_ID.match(trace_id):
        raise CliError(f"trace id must be 0x followed by 64 hex digits, got {args.trace_id!r}")
    rpc_url, ledger = _ledger_location(args)
    verdict = asyncio.run(_read_verdict(rpc_url, ledger, trace_id))
    if args.json:
        out.write(json.dumps(verdict_json(verdict)) + "\n")
    else:
        out.write(format_verdict(verdict) + "\n")
    return 0 if verdict.is_final else EXIT_NOT_FINAL


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


def command_run(args: argparse.Namespace, out: TextIO) -> int:
    try:
        config = load_config(Path(args.config))
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    # Imported here: libp2p (under the daemon) warns on import; other commands need none of it.
    from node.daemon import run_node  # noqa: PLC0415

    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(run_node(config))
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    except ExceptionGroup as group:
        # A service that cannot start (port taken, host failure) ends the TaskGroup.
        leaf = _first_leaf(group)
        if isinstance(leaf, OSError):
            raise CliError(f"node failed: {leaf}") from None
        raise
    return 0


def _node_rpc_url(args: argparse.Namespace) -> str:
    """--rpc, else the first node of the devnet in --dir."""
    if args.rpc:
        if not args.rpc.startswith(("http://", "https://")):
            raise CliError(f"--rpc must be an http(s) URL, got {args.rpc!r}")
        return str(args.rpc)
    directory = Path(args.dir)
    if not (directory / NETWORK_FILE).is_file():
        raise CliError(f"no --rpc given and no node network in {directory}: `devnet up --nodes N`")
    return Network.load(directory).nodes[0].rpc_url


def command_submit(args: argparse.Namespace, out: TextIO) -> int:
    path = Path(args.file)
    records = read_traces(path)
    trace_ids = []
    with RpcClient(_node_rpc_url(args), token=args.token) as client:
        for record in records:
            trace = record.trace.model_dump(mode="json", by_alias=True, exclude_none=True)
            try:
                result = client.call("audit_submitTrace", {"trace": trace})
            except RpcClientError as exc:
                raise CliError(f"{record.where}: {exc}") from None
            trace_ids.append(str(result["trace_id"]))
            out.write(f"{result['trace_id']}\n")
            out.flush()
        if args.wait:
            _wait_for_verdicts(client, trace_ids, args.timeout, out)
    return 0


def _wait_for_verdicts(
    client: RpcClient, trace_ids: Sequence[str], timeout_s: float, out: TextIO
) -> None:
    """Print each trace's on-chain verdict (as the node reads it from the Ledger) as it lands."""
    pending = list(dict.fromkeys(trace_ids))
    give_up = time.monotonic() + timeout_s
    while pending:
        for trace_id in list(pending):
            try:
                verdict = client.call("audit_getVerdict", {"trace_id": trace_id})
            except RpcClientError as exc:
                raise CliError(f"{trace_id}: {exc}") from None
            if verdict.get("is_final"):
                pending.remove(trace_id)
                first = verdict["first_error"]
                where = f" first error: step {first}" if first >= 0 else ""
                out.write(f"{trace_id} {verdict['verdict']}{where}\n")
                out.flush()
        if pending and time.monotonic() > give_up:
            raise CliError(f"no on-chain verdict after {timeout_s:g} s for {', '.join(pending)}")
        if pending:
            time.sleep(WAIT_POLL_S)


def command_status(args: argparse.Namespace, out: TextIO) -> int:
    with RpcClient(_node_rpc_url(args), token=args.token) as client:
        try:
            status = client.call("node_status")
            peers = client.call("node_peers")
        except RpcClientError as exc:
            raise CliError(str(exc)) from None
    out.write(json.dumps({"status": status, "peers": peers}, indent=1) + "\n")
    return 0


def command_review(args: argparse.Namespace, out: TextIO) -> int:
    """Answer the node's pending human reviews at the terminal, or list them with --list."""
    if args.limit is not None and args.limit < 1:
        raise CliError(f"--limit must be at least 1, got {args.limit}")
    with RpcClient(_node_rpc_url(args), token=args.token) as client:
        try:
            if args.list:
                return print_pending(client, args.limit, out)
            ReviewSession(client, sys.stdin, out).run(args.limit)
        except RpcClientError as exc:
            raise CliError(str(exc)) from None
    return 0


def command_devnet_demo(args: argparse.Namespace, out: TextIO) -> int:
    directory = Path(args.dir)
    if not (directory / NETWORK_FILE).is_file():
        raise CliError(f"no node network in {directory}: run `trustnode devnet up --nodes 5`")
    asyncio.run(audit_examples(Network.load(directory), out))
    return 0


def _add_node_commands(commands: Any) -> None:
    run = commands.add_parser("run", help="run the node daemon until SIGTERM/SIGINT")
    run.add_argument("--config", required=True, help="the node's JSON config file")
    run.add_argument("--log-level", choices=LOG_LEVELS, default="INFO", help="default INFO")
    run.set_defaults(handler=command_run)
    submit = commands.add_parser("submit", help="submit traces to a node; prints their ids")
    submit.add_argument("file", help="a trace JSON file, or a .jsonl file of records")
    _add_node_location(submit)
    submit.add_argument("--wait", action="store_true", help="wait for the on-chain verdicts")
    submit.add_argument(
        "--timeout", type=float, default=DEFAULT_WAIT_S, help="seconds --wait waits (default 120)"
    )
    submit.set_defaults(handler=command_submit)
    status = commands.add_parser("status", help="a node's status and peers, as JSON")
    _add_node_location(status)
    status.set_defaults(handler=command_status)
    review = commands.add_parser(
        "review", help="answer the node's pending human reviews (tier 3) interactively"
    )
    _add_node_location(review)
    review.add_argument(
        "--list", action="store_true", help="print pending reviews as JSON lines and exit"
    )
    review.add_argument("--limit", type=int, help="at most this many reviews (node default 20)")
    review.set_defaults(handler=command_review)


def _add_node_location(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rpc", help="the node's JSON-RPC URL (default: node 1 of --dir)")
    parser.add_argument("--dir", default=str(DEFAULT_DEVNET_DIR), help="devnet directory")
    parser.add_argument("--token", help="bearer token, when the node requires one")


def _add_devnet_commands(commands: Any) -> None:
    devnet = commands.add_parser("devnet", help="a local devnet: Anvil, contracts, auditors")
    actions = devnet.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser(
        "up", help="start Anvil, deploy, register staked dev auditors, optionally run nodes"
    )
    up.add_argument(
        "--auditors",
        type=int,
        help=f"dev auditors to register without nodes (1-9, default {DEFAULT_DEVNET_AUDITORS})",
    )
    up.add_argument(
        "--nodes",
        type=int,
        default=0,
        help="also run N node processes, one per dev auditor, meshed (1-9; default 0: none)",
    )
    up.add_argument(
        "--stakes",
        type=_stakes,
        help="each auditor's stake in ETH, e.g. 10,10,20,30,30 (default: 10,20,30,...)",
    )
    up.add_argument("--dir", default=str(DEFAULT_DEVNET_DIR), help="devnet directory")
    up.set_defaults(handler=command_devnet_up)
    down = actions.add_parser("down", help="stop what `devnet up` started, by process id")
    down.add_argument("--dir", default=str(DEFAULT_DEVNET_DIR), help="devnet directory")
    down.set_defaults(handler=command_devnet_down)
    demo = actions.add_parser(
        "demo", help="audit the example traces on the running network, verdicts from chain"
    )
    demo.add_argument("--dir", default=str(DEFAULT_DEVNET_DIR), help="devnet directory")
    demo.set_defaults(handler=command_devnet_demo)


def _add_verdict_command(commands: Any) -> None:
    verdict = commands.add_parser("verdict", help="read a trace's verdict from the Ledger")
    verdict.add_argument("trace_id", help="0x-prefixed trace id")
    verdict.add_argument("--json", action="store_true", help="print one JSON object")
    verdict.add_argument("--dir", default=str(DEFAULT_DEVNET_DIR), help="devnet directory")
    verdict.add_argument("--rpc", help="JSON-RPC URL of the chain (with --ledger)")
    verdict.add_argument("--ledger", help="Ledger contract address (with --rpc)")
    verdict.set_defaults(handler=command_verdict)


def command_eval(args: argparse.Namespace, out: TextIO) -> int:
    options = EvalOptions(
        records=Path(args.file).resolve(),
        out=Path(args.out).resolve(),
        nodes=args.nodes,
        devnet=None if args.devnet is None else Path(args.devnet).resolve(),
        limit=args.limit,
        seed=args.seed,
        in_flight=args.in_flight,
        trace_timeout_s=args.trace_timeout,
        auditors=args.auditors,
        byzantine=args.byzantine,
        strategy=args.strategy,
        judge_accuracy=args.judge_accuracy,
        commit_window_s=args.commit_window,
        reveal_window_s=args.reveal_window,
        stall_timeout_s=args.stall_timeout,
        stakes_eth=args.stakes,
    )
    document = run_until_terminated(lambda: run_evaluation(options))
    out.write(format_eval_metrics(document["metrics"]) + f"\nwritten {options.out}\n")
    return 0


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def _positive_seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= 86_400:
        raise argparse.ArgumentTypeError(f"{text} is not a number of seconds in (0, 86400]")
    return value


def _stakes(text: str) -> tuple[int, ...]:
    """`10,10,20,30,30`: each node's stake in whole ETH, in node order."""
    try:
        stakes = tuple(int(part) for part in text.split(","))
    except ValueError:
        stakes = ()
    if not stakes or any(stake < 1 for stake in stakes):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of whole ETH amounts such as 10,10,20,30,30"
        )
    return stakes


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def _add_eval_command(commands: Any) -> None:
    evaluate = commands.add_parser(
        "eval", help="audit a labelled JSONL file on a devnet and score the on-chain verdicts"
    )
    evaluate.add_argument("file", help="JSONL of records {id, problem, steps, label}")
    evaluate.add_argument("--out", required=True, help="result JSON (an earlier one is resumed)")
    evaluate.add_argument(
        "--nodes", type=int, default=DEFAULT_EVAL_NODES, help="node processes (1-9, default 5)"
    )
    evaluate.add_argument("--devnet", help="reuse the running node network of this directory")
    evaluate.add_argument("--limit", type=_positive_int, help="K records evenly spaced")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the nodes' randomness")
    evaluate.add_argument("--in-flight", type=_positive_int, default=DEFAULT_EVAL_IN_FLIGHT)
    evaluate.add_argument(
        "--trace-timeout", type=float, default=DEFAULT_EVAL_TRACE_TIMEOUT_S, help="seconds"
    )
    evaluate.add_argument(
        "--auditors",
        default="tier1",
        help=(
            f"{' | '.join(AUDITOR_KINDS)}, or one per node joined by commas (oracle: a labelled "
            "simulation; llm: the local LLM alone; default %(default)s)"
        ),
    )
    evaluate.add_argument(
        "--byzantine", type=_fraction, default=0.0, help="adversarial share of the stake"
    )
    evaluate.add_argument("--strategy", choices=STRATEGIES, default="flip")
    evaluate.add_argument(
        "--stakes",
        type=_stakes,
        help="each node's stake in ETH, e.g. 10,10,20,30,30 (default: 10,20,30,...)",
    )
    evaluate.add_argument(
        "--judge-accuracy",
        type=_fraction,
        default=DEFAULT_JUDGE_ACCURACY,
        help="accuracy of one vote assumed by the verdict probability (default %(default)s)",
    )
    for flag in ("--commit-window", "--reveal-window", "--stall-timeout"):
        evaluate.add_argument(
            flag,
            type=_positive_seconds,
            default=None,
            help="seconds, every node (default: the node's; a slow judge needs longer windows)",
        )
    evaluate.set_defaults(handler=command_eval)


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
        "demo", help="audit the example traces on a throwaway Anvil devnet, verdicts from chain"
    )
    demo.set_defaults(handler=command_demo)
    _add_devnet_commands(commands)
    _add_verdict_command(commands)
    _add_node_commands(commands)
    _add_eval_command(commands)
    return parser


Handler = Callable[[argparse.Namespace, TextIO], int]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args, sys.stdout)
    except (
        TraceFileError,
        CliError,
        ProtocolError,
        DevnetError,
        DemoError,
        ChainError,
        EvalError,
    ) as exc:
        print(f"trustnode: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except TerminatedError:
        # The devnet the command started is stopped; an eval keeps its result file to resume.
        print("trustnode: terminated (SIGTERM); what it started is stopped", file=sys.stderr)
        return EXIT_TERMINATED
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: not an error of ours, and nothing to report.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())

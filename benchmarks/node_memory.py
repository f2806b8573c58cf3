"""Where a node process's resident memory goes: imports, per package, idle and under load.

Run from the repository root: `python benchmarks/node_memory.py [--devnet] [--load-s 40]`.
Every import figure comes from a fresh interpreter (`python -c`), repeated `--repeat` times
(median), reading VmRSS and VmHWM from /proc/self/status:

- bare: an interpreter that imported nothing of ours (the floor);
- node: what `trustnode run` imports before the daemon starts (`node.cli`, then `node.daemon`);
- daemon only: `node.daemon` without the CLI module (what lazy CLI imports could save at most);
- per group of direct dependencies: its import alone in a bare interpreter, and its marginal
  step: the other third-party groups imported first, then this one (what the node would save
  without that group alone; a package the others pull in anyway costs 0 there). Our code's
  marginal step comes after every third-party group;
- self, per top-level package: one interpreter imports the node set with the loaders wrapped,
  each module's RSS step less its nested imports', summed by top-level package (so a package is
  charged for what its own modules allocate and map, not for what they import).

With `--devnet`, it also starts a five-node devnet, reads each node's RSS idle, drives audits
with `--in-flight` traces in flight for `--load-s` seconds, reads RSS (and VmHWM) again, and
stops the devnet. Prints tables with ratios to the bare interpreter and writes
benchmarks/results/node_memory.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from machine import cpu_model  # benchmarks/ is sys.path[0] when run as a script

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "node_memory.json"
MIB = 1024 * 1024
NODE_IMPORTS = ("node.cli", "node.daemon")
#: Groups of the node's direct third-party imports (and ours), for the marginal costs.
GROUPS: dict[str, tuple[str, ...]] = {
    "libp2p + trio + multiaddr": ("trio", "multiaddr", "libp2p"),
    "web3": ("web3",),
    "eth_account": ("eth_account",),
    "aiohttp (+ aiohttp.web)": ("aiohttp", "aiohttp.web"),
    "httpx": ("httpx",),
    "cryptography": ("cryptography.hazmat.primitives.asymmetric.ed25519",),
    "pydantic": ("pydantic",),
    "sqlite3": ("sqlite3",),
    "our code (node, protocol, auditors, devnet)": NODE_IMPORTS,
}
OURS = "our code (node, protocol, auditors, devnet)"
#: Packages only py-libp2p's package imports bring in (`libp2p/__init__.py` imports the QUIC,
#: TLS and secio transports, `libp2p.transport` the WebSocket one, `libp2p.host.basic_host`
#: mDNS, `libp2p.rcmgr` Prometheus), none of which the node uses: it runs TCP + noise + yamux.
#: Python runs a package's `__init__` before any of its submodules, so no import of ours can
#: avoid them.
UNUSED_LIBP2P_EXTRAS = (
    "aioquic",
    "pylsqpack",
    "zeroconf",
    "ifaddr",
    "prometheus_client",
    "websockets",
    "trio_websocket",
    "wsproto",
    "dns",
    "netaddr",
    "fastecdsa",
)
DEFAULT_REPEAT = 3
TOP_PACKAGES = 25
DEFAULT_NODES = 5
DEFAULT_LOAD_S = 40.0
DEFAULT_IN_FLIGHT = 16
IDLE_SETTLE_S = 5.0

#: Run in a fresh interpreter: import the given modules, print the RSS figures as JSON.
_MEASURE = """
import json, sys, warnings
warnings.simplefilter("ignore")
def status():
    out = {}
    for line in open("/proc/self/status"):
        key, value = line.split(":", 1)
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) * 1024
    return out
before = status()
for name in sys.argv[1:]:
    if name == "--":
        before = status()
        continue
    __import__(name)
after = status()
print(json.dumps({"before": before, "after": after, "modules": len(sys.modules)}))
"""

#: Run in a fresh interpreter: RSS step of every module's own execution, by top-level package.
_ATTRIBUTE = """
import importlib._bootstrap_external as external, json, os, sys, warnings
warnings.simplefilter("ignore")
statm = os.open("/proc/self/statm", os.O_RDONLY)
page = os.sysconf("SC_PAGE_SIZE")
def rss():
    return int(os.pread(statm, 100, 0).split()[1]) * page
stack, own = [], {}
def wrap(cls, method):
    original = getattr(cls, method)
    def wrapper(self, *args, **kwargs):
        name = args[0].name if method == "create_module" else args[0].__name__
        stack.append([rss(), 0])
        try:
            return original(self, *args, **kwargs)
        finally:
            start, nested = stack.pop()
            total = rss() - start
            top = name.split(".")[0]
            own[top] = own.get(top, 0) + total - nested
            if stack:
                stack[-1][1] += total
    setattr(cls, method, wrapper)
wrap(external._LoaderBasics, "exec_module")
wrap(external.ExtensionFileLoader, "create_module")
wrap(external.ExtensionFileLoader, "exec_module")
for name in sys.argv[1:]:
    __import__(name)
print(json.dumps(own))
"""


def run_python(code: str, args: list[str]) -> Any:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def measure_imports(modules: list[str], repeat: int) -> dict[str, float]:
    """Median RSS figures of a fresh interpreter after importing `modules` (a "--" in the list
    resets the baseline: the step then covers only what follows it)."""
    runs = [run_python(_MEASURE, modules) for _ in range(repeat)]

    def median(part: str, key: str) -> float:
        return statistics.median(run[part][key] for run in runs) / MIB

    return {
        "rss_mib": round(median("after", "VmRSS"), 1),
        "hwm_mib": round(median("after", "VmHWM"), 1),
        "anon_mib": round(median("after", "RssAnon"), 1),
        "file_mib": round(median("after", "RssFile"), 1),
        "step_mib": round(median("after", "VmRSS") - median("before", "VmRSS"), 1),
        "modules": statistics.median(run["modules"] for run in runs),
    }


def measure_groups(repeat: int) -> dict[str, dict[str, float]]:
    """Per group: alone in a bare interpreter, and its marginal step. A third-party group's
    baseline is the other third-party groups (our code imports them all, so after it every
    step would be 0); our code's is every third-party group."""
    figures = {}
    for name, modules in GROUPS.items():
        others = [m for group, ms in GROUPS.items() if group not in (name, OURS) for m in ms]
        figures[name] = {
            "alone_mib": measure_imports(list(modules), repeat)["step_mib"],
            "marginal_mib": measure_imports([*others, "--", *modules], repeat)["step_mib"],
        }
    return figures


def measure_own_by_package() -> dict[str, float]:
    own = run_python(_ATTRIBUTE, list(NODE_IMPORTS))
    ranked = sorted(own.items(), key=lambda item: -item[1])
    return {name: round(size / MIB, 2) for name, size in ranked}


# ---- a devnet under load -------------------------------------------------------------------


def read_status(pid: int) -> dict[str, float]:
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            figures[key] = round(int(value.split()[0]) / 1024, 1)
    return figures


async def measure_devnet(nodes: int, load_s: float, in_flight: int) -> dict[str, Any]:
    # Imported here: the import figures above must not pay for them.
    import e2e  # noqa: PLC0415  benchmarks/e2e.py: its traces and its throughput driver

    from devnet.finality import FinalityWatcher  # noqa: PLC0415
    from devnet.network import start_network, stop_network  # noqa: PLC0415
    from node.chain import ChainClient  # noqa: PLC0415
    from node.chain.ledger import LedgerClient  # noqa: PLC0415
    from node.rpc_client import RpcClient  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="node-memory-") as workdir:
        directory = Path(workdir) / "devnet"
        print(f"starting {nodes} nodes in {directory}", flush=True)
        network = await start_network(directory, nodes)
        chain = ChainClient(network.chain_rpc_url)
        clients = [RpcClient(node.rpc_url, timeout_s=30.0) for node in network.nodes]
        try:
            await asyncio.sleep(IDLE_SETTLE_S)
            idle = {node.index: read_status(node.pid) for node in network.nodes}
            ledger = LedgerClient(chain, network.ledger, network.registry)
            watcher = FinalityWatcher(ledger, await chain.block_number())
            bench = e2e.Bench(network, watcher, clients)
            async with asyncio.TaskGroup() as group:
                watching = group.create_task(watcher.run())
                samples, _, _ = await e2e.measure_throughput(bench, load_s, in_flight)
                watching.cancel()
            loaded = {node.index: read_status(node.pid) for node in network.nodes}
        finally:
            for client in clients:
                client.close()
            await chain.close()
            stop_network(directory)
    final = sum(1 for sample in samples if sample.final_at is not None)
    return {
        "nodes": nodes,
        "load_s": load_s,
        "in_flight": in_flight,
        "traces_submitted": len(samples),
        "traces_final": final,
        "idle": {str(i): figures for i, figures in idle.items()},
        "after_load": {str(i): figures for i, figures in loaded.items()},
        "idle_rss_max_mib": max(f["VmRSS"] for f in idle.values()),
        "peak_hwm_max_mib": max(f["VmHWM"] for f in loaded.values()),
    }


# ---- report ---------------------------------------------------------------------------------


def print_report(result: dict[str, Any]) -> None:
    bare = result["bare"]["rss_mib"]
    print(f"{'import set':48} {'RSS MiB':>8} {'HWM MiB':>8} {'x bare':>7} {'modules':>8}")
    for label, key in (
        ("bare interpreter", "bare"),
        ("node.daemon only", "daemon_only"),
        ("node (node.cli + node.daemon)", "node"),
    ):
        row = result[key]
        print(
            f"{label:48} {row['rss_mib']:8.1f} {row['hwm_mib']:8.1f} "
            f"{row['rss_mib'] / bare:7.2f} {row['modules']:8.0f}"
        )
    node = result["node"]["rss_mib"]
    print(f"\n{'group (MiB)':48} {'alone':>8} {'marginal':>9} {'% of node':>9}")
    for name, row in sorted(result["groups"].items(), key=lambda item: -item[1]["alone_mib"]):
        marginal = row["marginal_mib"]
        print(f"{name:48} {row['alone_mib']:8.1f} {marginal:9.1f} {marginal / node * 100:8.1f}%")
    print(f"\n{'own modules, by top-level package':48} {'MiB':>8}")
    for name, size in list(result["own_by_package_mib"].items())[:TOP_PACKAGES]:
        print(f"{name:48} {size:8.1f}")
    extras = result["unused_libp2p_extras_mib"]
    label = "libp2p's unused transports and discovery"
    print(f"{label:48} {extras:8.1f}  ({', '.join(UNUSED_LIBP2P_EXTRAS)})")
    devnet = result.get("devnet")
    if devnet:
        print(
            f"\ndevnet: {devnet['nodes']} nodes, {devnet['traces_final']} traces audited in "
            f"{devnet['load_s']:g} s ({devnet['in_flight']} in flight)"
        )
        for index, idle in devnet["idle"].items():
            loaded = devnet["after_load"][index]
            print(
                f"  node {index}: idle {idle['VmRSS']:.1f} MiB, after load {loaded['VmRSS']:.1f}"
                f" MiB (peak {loaded['VmHWM']:.1f}, x{loaded['VmHWM'] / bare:.1f} bare)"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT)
    parser.add_argument("--devnet", action="store_true", help="also measure a devnet under load")
    parser.add_argument("--nodes", type=int, default=DEFAULT_NODES)
    parser.add_argument("--load-s", type=float, default=DEFAULT_LOAD_S)
    parser.add_argument("--in-flight", type=int, default=DEFAULT_IN_FLIGHT)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    started = time.monotonic()
    result: dict[str, Any] = {
        "bare": measure_imports([], args.repeat),
        "daemon_only": measure_imports(["node.daemon"], args.repeat),
        "node": measure_imports(list(NODE_IMPORTS), args.repeat),
        "groups": measure_groups(args.repeat),
        "own_by_package_mib": measure_own_by_package(),
    }
    result["unused_libp2p_extras_mib"] = round(
        sum(result["own_by_package_mib"].get(name, 0.0) for name in UNUSED_LIBP2P_EXTRAS), 1
    )
    result["node_over_bare"] = round(result["node"]["rss_mib"] / result["bare"]["rss_mib"], 2)
    if args.devnet:
        # Imported here: the import measurements above must not see it.
        from node.termination import run_until_terminated  # noqa: PLC0415

        result["devnet"] = run_until_terminated(
            lambda: measure_devnet(args.nodes, args.load_s, args.in_flight)
        )
    result.update(
        repeat=args.repeat,
        duration_s=round(time.monotonic() - started, 1),
        cpu=cpu_model(),
        python=platform.python_version(),
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    print_report(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

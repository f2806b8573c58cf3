"""Safety-Profitability: what honest, lazy, always-wrong, colluding and copycat auditors earn,
read from the Ledger's own payouts and slashes on a real chain, and how often the verdicts stay
right.

Run from the repository root:
`python benchmarks/profitability.py [--traces 1000] [--honest oracle:0.9 tier1]
[--strategies lazy always-wrong colluding] [--fractions 0 0.1 0.2 0.3 0.4] [--canary-rates 0]
[--restake-every 0] [--round-zero sealed|public] [--resume] [--out ...json]`.

Every cell (honest judge, adversary strategy, adversarial stake fraction) is a fresh Anvil with
the real contracts and nine registered auditors holding 100 ETH (eight of 10 ETH and one of
20), so 0.1 of the stake is exactly one auditor. `--traces` labelled records (BIG-Bench Mistake
and ProcessBench development files, evenly spaced) are each submitted, voted and finalized
on-chain by `devnet.direct_audit`: the auditors vote in process (no gossip: what is measured
here is the contract's economics, not the network), each through the judge its class names:

- honest: `oracle:P` (right with probability P from the record's label) or `tier1` (the real
  tier-1 checkers, which abstain on what they cannot check);
- lazy: `always-valid`, VALID on everything without looking (most segments are valid);
- always-wrong: `flip` of the honest judge;
- colluding: `collude`, a bloc voting the honest judge's answer except on the half of the
  segments its shared secret picks, where every member votes the wrong answer;
- copycat: `copycat`, the majority of the other auditors' votes it can read when it votes
  (none: round-0 reveals stay sealed to the submitter until round 1's commits close, so it
  falls back to its `copycat_fallback`; with `--round-zero public`, round 0's reveals in an
  escalation round, which is what that leak paid before the nodes sealed them);
- abstaining: `abstain`, ABSTAIN on everything (a free rider: it reveals, so it is never
  counted absent, and it judges nothing).

`--canary-rates` mixes canaries into the stream, as a node does at `audit.canary_rate`: after
the user traces, r canaries per user trace, spread evenly (`protocol.canaries.compute_canary`:
three-step arithmetic, a planted error in half of them, the planted step as the label). A canary
is audited, voted and paid like any trace; an auditor that votes against its verdict is slashed
by the normal incoherence rule, which is the canaries' whole defence. Safety counts user traces
only.

Profit is read from chain state after the last trace, per auditor:
`rewardsOf(a) + stakeOf(a) - stake registered` (the Ledger credits rewards to `rewardsOf` and takes
slashes from the stake), in ETH over the cell's traces, and reported per class as the mean per
auditor. Fees are the Ledger's minimum fee, what a node pays by default. Safety is the share of
traces whose on-chain first error equals the label; each cell also records its trajectory, the
safety of every 100 user traces and every auditor's stake after them.

A slash takes a fraction of the stake per wrong vote and pays it out as rewards, which the Ledger
keeps apart from the stake, so an auditor that never restakes sees its voting weight drain away
even while its rewards make up for it. `--restake-every N` has every auditor (adversaries too)
withdraw its rewards and bond them again (`withdrawRewards`, `addStake`) after each N user
traces, as an operator keeping its weight would; restaking leaves the profit formula unchanged.

Writes the JSON and a PNG beside it (matplotlib, from `pip install .[bench]`, which `make bench`
runs).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt  # `pip install .[bench]`; headless, it draws with Agg
from common import (
    LABELLED_FILES,
    RESULTS_DIR,
    load_labelled_traces,
    save_figure,
    stamp,
    write_result,
)

from auditors.adversaries import make_adversary
from auditors.checkers import Tier1Checker
from auditors.judgement import Judge, Judgement
from auditors.oracle import OracleJudge, compute_oracle_labels, compute_oracle_truth
from devnet.accounts import dev_private_key
from devnet.anvil import start_anvil, stop_anvil
from devnet.deployment import deploy_contracts, register_dev_auditors
from devnet.direct_audit import run_direct_audit
from node.chain import ChainClient, Sender
from node.chain.ledger import LedgerClient
from node.termination import run_until_terminated
from protocol.canaries import compute_canary
from protocol.encoding import keccak
from protocol.hdag import build_hdag
from protocol.ids import compute_trace_id
from protocol.layout import compute_layout_steps, compute_segment_layout
from protocol.models import Reveal, Segment, Trace, TraceVerdict, Vote
from protocol.params import DEVNET
from protocol.sortition import compute_trace_committee_size

RESULTS = RESULTS_DIR / "profitability.json"
#: Nine auditors (the devnet's accounts after the deployer's) holding 100 ETH: auditors 1-4 hold
#: 10 ETH each, so 0.1 of the stake is exactly one of them, up to 0.4.
STAKES_ETH = (10, 10, 10, 10, 10, 10, 10, 10, 20)
#: Profits are compared per this much stake, since the last honest auditor holds twice as much.
PROFIT_UNIT_ETH = 10
ETHER = 10**18
#: The judge each adversary class votes through (`auditors.adversaries` behaviour names).
BEHAVIOUR_OF = {
    "lazy": "always-valid",
    "always-wrong": "flip",
    "colluding": "collude",
    "copycat": "copycat",
    "abstaining": "abstain",
}
PROGRESS_EVERY = 100
#: User traces per window of a cell's trajectory (safety and stakes as the run goes on).
WINDOW_TRACES = 100
#: Colluding members attack this share of the segments (`DEFAULT_BLOC_FRACTION` of the node).
BLOC_FRACTION = 0.5


@dataclass(frozen=True)
class Cell:
    honest: str
    strategy: str
    fraction: float
    #: Canaries mixed in per user trace.
    canary_rate: float = 0.0
    #: Every auditor restakes its rewards after each this many user traces (0: never).
    restake_every: int = 0
    #: "sealed": round-0 reveals reach nobody before round 1 votes, as on the nodes; "public":
    #: round 1 votes with them in view, as the protocol had it until 2026-12-04 (the baseline).
    round_zero: str = "sealed"

    def key(self, traces: int) -> tuple[Any, ...]:
        """What identifies a measured cell in a result file (with its number of traces)."""
        return (
            self.honest,
            self.strategy,
            self.fraction,
            self.canary_rate,
            self.restake_every,
            self.round_zero,
            traces,
        )

    @property
    def adversaries(self) -> int:
        return round(self.fraction * sum(STAKES_ETH) / STAKES_ETH[0])


@dataclass
class SharedJudgements:
    """One deterministic judge's answers, computed once per segment for every auditor using it
    (the tier-1 checkers answer a segment the same way for everyone; re-judging it per auditor
    only multiplied the run time)."""

    judge: Judge
    answers: dict[tuple[str, int], Judgement] = field(default_factory=dict)

    def judge_segment(self, segment: Segment) -> Judgement:
        key = (segment.trace_id, segment.index)
        if key not in self.answers:
            self.answers[key] = self.judge.judge(segment)
        return self.answers[key]


@dataclass(frozen=True)
class SharedJudge:
    shared: SharedJudgements

    def judge(self, segment: Segment) -> Judgement:
        return self.shared.judge_segment(segment)


TIER1 = SharedJudgements(Tier1Checker())


def make_honest_judge(honest: str, auditor: str, labels: dict[str, int], layouts: Any) -> Judge:
    """The honest class's judge: the real tier-1 checkers, or an oracle right with P."""
    if honest == "tier1":
        return SharedJudge(TIER1)
    accuracy = float(honest.removeprefix("oracle:"))
    return OracleJudge(labels, accuracy, 0, auditor, layouts.get)


@dataclass
class PublicReveals:
    """The reveals public so far in the current audit (`run_direct_audit`'s `on_round`)."""

    reveals: Sequence[Reveal] = ()

    def update(self, reveals: Sequence[Reveal]) -> None:
        self.reveals = reveals

    def observer(self, auditor: str) -> Callable[[Segment], list[Vote]]:
        """A copycat's view: the other auditors' revealed votes on the segment."""

        def observe(segment: Segment) -> list[Vote]:
            return [
                entry.vote
                for reveal in self.reveals
                if reveal.trace_id == segment.trace_id and reveal.auditor != auditor
                for entry in reveal.votes
                if entry.segment == segment.index
            ]

        return observe


def make_judges(
    cell: Cell,
    addresses: Sequence[str],
    labels: dict[str, int],
    layouts: dict[str, bytes],
    public: PublicReveals,
) -> dict[str, Judge]:
    """Auditors 1..n are adversaries (equal stakes: which ones does not matter), the rest honest."""
    secret = keccak(f"bloc/{cell.honest}/{cell.fraction}".encode())
    judges: dict[str, Judge] = {}
    for index, address in enumerate(addresses):
        honest = make_honest_judge(cell.honest, address, labels, layouts)
        if index < cell.adversaries:
            adversary = make_adversary(
                BEHAVIOUR_OF[cell.strategy],
                honest,
                observe=public.observer(address),
                bloc_secret=secret,
                bloc_fraction=BLOC_FRACTION,
            )
            assert adversary is not None  # only `absent` has no judge
            honest = adversary
        judges[address] = honest
    return judges


def class_of(cell: Cell, index: int) -> str:
    return cell.strategy if index < cell.adversaries else "honest"


def mix_canaries(traces: Sequence[Trace], rate: float) -> list[tuple[Trace, bool]]:
    """The user traces with `rate` canaries per trace spread evenly among them, each flagged:
    (trace, is a canary). Canary i is `compute_canary` of a fixed seed, its label the planted
    step, so every cell of one rate audits the same canaries."""
    mixed: list[tuple[Trace, bool]] = []
    canaries = 0
    for index, trace in enumerate(traces):
        mixed.append((trace, False))
        while canaries < round((index + 1) * rate):
            canary = compute_canary(keccak(b"profitability-canary" + canaries.to_bytes(4, "big")))
            mixed.append((canary.trace.model_copy(update={"label": canary.planted_step}), True))
            canaries += 1
    return mixed


async def measure_cell(cell: Cell, traces: Sequence[Trace]) -> dict[str, Any]:
    """One fresh chain, every trace audited on it; profits and safety as the chain records them."""
    with tempfile.TemporaryDirectory(prefix="trust-profit-") as tmp:
        anvil = start_anvil(Path(tmp))
        try:
            return await _audit_on_chain(cell, traces, anvil.rpc_url)
        finally:
            stop_anvil(anvil.pid)


async def _audit_on_chain(cell: Cell, traces: Sequence[Trace], rpc_url: str) -> dict[str, Any]:
    chain = ChainClient(rpc_url)
    started = time.perf_counter()
    try:
        deployer = Sender.from_key(dev_private_key(0))
        registry, ledger_address, _ = await deploy_contracts(chain, deployer)
        ledger = LedgerClient(chain, ledger_address, registry)
        dev = await register_dev_auditors(ledger, len(STAKES_ETH), stakes_eth=STAKES_ETH)
        keys = [auditor.private_key for auditor in dev]
        addresses = [auditor.address for auditor in dev]
        snapshot = await ledger.auditors_at(addresses, await chain.block_number())
        fee = (await ledger.settings()).min_fee
        stream = mix_canaries(traces, cell.canary_rate)
        labels = compute_oracle_labels([trace for trace, _ in stream])
        layouts: dict[str, bytes] = {}
        public = PublicReveals()
        judges = make_judges(cell, addresses, labels, layouts, public)
        classes = {address: class_of(cell, i) for i, address in enumerate(addresses)}
        log = VoteLog()
        rule = _vote_rule(judges, classes, labels, layouts, log)
        trajectory = Trajectory()
        for done, (trace, is_canary) in enumerate(stream):
            if done and done % PROGRESS_EVERY == 0:
                print(f"  {cell}: {done}/{len(stream)} traces", file=sys.stderr, flush=True)
            hdag = build_hdag(trace)
            layouts[compute_trace_id(trace)] = compute_segment_layout(hdag)
            k = compute_trace_committee_size(hdag, snapshot, DEVNET)
            audit = await run_direct_audit(
                ledger,
                deployer,
                keys,
                trace,
                k,
                rule,
                fee,
                on_round=public.update,
                sealed_round_zero=cell.round_zero == "sealed",
            )
            if not is_canary:
                found = _first_error(audit.verdict.verdict, audit.verdict.first_error)
                trajectory.outcomes.append(found == trace.label)
                if cell.restake_every and len(trajectory.outcomes) % cell.restake_every == 0:
                    await restake_rewards(ledger, keys)
                if len(trajectory.outcomes) % WINDOW_TRACES == 0:
                    trajectory.close_window([await ledger.stake_of(a) for a in addresses])
        profits = [await _profit(ledger, auditor.address, auditor.stake) for auditor in dev]
    finally:
        await chain.close()
    return _summarise(cell, traces, fee, sum(trajectory.outcomes), profits, log) | {
        "canary_rate": cell.canary_rate,
        "restake_every": cell.restake_every,
        "round_zero": cell.round_zero,
        "canaries": len(stream) - len(traces),
        "windows": trajectory.windows,
        "wall_s": round(time.perf_counter() - started, 1),
    }


async def restake_rewards(ledger: LedgerClient, keys: Sequence[str]) -> None:
    """What an operator keeping its weight does: withdraw the rewards and bond them as stake."""
    for key in keys:
        sender = Sender.from_key(key)
        rewards = await ledger.rewards_of(sender.address)
        if rewards:
            await ledger.withdraw_rewards(sender)
            await ledger.add_stake(sender, rewards)


@dataclass
class Trajectory:
    """How a cell evolves: whether each user trace's on-chain first error equals its label, and
    every auditor's stake after each window of user traces. Safety per window against the
    stakes tells stake drift (safety falling as the honest stakes shrink) from the record mix."""

    outcomes: list[bool] = field(default_factory=list)
    windows: list[dict[str, Any]] = field(default_factory=list)

    def close_window(self, stakes: Sequence[int]) -> None:
        """Record the last `WINDOW_TRACES` outcomes' safety with the stakes after them."""
        window = self.outcomes[-WINDOW_TRACES:]
        self.windows.append(
            {
                "traces": f"{len(self.outcomes) - WINDOW_TRACES + 1}-{len(self.outcomes)}",
                "safety": round(sum(window) / len(window), 4),
                "stake_eth": [round(stake / ETHER, 3) for stake in stakes],
            }
        )


@dataclass
class VoteLog:
    """Each class's votes against the label's truth (`compute_oracle_truth`): its measured
    accuracy on the votes it cast, and how often it abstained."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)

    def record(self, name: str, vote: Vote, truth: Vote) -> None:
        outcome = "abstain" if vote is Vote.ABSTAIN else "right" if vote is truth else "wrong"
        self.counts.setdefault(name, Counter())[outcome] += 1

    def summary(self) -> dict[str, dict[str, float | int]]:
        return {name: _describe_votes(counts) for name, counts in sorted(self.counts.items())}


def _describe_votes(counts: Counter[str]) -> dict[str, float | int]:
    cast = counts["right"] + counts["wrong"]
    total = cast + counts["abstain"]
    return {
        "votes": total,
        "accuracy_on_cast": round(counts["right"] / cast, 4) if cast else 0.0,
        "abstain_rate": round(counts["abstain"] / total, 4) if total else 0.0,
    }


def _vote_rule(
    judges: dict[str, Judge],
    classes: dict[str, str],
    labels: dict[str, int],
    layouts: dict[str, bytes],
    log: VoteLog,
) -> Callable[[str, Segment], Vote | None]:
    def rule(address: str, segment: Segment) -> Vote | None:
        vote = judges[address].judge(segment).vote
        step = compute_layout_steps(layouts[segment.trace_id])[segment.index]
        log.record(
            classes[address],
            vote,
            compute_oracle_truth(segment.level, step, labels[segment.trace_id]),
        )
        return vote

    return rule


def _first_error(verdict: TraceVerdict, first_error: int) -> int:
    return first_error if verdict is TraceVerdict.FLAWED else -1


async def _profit(ledger: LedgerClient, address: str, registered: int) -> int:
    """Rewards credited plus stake gained (negative: slashed) since registration, in wei."""
    return await ledger.rewards_of(address) + await ledger.stake_of(address) - registered


def _summarise(
    cell: Cell, traces: Sequence[Trace], fee: int, right: int, profits: Sequence[int], log: VoteLog
) -> dict[str, Any]:
    # Per class: its total profit over its total stake, so the classes' figures weighted by their
    # stakes add up to the fees paid (the Ledger conserves fee + slashes = rewards + dust).
    profit_by_class: dict[str, int] = {}
    stake_by_class: dict[str, int] = {}
    for index, profit in enumerate(profits):
        name = class_of(cell, index)
        profit_by_class[name] = profit_by_class.get(name, 0) + profit
        stake_by_class[name] = stake_by_class.get(name, 0) + STAKES_ETH[index]
    point = {
        "honest": cell.honest,
        "strategy": cell.strategy if cell.adversaries else "none",
        "fraction": cell.fraction,
        "traces": len(traces),
        "fee_eth": fee / ETHER,
        "first_error_accuracy": round(right / len(traces), 4),
        "profit_eth_per_10_eth_staked": {
            name: round(profit / ETHER * PROFIT_UNIT_ETH / stake_by_class[name], 6)
            for name, profit in profit_by_class.items()
        },
        "profit_eth": [round(profit / ETHER, 6) for profit in profits],
        "votes": log.summary(),
    }
    print(json.dumps({k: v for k, v in point.items() if k != "profit_eth"}), flush=True)
    return point


def plan_cells(args: argparse.Namespace) -> list[Cell]:
    cells = []
    for honest in args.honest:
        for rate in args.canary_rates:
            cells.append(Cell(honest, "none", 0.0, rate, args.restake_every, args.round_zero))
            cells += [
                Cell(honest, strategy, fraction, rate, args.restake_every, args.round_zero)
                for strategy in args.strategies
                for fraction in args.fractions
                if fraction > 0
            ]
    return cells


def compute_cell_key(point: dict[str, Any]) -> tuple[Any, ...]:
    """What identifies a measured cell in a result file (same judge, adversary, share, canary
    rate, restaking, round-0 privacy and number of traces: the same measurement). Files from
    before sealed round-0 reveals have no `round_zero`: theirs was public."""
    cell = Cell(
        point["honest"],
        point["strategy"],
        point["fraction"],
        point.get("canary_rate", 0.0),
        point.get("restake_every", 0),
        point.get("round_zero", "public"),
    )
    return cell.key(point["traces"])


async def run(args: argparse.Namespace, document: dict[str, Any]) -> None:
    """Every cell not already in `document` in turn, the result file rewritten after each (a
    long run keeps what it did, and `--resume` continues it)."""
    traces = load_labelled_traces(args.files, args.traces)
    done = {compute_cell_key(point) for point in document["points"]}
    for cell in plan_cells(args):
        if cell.key(len(traces)) in done:
            print(f"  {cell}: already in {args.out}", flush=True)
            continue
        document["points"].append(await measure_cell(cell, traces))
        write_result(args.out, document)


def plot(points: Sequence[dict[str, Any]], path: Path) -> None:
    """Per honest judge: each class's profit against the adversarial fraction, and safety."""
    honest_judges = sorted({p["honest"] for p in points})
    figure, panels = plt.subplots(
        2, len(honest_judges), figsize=(6 * len(honest_judges), 7.5), squeeze=False
    )
    for column, honest in enumerate(honest_judges):
        mine = [p for p in points if p["honest"] == honest]
        baseline = [p for p in mine if p["strategy"] == "none"]
        profit, safety = panels[0][column], panels[1][column]
        adversaries = sorted({(p["strategy"], _round_zero(p)) for p in mine} - {("none", "")})
        for strategy, round_zero in adversaries:
            line = sorted(
                baseline
                + [p for p in mine if (p["strategy"], _round_zero(p)) == (strategy, round_zero)],
                key=lambda p: p["fraction"],
            )
            name = f"{strategy}, round 0 public" if round_zero == "public" else strategy
            xs = [100 * p["fraction"] for p in line]
            drawn = profit.plot(
                xs,
                [p["profit_eth_per_10_eth_staked"]["honest"] for p in line],
                marker="o",
                label=f"honest, against {name}",
            )
            attackers = [p for p in line if strategy in p["profit_eth_per_10_eth_staked"]]
            profit.plot(
                [100 * p["fraction"] for p in attackers],
                [p["profit_eth_per_10_eth_staked"][strategy] for p in attackers],
                marker="x",
                linestyle="--",
                color=drawn[0].get_color(),
                label=name,
            )
            safety.plot(xs, [100 * p["first_error_accuracy"] for p in line], marker="o", label=name)
        _label_panels(
            (profit, f"honest judge {honest}: profit over {mine[0]['traces']} traces"),
            (safety, "safety: on-chain first error equals the label"),
            "adversarial share of the stake (%)",
        )
    save_figure(figure, path)


def _round_zero(point: dict[str, Any]) -> str:
    """Whether round 1 saw round 0's reveals in a point ("" for the no-adversary baseline,
    where nobody reads them): files from before the sealing have no field, and were public."""
    return "" if point["strategy"] == "none" else point.get("round_zero", "public")


def _label_panels(profit: tuple[Any, str], safety: tuple[Any, str], x_label: str) -> None:
    """Titles, axes and legends of a profit and a safety panel, each given with its title."""
    profit[0].axhline(0, color="grey", linewidth=0.8)
    profit[0].set_ylabel("ETH per 10 ETH staked")
    safety[0].set_ylabel("first-error accuracy (%)")
    safety[0].set_ylim(0, 100)
    for panel, title in (profit, safety):
        panel.set_title(title)
        panel.set_xlabel(x_label)
        panel.legend(fontsize=7)


def plot_canaries(points: Sequence[dict[str, Any]], path: Path) -> None:
    """With several canary rates: each class's profit and safety against the rate, per
    (honest judge, adversary, share)."""
    figure, (profit, safety) = plt.subplots(1, 2, figsize=(11, 4.5))
    setups = sorted({(p["honest"], p["strategy"], p["fraction"]) for p in points})
    for honest, strategy, fraction in setups:
        line = sorted(
            (
                p
                for p in points
                if (p["honest"], p["strategy"], p["fraction"]) == (honest, strategy, fraction)
            ),
            key=lambda p: p["canary_rate"],
        )
        rates = [p["canary_rate"] for p in line]
        setup = (
            f"{honest}, {strategy} {100 * fraction:.0f}%"
            if strategy != "none"
            else f"{honest}, no adversary"
        )
        for name in sorted(line[0]["profit_eth_per_10_eth_staked"]):
            profit.plot(
                rates,
                [p["profit_eth_per_10_eth_staked"][name] for p in line],
                marker="o" if name == "honest" else "x",
                linestyle="-" if name == "honest" else "--",
                label=f"{name} ({setup})",
            )
        safety.plot(rates, [100 * p["first_error_accuracy"] for p in line], marker="o", label=setup)
    _label_panels(
        (profit, f"profit over {points[0]['traces']} user traces and their canaries"),
        (safety, "safety on user traces"),
        "canaries per user trace",
    )
    save_figure(figure, path)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--files", type=Path, nargs="+", default=list(LABELLED_FILES))
    parser.add_argument("--traces", type=int, default=1000)
    parser.add_argument("--honest", nargs="+", default=["oracle:0.9", "tier1"])
    parser.add_argument("--strategies", nargs="+", default=list(BEHAVIOUR_OF))
    parser.add_argument("--fractions", type=float, nargs="+", default=[0, 0.1, 0.2, 0.3, 0.4])
    parser.add_argument(
        "--canary-rates", type=float, nargs="+", default=[0.0], help="canaries per user trace"
    )
    parser.add_argument(
        "--restake-every",
        type=int,
        default=0,
        help="every auditor restakes its rewards after each N user traces (default 0: never)",
    )
    parser.add_argument(
        "--round-zero",
        choices=("sealed", "public"),
        default="sealed",
        help="public: round 1 votes with round 0's reveals in view (the pre-sealing baseline)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--replot", action="store_true", help="only redraw the PNG from --out")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the cells already in --out and measure only the missing ones",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    if not args.replot:
        started = time.perf_counter()
        document: dict[str, Any] = {
            "command": " ".join(["python", "benchmarks/profitability.py", *argv]),
            "stakes_eth": STAKES_ETH,
            **stamp(),
            "points": [],
        }
        if args.resume and args.out.exists():
            kept = json.loads(args.out.read_text(encoding="utf-8"))["points"]
            document["points"] = kept
            document["resumed_with_points"] = len(kept)
        run_until_terminated(lambda: run(args, document))
        document["wall_s"] = round(time.perf_counter() - started, 1)
        write_result(args.out, document)
        print(f"written {args.out}")
    points = json.loads(args.out.read_text(encoding="utf-8"))["points"]
    several_rates = len({p.get("canary_rate", 0.0) for p in points}) > 1
    (plot_canaries if several_rates else plot)(points, args.out.with_suffix(".png"))
    print(f"written {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""`trustnode eval` pieces that need no devnet: scoring, progress, adversaries, resuming."""

from __future__ import annotations

import io
import json
from dataclasses import asdict, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from devnet.evaluation.metrics import (
    compute_base_rate_brier,
    compute_brier,
    compute_calibration_error,
    compute_first_error_scores,
    compute_flaw_detection,
    compute_reliability,
    format_eval_metrics,
    summarize,
)
from devnet.evaluation.onchain import compute_revealed_share
from devnet.evaluation.progress import Progress, format_duration, format_progress
from devnet.evaluation.runner import (
    RESULT_FORMAT,
    EvalError,
    EvalOptions,
    compute_adversaries,
    compute_node_settings,
    compute_node_tiers,
    load_eval_records,
    node_auditor_kinds,
    parse_oracle_accuracy,
    plan_adversaries,
    read_finished_entries,
)
from node.chain.ledger import pack_votes, unpack_votes
from node.config import AuditSettings
from node.tracefile import TraceFileError
from protocol.ids import compute_trace_id
from protocol.models import Tier, Trace, Vote, VoteEntry


def test_first_error_scores_follow_processbench() -> None:
    # labels: two erroneous (2, 0), two correct; predictions: exact, late, right, a false alarm
    scores = compute_first_error_scores([2, 1, -1, 3], [2, 0, -1, -1])
    assert scores == {
        "first_error_accuracy": 0.5,
        "accuracy_erroneous": 0.5,
        "accuracy_correct": 0.5,
        "f1": 0.5,
    }


def test_an_unfinished_record_is_wrong_everywhere() -> None:
    scores = compute_first_error_scores([None, None], [1, -1])
    assert scores["accuracy_erroneous"] == 0 and scores["accuracy_correct"] == 0
    assert scores["f1"] == 0.0


def test_a_kind_missing_from_the_data_has_no_accuracy() -> None:
    scores = compute_first_error_scores([1], [1])
    assert scores["accuracy_correct"] is None and scores["f1"] is None


def test_trace_precision_and_recall_ignore_the_step() -> None:
    found = compute_flaw_detection(["FLAWED", "FLAWED", "SOUND", None], [3, -1, 2, 1])
    assert found == {"trace_precision": 0.5, "trace_recall": 0.3333}


def test_brier_scores_the_probability_of_sound() -> None:
    assert compute_brier([1.0, 0.0], [-1, 4]) == 0.0
    assert compute_brier([0.5, 0.5], [-1, 4]) == 0.25
    assert compute_brier([], []) is None


def test_reliability_bins_the_probability_of_sound() -> None:
    probabilities = [0.05, 0.15, 0.95, 1.0, 0.9]
    labels = [4, 2, -1, -1, 3]
    table = compute_reliability(probabilities, labels, bins=10)
    assert [(row["low"], row["count"]) for row in table] == [(0.0, 1), (0.1, 1), (0.9, 3)]
    assert table[2]["mean_probability"] == pytest.approx(0.95)
    assert table[2]["observed_sound"] == pytest.approx(2 / 3, abs=1e-4)
    # Bins 0 and 1 hold no correct record: each is off by its mean probability.
    expected = (0.05 + 0.15 + 3 * abs(0.95 - 0.6667)) / 5
    assert compute_calibration_error(table) == pytest.approx(expected, abs=1e-4)
    assert compute_calibration_error([]) is None
    with pytest.raises(ValueError, match="bins"):
        compute_reliability(probabilities, labels, bins=0)


def test_base_rate_brier_is_the_floor_to_beat() -> None:
    assert compute_base_rate_brier([-1, -1, 3, 4]) == 0.25
    assert compute_base_rate_brier([-1, -1]) == 0.0
    assert compute_base_rate_brier([]) is None
    # Always answering the base rate scores exactly b * (1 - b).
    assert compute_brier([0.5] * 4, [-1, -1, 3, 4]) == compute_base_rate_brier([-1, -1, 3, 4])


def _entry(label: int, predicted: int | None, verdict: str | None) -> dict[str, object]:
    return {
        "id": f"r{label}{predicted}",
        "label": label,
        "predicted_first_error": predicted,
        "trace_verdict": verdict,
        "probability": None if verdict is None else (0.9 if verdict == "SOUND" else 0.1),
        "latency_s": None if verdict is None else 2.0,
        "gas": None if verdict is None else 500_000,
        "max_exposure": None if verdict is None else 0.6,
        "coalition_exposure": None if verdict is None else 1.0,
        "revealed_share": None if verdict is None else (0.5 if verdict == "SOUND" else 1.0),
    }


def test_summary_and_its_printout() -> None:
    entries = [_entry(1, 1, "FLAWED"), _entry(-1, -1, "SOUND"), _entry(2, None, None)]
    metrics = summarize(entries)
    assert metrics["records"] == 3 and metrics["final"] == 2
    assert metrics["first_error_accuracy"] == 0.6667
    assert metrics["brier"] == 0.01
    assert metrics["gas_mean"] == 500_000 and metrics["max_exposure_max"] == 0.6
    text = format_eval_metrics(metrics)
    assert "first-error acc.   66.7%" in text and "Brier score        0.01" in text
    assert metrics["revealed_share_mean"] == 0.75
    assert "votes in time      75.0% of the drawn auditors revealed" in text


def test_revealed_share_counts_drawn_seats_with_a_reveal() -> None:
    """A (round, auditor) seat: an auditor drawn in a round reveals once for all its segments."""
    outcome = SimpleNamespace(
        assignments={(0, 0): {"a": 1, "b": 1}, (0, 1): {"b": 1, "c": 1}, (1, 1): {"b": 1, "d": 1}}
    )
    reveals = [SimpleNamespace(round=0, auditor=a) for a in ("a", "b")]
    reveals.append(SimpleNamespace(round=1, auditor="d"))
    reveals.append(SimpleNamespace(round=1, auditor="z"))  # not drawn: not a seat
    assert compute_revealed_share(outcome, reveals) == 3 / 5  # type: ignore[arg-type]
    assert compute_revealed_share(SimpleNamespace(assignments={}), []) == 1.0  # type: ignore[arg-type]


def test_progress_line_counts_rate_and_eta() -> None:
    assert format_progress(0, 40, None, width=4) == "[----] 0/40 0%"
    assert format_progress(10, 40, 2.0, width=4) == "[#---] 10/40 25% 2.00/s ETA 00:15"
    assert format_duration(3725) == "1:02:05"


def test_progress_to_a_file_writes_a_line_every_few_items() -> None:
    now = [0.0]
    out = io.StringIO()
    progress = Progress(5, out, already_done=1, every=2, clock=lambda: now[0])
    for _ in range(4):
        now[0] += 1.0
        progress.advance("x")
    lines = out.getvalue().splitlines()
    # Items 2 and 4 (every second) and the last one; the rate counts only this run's items.
    assert len(lines) == 3
    assert lines[-1].endswith("5/5 100% 1.00/s ETA 00:00  x")


def test_adversaries_take_the_largest_stake_not_above_the_fraction() -> None:
    stakes = [10, 20, 30, 40, 50]  # 150 in all
    assert compute_adversaries(stakes, 0.0) == ()
    assert compute_adversaries(stakes, 0.2) == (3,)  # 30: one node beats 10 + 20
    assert compute_adversaries(stakes, 0.3) == (4,)  # 45 allowed: 40 is the most reachable
    assert compute_adversaries(stakes, 0.4) == (1, 5)  # 60


def test_chosen_stakes_meet_every_tenth_exactly() -> None:
    """The corruption sweep's stakes: 10, 20, 30 and 40% are each some nodes' exact share."""
    options = EvalOptions(Path("r.jsonl"), Path("o.json"), stakes_eth=(10, 10, 20, 30, 30))
    shares = [
        plan_adversaries(replace(options, byzantine=fraction)).stake_fraction
        for fraction in (0.1, 0.2, 0.3, 0.4)
    ]
    assert shares == [0.1, 0.2, 0.3, 0.4]


@pytest.mark.parametrize(
    ("stakes", "problem"),
    [((10, 20), "2 stakes for 5"), ((10, 20, 30, 40, 0), "not 0"), ((1, 1, 1, 1, 10**6), "ETH")],
)
def test_stakes_that_do_not_fit_the_nodes_are_refused(
    stakes: tuple[int, ...], problem: str
) -> None:
    with pytest.raises(EvalError, match=problem):
        plan_adversaries(EvalOptions(Path("r.jsonl"), Path("o.json"), stakes_eth=stakes))


def test_node_settings_mark_the_adversaries() -> None:
    options = EvalOptions(Path("r.jsonl"), Path("o.json"), byzantine=0.2, strategy="collude")
    adversaries = plan_adversaries(options)
    assert adversaries.nodes == [3] and adversaries.stake_fraction == 0.2
    settings = compute_node_settings(options, adversaries)
    assert settings[2]["audit"]["behaviour"] == "collude"
    assert settings[2]["audit"]["bloc_secret"].startswith("0x")
    assert all("behaviour" not in s["audit"] for i, s in enumerate(settings) if i != 2)


def test_windows_given_reach_every_node() -> None:
    """A slow judge (the local LLM) needs longer windows than the nodes' defaults."""
    options = EvalOptions(
        Path("r.jsonl"),
        Path("o.json"),
        auditors="tier1+llm",
        byzantine=0.2,
        commit_window_s=300.0,
        stall_timeout_s=1200.0,
    )
    settings = compute_node_settings(options, plan_adversaries(options))
    for node in settings:
        audit = node["audit"]
        assert (audit["commit_window_s"], audit["stall_timeout_s"]) == (300.0, 1200.0)
        assert "reveal_window_s" not in audit  # not given: the node's default
    plain = compute_node_settings(
        EvalOptions(Path("r.jsonl"), Path("o.json")), plan_adversaries(options)
    )
    assert all("commit_window_s" not in node["audit"] for node in plain)


def test_oracle_auditors_read_the_labels_file() -> None:
    options = EvalOptions(Path("r.jsonl"), Path("o.json"), auditors="oracle:0.7", seed=3)
    settings = compute_node_settings(options, plan_adversaries(options), Path("/l.json"))
    assert settings[0]["audit"]["oracle"] == {"labels_file": "/l.json", "accuracy": 0.7, "seed": 3}
    with pytest.raises(EvalError, match="labels file"):
        compute_node_settings(options, plan_adversaries(options))


def test_a_tier_mix_names_each_nodes_auditor() -> None:
    """The tier-mix ablation: three checker nodes and two LLM-only nodes."""
    options = EvalOptions(Path("r.jsonl"), Path("o.json"), auditors="tier1,tier1,tier1,llm,llm")
    settings = compute_node_settings(options, plan_adversaries(options))
    assert [s["audit"].get("checkers", True) for s in settings] == [True] * 3 + [False] * 2
    assert [s["audit"].get("llm") for s in settings] == [None] * 3 + [{"endpoint": "local"}] * 2
    assert compute_node_tiers(options) == [(Tier.CHECKER, Tier.LLM)] * 3 + [(Tier.LLM,)] * 2
    for audit in (s["audit"] for s in settings):
        AuditSettings.model_validate(audit)  # what the node will load
    both = EvalOptions(Path("r.jsonl"), Path("o.json"), auditors="tier1+llm")
    assert all(
        s["audit"]["llm"] == {"endpoint": "local"} and "checkers" not in s["audit"]
        for s in compute_node_settings(both, plan_adversaries(both))
    )


@pytest.mark.parametrize(
    ("auditors", "problem"),
    [("tier1,llm", "2 kinds for 5 nodes"), ("tier1,tier1,llm,llm,gpt", "not 'gpt'")],
)
def test_a_tier_mix_must_name_a_known_kind_per_node(auditors: str, problem: str) -> None:
    with pytest.raises(EvalError, match=problem):
        node_auditor_kinds(EvalOptions(Path("r.jsonl"), Path("o.json"), auditors=auditors))


@pytest.mark.parametrize("auditors", ["gpt", "oracle:0", "oracle:1.5", "oracle:x", "oracle"])
def test_unknown_auditor_kinds_are_refused(auditors: str) -> None:
    with pytest.raises(EvalError, match="--auditors"):
        parse_oracle_accuracy(auditors)


def _write_records(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


RECORDS = [
    {"id": f"r{i}", "problem": "Add.", "steps": ["1 + 1 = 2", "2 + 2 = 4"], "label": i % 2 - 1}
    for i in range(6)
]


def test_records_are_read_with_their_trace_ids_and_spread_by_limit(tmp_path: Path) -> None:
    path = _write_records(tmp_path / "r.jsonl", RECORDS)
    records = load_eval_records(path, limit=3)
    assert [r.record_id for r in records] == ["r0", "r2", "r4"]
    trace = Trace.model_validate_json(json.dumps(RECORDS[2]))
    assert records[1].trace_id == compute_trace_id(trace)


@pytest.mark.parametrize(
    ("records", "problem"),
    [
        ([{"problem": "p", "steps": ["a"], "label": -1}], "needs an 'id' and a 'label'"),
        ([{"id": "a", "problem": "p", "steps": ["a"]}], "needs an 'id' and a 'label'"),
        ([RECORDS[0], RECORDS[0]], "appears twice"),
        ([], "no records"),
    ],
)
def test_unusable_record_files_are_refused(
    tmp_path: Path, records: list[dict[str, object]], problem: str
) -> None:
    with pytest.raises(EvalError, match=problem):
        load_eval_records(_write_records(tmp_path / "r.jsonl", records), None)


def test_a_malformed_record_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(RECORDS[0]) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(TraceFileError, match="line 2"):
        load_eval_records(path, None)


def test_resuming_keeps_only_final_entries_of_the_same_file(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    options = EvalOptions(tmp_path / "r.jsonl", out)
    assert read_finished_entries(out, options) == {}
    document = {
        "format": RESULT_FORMAT,
        "records_file": str(tmp_path / "r.jsonl"),
        "options": {},
        "entries": [_entry(1, 1, "FLAWED"), _entry(2, None, None)],
    }
    out.write_text(json.dumps(document), encoding="utf-8")
    assert list(read_finished_entries(out, options)) == ["r11"]
    with pytest.raises(EvalError, match="not"):
        read_finished_entries(out, EvalOptions(tmp_path / "other.jsonl", out))
    out.write_text("{}", encoding="utf-8")
    with pytest.raises(EvalError, match="not a `trustnode eval` result"):
        read_finished_entries(out, options)
    out.write_text("{", encoding="utf-8")
    with pytest.raises(EvalError, match="cannot resume"):
        read_finished_entries(out, options)


@pytest.mark.parametrize(
    ("earlier", "now"),
    [
        ({"auditors": "oracle:0.9"}, {}),
        ({}, {"byzantine": 0.2}),
        ({"strategy": "collude"}, {}),
        ({"stakes_eth": [10, 10, 20, 30, 30]}, {}),
        ({}, {"stakes_eth": (10, 10, 20, 30, 30)}),
        ({"commit_window_s": 300.0}, {}),
        ({"seed": 1}, {}),
    ],
)
def test_a_run_resumes_only_with_the_options_its_verdicts_came_from(
    tmp_path: Path, earlier: dict[str, object], now: dict[str, Any]
) -> None:
    """Resuming a flipping-20% run as an honest one would score two networks as one."""
    out = tmp_path / "out.json"
    records = tmp_path / "r.jsonl"
    document = {
        "format": RESULT_FORMAT,
        "records_file": str(records),
        "options": earlier,
        "entries": [_entry(1, 1, "FLAWED")],
    }
    out.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(EvalError, match="resume with the same options"):
        read_finished_entries(out, EvalOptions(records, out, **now))


def test_a_resumed_run_may_change_what_does_not_decide_verdicts(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    records = tmp_path / "r.jsonl"
    stakes = (10, 10, 20, 30, 30)
    earlier = asdict(EvalOptions(records, out, stakes_eth=stakes, limit=5, in_flight=2))
    document = {
        "format": RESULT_FORMAT,
        "records_file": str(records),
        "options": json.loads(json.dumps(earlier, default=str)),
        "entries": [_entry(1, 1, "FLAWED")],
    }
    out.write_text(json.dumps(document), encoding="utf-8")
    again = EvalOptions(records, out, stakes_eth=stakes, limit=50, trace_timeout_s=60.0)
    assert list(read_finished_entries(out, again)) == ["r11"]


def test_packed_votes_unpack_to_the_same_votes() -> None:
    votes = (
        VoteEntry(segment=0, vote=Vote.VALID, confidence=10_000, rationale="0x" + "00" * 32),
        VoteEntry(segment=70_000, vote=Vote.ABSTAIN, confidence=1, rationale="0x" + "00" * 32),
    )
    assert unpack_votes(pack_votes(votes)) == votes
    with pytest.raises(ValueError, match="7 bytes"):
        unpack_votes(b"\x00" * 8)

"""Scoring an evaluation: pure functions over the per-record entries of a result file.

A record's label L is the 0-based index of its first wrong step, -1 when every step is right;
the prediction P is the on-chain first error when the verdict is FLAWED, else -1 (SOUND and
INCONCLUSIVE locate no error). A record without a final verdict counts as wrong everywhere.

- first-error accuracy: share of records with P == L (BIG-Bench Mistake's measure);
- accuracy on erroneous records: share of L >= 0 with P == L (the exact step);
- accuracy on correct records: share of L == -1 with P == -1;
- ProcessBench F1: harmonic mean of those two (0 when both are 0);
- trace-level precision and recall of "flawed" (verdict FLAWED against L >= 0, any step);
- Brier score of the verdict probability (the probability that the trace is SOUND, from the
  on-chain tallies) against the label (1 for a correct record);
- calibration: the reliability table (probabilities in equal-width bins, each bin's mean
  probability against the share of correct records in it), its expected calibration error, and
  the Brier score of always answering the base rate, the skill floor to beat;
- revealed share: per record, the share of the drawn (round, auditor) seats whose reveal the
  finalize carried, averaged over the final records (a judge slower than the windows shows
  here, not as a wrong vote).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def compute_share(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def compute_f1(on_erroneous: float | None, on_correct: float | None) -> float | None:
    """ProcessBench's F1: the harmonic mean of the accuracies on erroneous and correct records."""
    if on_erroneous is None or on_correct is None:
        return None
    if on_erroneous + on_correct == 0:
        return 0.0
    return round(2 * on_erroneous * on_correct / (on_erroneous + on_correct), 4)


def compute_first_error_scores(
    predicted: Sequence[int | None], labels: Sequence[int]
) -> dict[str, float | None]:
    """First-error accuracy, the two accuracies and their F1 (None predictions are wrong)."""
    pairs = list(zip(predicted, labels, strict=True))
    erroneous = [(p, label) for p, label in pairs if label >= 0]
    correct = [p for p, label in pairs if label < 0]
    on_erroneous = compute_share(sum(p == label for p, label in erroneous), len(erroneous))
    on_correct = compute_share(sum(p == -1 for p in correct), len(correct))
    return {
        "first_error_accuracy": compute_share(sum(p == label for p, label in pairs), len(pairs)),
        "accuracy_erroneous": on_erroneous,
        "accuracy_correct": on_correct,
        "f1": compute_f1(on_erroneous, on_correct),
    }


def compute_flaw_detection(
    verdicts: Sequence[str | None], labels: Sequence[int]
) -> dict[str, float | None]:
    """Precision and recall of a FLAWED verdict as "this trace has an error", step aside."""
    flagged = [
        label >= 0 for verdict, label in zip(verdicts, labels, strict=True) if verdict == "FLAWED"
    ]
    flawed = [
        verdict == "FLAWED" for verdict, label in zip(verdicts, labels, strict=True) if label >= 0
    ]
    return {
        "trace_precision": compute_share(sum(flagged), len(flagged)),
        "trace_recall": compute_share(sum(flawed), len(flawed)),
    }


def compute_brier(probabilities: Sequence[float], labels: Sequence[int]) -> float | None:
    """Mean squared error of P(SOUND) against the outcome (1 when the record is correct)."""
    if not probabilities:
        return None
    errors = [
        (p - (1.0 if label < 0 else 0.0)) ** 2
        for p, label in zip(probabilities, labels, strict=True)
    ]
    return round(statistics.fmean(errors), 4)


def compute_reliability(
    probabilities: Sequence[float], labels: Sequence[int], bins: int = 10
) -> list[dict[str, float | int]]:
    """Non-empty equal-width bins of P(SOUND) over [0, 1]: each with its range, count, mean
    probability and the observed share of correct records (label -1). 1.0 falls in the last."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    members: list[list[tuple[float, int]]] = [[] for _ in range(bins)]
    for probability, label in zip(probabilities, labels, strict=True):
        index = min(bins - 1, max(0, int(probability * bins)))
        members[index].append((probability, 1 if label < 0 else 0))
    return [
        {
            "low": round(index / bins, 4),
            "high": round((index + 1) / bins, 4),
            "count": len(inside),
            "mean_probability": round(statistics.fmean(p for p, _ in inside), 4),
            "observed_sound": round(statistics.fmean(o for _, o in inside), 4),
        }
        for index, inside in enumerate(members)
        if inside
    ]


def compute_calibration_error(table: Sequence[dict[str, float | int]]) -> float | None:
    """Expected calibration error: bins' |mean probability - observed| weighted by count."""
    total = sum(int(row["count"]) for row in table)
    if not total:
        return None
    gap = sum(
        int(row["count"]) * abs(float(row["mean_probability"]) - float(row["observed_sound"]))
        for row in table
    )
    return round(gap / total, 4)


def compute_base_rate_brier(labels: Sequence[int]) -> float | None:
    """Brier score of always answering the share of correct records: b * (1 - b)."""
    if not labels:
        return None
    base = sum(label < 0 for label in labels) / len(labels)
    return round(base * (1 - base), 4)


def _mean(values: Sequence[float]) -> float | None:
    return round(statistics.fmean(values), 4) if values else None


def summarize(entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate metrics of result-file entries (see the module docstring)."""
    labels = [int(e["label"]) for e in entries]
    final = [e for e in entries if e.get("trace_verdict") is not None]
    probabilities = [(float(e["probability"]), int(e["label"])) for e in final]
    exposures = [float(e["max_exposure"]) for e in final if e.get("max_exposure") is not None]
    coalition = [
        float(e["coalition_exposure"]) for e in final if e.get("coalition_exposure") is not None
    ]
    return {
        "records": len(entries),
        "erroneous_records": sum(label >= 0 for label in labels),
        "final": len(final),
        **compute_first_error_scores([e.get("predicted_first_error") for e in entries], labels),
        **compute_flaw_detection([e.get("trace_verdict") for e in entries], labels),
        "brier": compute_brier(
            [p for p, _ in probabilities], [label for _, label in probabilities]
        ),
        "latency_mean_s": _mean([float(e["latency_s"]) for e in final if e.get("latency_s")]),
        "gas_mean": _mean([float(e["gas"]) for e in final if e.get("gas") is not None]),
        "max_exposure_mean": _mean(exposures),
        "max_exposure_max": max(exposures, default=None),
        "coalition_exposure_mean": _mean(coalition),
        "revealed_share_mean": _mean(
            [float(e["revealed_share"]) for e in final if e.get("revealed_share") is not None]
        ),
    }


def format_eval_metrics(metrics: dict[str, Any]) -> str:
    """The aggregate figures, one per line, for the terminal."""

    def pct(key: str) -> str:
        value = metrics.get(key)
        return "-" if value is None else f"{100 * value:.1f}%"

    return "\n".join(
        [
            f"records            {metrics['records']} ({metrics['erroneous_records']} erroneous), "
            f"{metrics['final']} final on-chain",
            f"first-error acc.   {pct('first_error_accuracy')}",
            f"ProcessBench F1    {pct('f1')} (erroneous {pct('accuracy_erroneous')}, "
            f"correct {pct('accuracy_correct')})",
            f"trace precision    {pct('trace_precision')}, recall {pct('trace_recall')}",
            f"Brier score        {metrics['brier']}",
            f"latency, mean      {metrics['latency_mean_s']} s; gas, mean {metrics['gas_mean']}",
            f"exposure           max auditor {pct('max_exposure_mean')} mean, "
            f"{pct('max_exposure_max')} worst; coalition of 3 {pct('coalition_exposure_mean')}",
            f"votes in time      {pct('revealed_share_mean')} of the drawn auditors revealed",
        ]
    )

"""What the experiment benchmarks share: where the data and the results live, how records are
spread over files, and how a result file is stamped and written."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import matplotlib.pyplot as plt  # `pip install .[bench]`; headless, it draws with Agg
from machine import cpu_model  # benchmarks/ is sys.path[0] when run as a script
from matplotlib.figure import Figure

from devnet.evaluation.runner import load_eval_records
from protocol.models import Trace

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "external-dev"
RESULTS_DIR = REPO / "benchmarks" / "results"
#: Every development file in the shared record format (Who&When has its own).
LABELLED_FILES = tuple(sorted(DATA.glob("bbm-*.jsonl")) + sorted(DATA.glob("processbench-*.jsonl")))

T = TypeVar("T")


def spread(items: Sequence[T], limit: int | None) -> list[T]:
    """`limit` items evenly spaced through `items` (all of them when there are not more)."""
    if limit is None or limit >= len(items):
        return list(items)
    return [items[i * len(items) // limit] for i in range(limit)]


def load_labelled_traces(files: Sequence[Path], limit: int | None) -> list[Trace]:
    """Labelled records of the files, concatenated, `limit` of them evenly spaced."""
    return spread([r.trace for path in files for r in load_eval_records(path, None)], limit)


def stamp() -> dict[str, str]:
    """Where and when a figure was measured."""
    return {"cpu": cpu_model(), "measured_at": datetime.now(UTC).isoformat(timespec="seconds")}


def write_result(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


def write_result_and_figure(
    path: Path, document: dict[str, Any], draw: Callable[[Path], None]
) -> None:
    """The JSON at `path`, then `draw(png path)` for the plot beside it, and where both went."""
    write_result(path, document)
    draw(path.with_suffix(".png"))
    print(f"written {path} and {path.with_suffix('.png')}")


def replot(path: Path, plot: Callable[[Sequence[dict[str, Any]], Path], None]) -> None:
    """Redraw the PNG beside the result file `path` from its points, measuring nothing."""
    plot(json.loads(path.read_text(encoding="utf-8"))["points"], path.with_suffix(".png"))


def save_figure(figure: Figure, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)

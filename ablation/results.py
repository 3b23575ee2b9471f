"""``results.csv``: the log of a sweep, one row appended as each run ends.

A run that was retried has several rows; the last one written is the run's result. The log is
what makes a sweep resumable: a run with an ``ok`` row is not run again.
"""

from __future__ import annotations

import csv
from pathlib import Path

COLUMNS = [
    "run",
    "overrides",
    "status",
    "knn_top1",
    "knn_top5",
    "linear_top1",
    "linear_top5",
    "final_loss",
    "images_seen",
    "seconds",
    "finished_at",
    "error",
]


def read_results(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def append_result(path: Path, row: dict[str, object]) -> None:
    new = not path.is_file()
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow({key: row.get(key, "") for key in COLUMNS})


def latest_rows(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    """The last row written for each run (a retried run's later row wins)."""
    latest: dict[str, dict[str, str]] = {}
    for row in rows:
        latest[row["run"]] = row
    return latest

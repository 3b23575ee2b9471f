"""The table that ``simclr finetune`` prints, its ``finetune.json``, and the sweep's table.

One row per method (fine-tuned, from scratch, linear probe), top-1 and top-5 on the test split
and the time each took, under a header naming the labels they all trained on.
"""

from __future__ import annotations

import json
from pathlib import Path

from simclr.run.atomic import atomic_write

REPORT_FILE = "finetune.json"
SWEEP_FILE = "sweep.json"


def labels_line(report: dict) -> str:
    labels = report["labels"]
    asked = (
        f"{labels['labels_per_class']} per class"
        if labels["labels_per_class"] is not None
        else f"{100 * labels['label_fraction']:g} % per class"
    )
    return (
        f"{report['dataset']}: {labels['count']:,} labelled images of {report['train_split']} "
        f"({asked} of {labels['of']:,}, seed {labels['seed']}), {report['epochs']} epochs of "
        f"batch {report['batch_size']}; test on {report['test_split']} "
        f"({report['test_images']:,} images)"
    )


def format_table(report: dict) -> str:
    """The methods' top-1 / top-5 (%) and seconds, one row each."""
    lines = [labels_line(report)]
    header = f"{'method':<16}{'top-1 (%)':>11}{'top-5 (%)':>11}{'seconds':>10}"
    lines += [header, "-" * len(header)]
    for method, result in report["results"].items():
        seconds = result.get("train_seconds", 0) + result.get("test_seconds", 0)
        lines.append(
            f"{method:<16}{100 * result['top1']:>11.2f}{100 * result['top5']:>11.2f}"
            f"{seconds:>10.0f}"
        )
    return "\n".join(lines)


def write_report(report: dict, run_dir: str | Path, name: str = REPORT_FILE) -> Path:
    """``finetune.json`` (or ``name``) in ``run_dir``, written atomically."""
    path = Path(run_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, (json.dumps(report, indent=2) + "\n").encode())
    return path


def format_sweep(reports: list[dict]) -> str:
    """Top-1 / top-5 (%) of every method at every label fraction of a sweep."""
    methods = list(dict.fromkeys(m for report in reports for m in report["results"]))
    header = f"{'labels':<16}" + "".join(f"{m:>22}" for m in methods)
    lines = [f"top-1 / top-5 (%) on {reports[0]['test_split']}", header, "-" * len(header)]
    for report in reports:
        labels = report["labels"]
        row = f"{100 * labels['label_fraction']:g} % ({labels['count']:,})"
        cells = []
        for method in methods:
            result = report["results"].get(method)
            text = "-"
            if result is not None:
                text = f"{100 * result['top1']:.2f} / {100 * result['top5']:.2f}"
            cells.append(f"{text:>22}")
        lines.append(f"{row:<16}" + "".join(cells))
    return "\n".join(lines)

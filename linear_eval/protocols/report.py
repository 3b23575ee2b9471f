"""The evaluation table printed by ``simclr eval`` and its ``eval.json`` in the run directory.

One column per feature extractor (pretrained, random init, raw pixels), one row per metric, so
the gain from pretraining is visible at a glance. :func:`report_evaluation` is the command's
work: evaluate, print the table, write ``eval.json`` and log the pretrained encoder's metrics to
its run.
"""

from __future__ import annotations

import json
from pathlib import Path

from linear_eval.config import EvalConfig
from linear_eval.features.encoders import LoadedEncoder
from linear_eval.features.gallery import cache_dir
from linear_eval.protocols.evaluate import evaluate, log_to_run
from simclr.run.atomic import atomic_write
from simclr.run.paths import check_folder_to_write, printable

EVAL_FILE = "eval.json"


def _rows(results: dict) -> list[tuple[str, list[str]]]:
    names = list(results)

    def cell(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.2f}"

    rows: list[tuple[str, list[str]]] = []
    ks = sorted({int(k) for r in results.values() for k in r.get("knn", {})})
    for k in ks:
        used = min(r.get("knn", {}).get(str(k), {}).get("neighbours", k) for r in results.values())
        label = f"kNN k={k}" if used == k else f"kNN k={k} (all {used})"
        for metric in ("top1", "top5"):
            values = [results[n].get("knn", {}).get(str(k), {}).get(metric) for n in names]
            rows.append((f"{label} {metric[:3]}-{metric[3:]}", [cell(v) for v in values]))
    for key, label in (("linear", "linear"), ("linear_augmented", "linear crop+flip")):
        if any(key in r for r in results.values()):
            for metric in ("top1", "top5"):
                values = [results[n].get(key, {}).get(metric) for n in names]
                rows.append((f"{label} {metric[:3]}-{metric[3:]}", [cell(v) for v in values]))
    rows += _few_label_rows(results, cell)
    rows.append(("feature dim", [str(results[n]["feature_dim"]) for n in names]))
    return rows


def _few_label_rows(results: dict, cell) -> list[tuple[str, list[str]]]:
    """Top-1 of every protocol on each few-label setting: "kNN k=200 top-1, 1% labels (540)"."""
    names, rows = list(results), []
    settings = next(iter(results.values())).get("few_labels", {})
    for setting, first in settings.items():
        about = f"{setting} labels ({first['labels']:,})"

        def of(name: str, setting: str = setting) -> dict:
            return results[name].get("few_labels", {}).get(setting, {})

        for k in sorted(int(k) for k in first.get("knn", {})):
            values = [of(n).get("knn", {}).get(str(k), {}).get("top1") for n in names]
            rows.append((f"kNN k={k} top-1, {about}", [cell(v) for v in values]))
        if "linear" in first:
            values = [of(n).get("linear", {}).get("top1") for n in names]
            rows.append((f"linear top-1, {about}", [cell(v) for v in values]))
    return rows


def format_table(report: dict) -> str:
    """The accuracies (%) of every extractor side by side, with a header naming the data."""
    results = report["results"]
    names = list(results)
    rows = _rows(results)
    first = max([len("metric (%)")] + [len(label) for label, _ in rows])
    width = max(12, *(len(n) for n in names))
    any_result = next(iter(results.values()))
    lines = [
        f"{report['dataset']}: train on {any_result['train']['split']} "
        f"({any_result['train']['images']:,} images), test on {any_result['test']['split']} "
        f"({any_result['test']['images']:,} images)",
        "metric (%)".ljust(first) + "".join(n.rjust(width + 2) for n in names),
    ]
    lines.append("-" * len(lines[-1]))
    for label, cells in rows:
        lines.append(label.ljust(first) + "".join(c.rjust(width + 2) for c in cells))
    return "\n".join(lines)


def write_report(report: dict, run_dir: str | Path) -> Path:
    """Write ``eval.json``; results of the same encoder already there are kept and updated."""
    path = Path(run_dir) / EVAL_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file():
        previous = json.loads(path.read_text())
        same = previous.get("encoder_fingerprint") == report["encoder_fingerprint"]
        if same and previous.get("dataset") == report["dataset"]:
            merged = previous.get("results", {})
            for name, result in report["results"].items():
                merged.setdefault(name, {}).update(result)
            report = {**report, "results": merged}
    atomic_write(path, (json.dumps(report, indent=2) + "\n").encode())
    return path


def report_evaluation(
    loaded: LoadedEncoder, config: EvalConfig, mode: str = "all", out: str | Path | None = None
) -> dict:
    """Evaluate ``loaded`` with ``config`` by ``mode`` (knn, linear or all) beside its
    baselines, print the table, write ``eval.json`` to ``out`` (default: the run directory) and
    log the pretrained encoder's metrics to the loggers of its run; the report. The folder
    written is checked first."""
    check_folder_to_write("--out", out or loaded.run_dir)
    report = evaluate(loaded, config, mode, cache_dir(loaded, config))
    print(format_table(report))
    path = write_report(report, out or loaded.run_dir)
    print(f"wrote {printable(str(path))}")
    logged = log_to_run(loaded, report["results"][loaded.extractor.name])
    if logged:
        print(f"logged the pretrained encoder's eval/* metrics to {', '.join(logged)}")
    return report

"""``results.md`` and plots of an ablation: a table best-first with differences to the base run,
a line plot when the sweep varies one numeric key, a bar chart otherwise."""

from __future__ import annotations

from pathlib import Path

from ablation.config import AblationConfig, plan_runs
from ablation.results import latest_rows
from linear_eval.figure import new_figure, save_figure

METRICS = [("knn_top1", "kNN top-1"), ("linear_top1", "linear top-1")]


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def _score(text: str | None) -> float:
    """A run's value for ranking; unmeasured runs rank last."""
    value = _number(text)
    return -1.0 if value is None else value


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def _delta(value: float | None, base: float | None) -> str:
    if value is None or base is None:
        return "–"
    return f"{100 * (value - base):+.2f}"


def ranking_metric(rows: dict[str, dict[str, str]]) -> str:
    """kNN top-1 when it was measured, else linear top-1."""
    for key, _ in METRICS:
        if any(_number(row.get(key)) is not None for row in rows.values()):
            return key
    return METRICS[0][0]


def write_markdown(config: AblationConfig, rows: list[dict[str, str]], path: Path) -> str:
    latest = latest_rows(rows)
    metric = ranking_metric(latest)
    base = latest.get(config.reference, {})
    ok = [row for row in latest.values() if row["status"] == "ok"]
    ok.sort(key=lambda row: _score(row.get(metric)), reverse=True)
    failed = [row for row in latest.values() if row["status"] != "ok"]

    lines = [f"# Ablation: {config.name}", ""]
    if config.description:
        lines += [config.description.strip(), ""]
    if config.base_overrides:
        lines += [f"Budget and base overrides: `{' '.join(config.base_overrides)}`", ""]
    lines += [
        f"Ranked by {dict(METRICS).get(metric, metric)} (%); Δ is the difference to the reference "
        f"run `{config.reference}` in percentage points.",
        "",
        "| rank | run | overrides | kNN top-1 | Δ kNN | linear top-1 | Δ linear | final loss "
        "| time (s) |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for rank, row in enumerate(ok, start=1):
        knn, linear = _number(row.get("knn_top1")), _number(row.get("linear_top1"))
        loss = _number(row.get("final_loss"))
        lines.append(
            f"| {rank} | {row['run']} | `{row['overrides'] or '-'}` | {_percent(knn)} "
            f"| {_delta(knn, _number(base.get('knn_top1')))} | {_percent(linear)} "
            f"| {_delta(linear, _number(base.get('linear_top1')))} "
            f"| {'–' if loss is None else f'{loss:.3f}'} | {row.get('seconds', '')} |"
        )
    if failed:
        lines += ["", "Failed runs:", ""]
        lines += [f"- {row['run']}: {row.get('error', '')}" for row in failed]
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text


def _numeric_key(config: AblationConfig) -> str | None:
    if len(config.grid) != 1:
        return None
    key, values = next(iter(config.grid.items()))
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    return key if numeric and len(values) >= 2 else None


def write_plot(config: AblationConfig, rows: list[dict[str, str]], path: Path) -> Path | None:
    """A line plot of each metric against a single numeric grid key, else a bar chart."""
    latest = latest_rows(rows)
    measured = {k for row in latest.values() for k, _ in METRICS if _number(row.get(k)) is not None}
    metrics = [(k, label) for k, label in METRICS if k in measured]
    if not metrics:
        return None
    figure, axis = new_figure(figsize=(7, 4))
    key = _numeric_key(config)
    planned = [run for run in plan_runs(config) if latest.get(run.name, {}).get("status") == "ok"]
    if key is not None:
        points = [
            (float(run.overrides[0].split("=", 1)[1]), latest[run.name])
            for run in planned
            if run.overrides
        ]
        points.sort(key=lambda point: point[0])
        for metric, label in metrics:
            measured = [(x, _number(row.get(metric))) for x, row in points]
            measured = [(x, value) for x, value in measured if value is not None]
            xs = [x for x, _ in measured]
            ys = [100 * value for _, value in measured]
            axis.plot(xs, ys, marker="o", label=label)
        if (
            all(x > 0 for x, _ in points)
            and max(x for x, _ in points) / min(x for x, _ in points) >= 10
        ):
            axis.set_xscale("log")
        axis.set_xlabel(key)
    else:
        names = [run.name for run in planned]
        width = 0.8 / len(metrics)
        for offset, (metric, label) in enumerate(metrics):
            values = [100 * (_number(latest[n].get(metric)) or 0.0) for n in names]
            positions = [i + (offset - (len(metrics) - 1) / 2) * width for i in range(len(names))]
            axis.bar(positions, values, width=width, label=label)
        axis.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        low = min(100 * (_number(latest[n].get(m)) or 100) for n in names for m, _ in metrics)
        axis.set_ylim(max(0.0, low - 5), None)
    axis.set_ylabel("accuracy on the test split (%)")
    axis.set_title(f"ablation: {config.name}")
    axis.grid(alpha=0.3)
    axis.legend()
    return save_figure(figure, path)

"""Fine-tuning at several label fractions (``simclr finetune --sweep``): one run per fraction
of ``finetune.sweep_fractions``, their results in ``sweep.json`` and the label-efficiency plot
(test accuracy against the fraction of labels; SimCLR section 6 and Table 7)."""

from __future__ import annotations

import copy
from pathlib import Path

from linear_eval.config import EvalConfig
from linear_eval.features.encoders import LoadedEncoder
from linear_eval.finetune.label_efficiency import PLOT_FILE, plot_label_efficiency
from linear_eval.finetune.report import SWEEP_FILE, write_report
from linear_eval.finetune.run import finetune, run_name
from simclr.errors import ConfigError


def finetune_sweep(
    loaded: LoadedEncoder, config: EvalConfig, out_dir: str | Path | None = None
) -> tuple[list[dict], Path]:
    """:func:`linear_eval.finetune.run.finetune` at every fraction of
    ``finetune.sweep_fractions`` (for the epochs of ``finetune.sweep_epochs``, else
    ``finetune.epochs``), each in its own run directory; ``sweep.json`` and the label-efficiency
    plot go to ``RUN/finetune/sweep-seedS`` (or ``out_dir``). Returns the reports and the
    sweep's directory."""
    for key in ("labels_per_class", "label_subset"):
        if getattr(config.finetune, key) is not None:
            raise ConfigError(f"finetune.{key} is set: --sweep runs finetune.sweep_fractions")
    sweep_dir = Path(out_dir or loaded.run_dir / "finetune" / f"sweep-seed{config.seed}")
    reports = []
    epochs = config.finetune.sweep_epochs or [config.finetune.epochs] * len(
        config.finetune.sweep_fractions
    )
    for fraction, fraction_epochs in zip(config.finetune.sweep_fractions, epochs):
        one = copy.deepcopy(config)
        one.finetune.label_fraction, one.finetune.name = fraction, None
        one.finetune.epochs = fraction_epochs
        reports.append(finetune(loaded, one, sweep_dir / run_name(one)))
    summary = {
        "checkpoint": str(loaded.source),
        "dataset": config.data.name,
        "test_split": reports[0]["test_split"],
        "fractions": list(config.finetune.sweep_fractions),
        "runs": [
            {"labels": r["labels"], "epochs": r["epochs"], "results": r["results"]} for r in reports
        ],
    }
    write_report(summary, sweep_dir, SWEEP_FILE)
    title = f"{config.data.name}: {loaded.source}"
    plot_label_efficiency(reports, sweep_dir / PLOT_FILE, title)
    return reports, sweep_dir

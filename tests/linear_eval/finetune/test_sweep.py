"""Tests of linear_eval/finetune/sweep.py: every fraction fine-tuned for its own epochs, the
sweep's summary and its label-efficiency plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from linear_eval.finetune.methods import FINE_TUNED, LINEAR_PROBE
from linear_eval.finetune.sweep import finetune_sweep
from tests.linear_eval.finetune.fast import load_fast

pytestmark = pytest.mark.usefixtures("single_thread")


def test_the_sweep_writes_every_fraction_and_the_plot(run_dir: Path, synthetic) -> None:
    loaded, config = load_fast(
        run_dir, synthetic, "finetune.sweep_fractions=[0.125,0.25]", "finetune.baselines=[linear]"
    )
    reports, sweep_dir = finetune_sweep(loaded, config)
    assert [r["labels"]["count"] for r in reports] == [8, 16]
    assert [r["epochs"] for r in reports] == [1, 1]  # finetune.epochs=1 for every fraction
    summary = json.loads((sweep_dir / "sweep.json").read_text())
    assert [run["labels"]["label_fraction"] for run in summary["runs"]] == [0.125, 0.25]
    assert set(summary["runs"][0]["results"]) == {FINE_TUNED, LINEAR_PROBE}
    assert (sweep_dir / "label_efficiency.png").stat().st_size > 0


def test_the_sweep_trains_each_fraction_for_its_own_epochs(run_dir: Path, synthetic) -> None:
    overrides = ["finetune.sweep_fractions=[0.125,0.25]", "finetune.sweep_epochs=[2,1]"]
    loaded, config = load_fast(run_dir, synthetic, *overrides, "finetune.baselines=[]")
    reports, _ = finetune_sweep(loaded, config)
    assert [r["epochs"] for r in reports] == [2, 1]
    assert [r["results"][FINE_TUNED]["steps"] for r in reports] == [2 * 1, 1 * 2]  # 8, 16 rows

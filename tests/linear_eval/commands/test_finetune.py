"""Tests of linear_eval/commands/finetune.py: ``simclr finetune``'s flags, refused or translated
into the typed config before any work."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from linear_eval.commands import finetune
from simclr.errors import ConfigError
from tests.linear_eval.finetune.test_command import TORCHRUN


def _args(run_dir: Path, *overrides: str, **options) -> argparse.Namespace:
    settings = {"checkpoint": str(run_dir), "config": None, "out": None, "sweep": False}
    return argparse.Namespace(**{"baseline": None, **settings, **options}, overrides=[*overrides])


def test_copies_started_by_a_launcher_are_refused_before_any_work(
    run_dir: Path, monkeypatch
) -> None:
    for name, value in TORCHRUN.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match="started as 2 processes.*finetune.devices=N") as error:
        finetune.run(_args(run_dir))
    assert "\n" not in str(error.value) and not (run_dir / "finetune").exists()


@pytest.mark.parametrize(
    ("flags", "baselines"),
    [
        (["none"], []),
        (["scratch"], ["scratch"]),
        (["linear", "none", "scratch"], ["linear", "scratch"]),
    ],
)
def test_baseline_flags_are_assigned_to_the_config(
    run_dir: Path, monkeypatch, flags: list[str], baselines: list[str]
) -> None:
    """--baseline sets finetune.baselines (none: no baseline), the value the work receives."""
    received = {}

    def finetune_and_report(loaded, config, out, sweep):
        received.update(baselines=config.finetune.baselines, out=out, sweep=sweep)

    monkeypatch.setattr("linear_eval.finetune.command.finetune_and_report", finetune_and_report)
    assert finetune.run(_args(run_dir, baseline=flags, sweep=True)) == 0
    assert received == {"baselines": baselines, "out": None, "sweep": True}

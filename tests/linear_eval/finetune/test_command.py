"""Tests of linear_eval/finetune/command.py: the work of ``simclr finetune`` refused under an
external launcher before any work, its tables and where it wrote them."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from linear_eval.finetune.command import finetune_and_report, refuse_external_launcher
from simclr.errors import ConfigError
from tests.linear_eval.finetune.fast import FAST

TORCHRUN = {"RANK": "0", "WORLD_SIZE": "2", "TORCHELASTIC_RUN_ID": "x"}  # --nproc-per-node 2


def _args(run_dir: Path, *overrides: str, **options) -> argparse.Namespace:
    settings = {"checkpoint": str(run_dir), "config": None, "out": None, "sweep": False}
    return argparse.Namespace(**settings | options, overrides=list(overrides))


def test_one_process_or_one_launched_process_is_not_refused(monkeypatch) -> None:
    for name in (*TORCHRUN, "SLURM_NTASKS", "NODE_RANK"):
        monkeypatch.delenv(name, raising=False)
    refuse_external_launcher("finetune")
    monkeypatch.setenv("RANK", "0")  # a launcher that started one process
    refuse_external_launcher("finetune")


def test_copies_started_by_a_launcher_are_refused_before_any_work(
    run_dir: Path, monkeypatch
) -> None:
    for name, value in TORCHRUN.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match="started as 2 processes.*finetune.devices=N") as error:
        finetune_and_report(_args(run_dir))
    assert "\n" not in str(error.value) and not (run_dir / "finetune").exists()


@pytest.mark.usefixtures("single_thread")
def test_a_run_prints_its_table_and_where_it_wrote_it(
    run_dir: Path, synthetic, tmp_path: Path, capsys
) -> None:
    overrides = [*synthetic.eval_overrides, *FAST, "finetune.labels_per_class=1"]
    out = finetune_and_report(_args(run_dir, *overrides, "finetune.baselines=[]", out=tmp_path))
    assert out == tmp_path
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("synthetic_eval: 4 labelled images of train (1 per class of 64")
    assert (
        lines[3].split()[0] == "fine-tuned" and lines[-1] == f"wrote {tmp_path / 'finetune.json'}"
    )

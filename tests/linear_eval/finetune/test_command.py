"""Tests of linear_eval/finetune/command.py: the work of ``simclr finetune``, its tables and
where it wrote them; a process a launcher started is told so."""

from __future__ import annotations

from pathlib import Path

import pytest

from linear_eval.features.gallery import load_evaluation
from linear_eval.finetune.command import finetune_and_report, refuse_external_launcher
from tests.linear_eval.finetune.fast import FAST

TORCHRUN = {"RANK": "0", "WORLD_SIZE": "2", "TORCHELASTIC_RUN_ID": "x"}  # --nproc-per-node 2


def test_one_process_or_one_launched_process_is_not_refused(monkeypatch) -> None:
    for name in (*TORCHRUN, "SLURM_NTASKS", "NODE_RANK"):
        monkeypatch.delenv(name, raising=False)
    refuse_external_launcher("finetune")
    monkeypatch.setenv("RANK", "0")  # a launcher that started one process
    refuse_external_launcher("finetune")


@pytest.mark.usefixtures("single_thread")
def test_a_run_prints_its_table_and_where_it_wrote_it(
    run_dir: Path, synthetic, tmp_path: Path, capsys
) -> None:
    overrides = [*synthetic.eval_overrides, *FAST, "finetune.labels_per_class=1"]
    loaded, config = load_evaluation(run_dir, None, [*overrides, "finetune.baselines=[]"])
    out = finetune_and_report(loaded, config, tmp_path)
    assert out == tmp_path
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("synthetic_eval: 4 labelled images of train (1 per class of 64")
    assert (
        lines[3].split()[0] == "fine-tuned" and lines[-1] == f"wrote {tmp_path / 'finetune.json'}"
    )

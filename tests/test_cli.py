"""The ``simclr`` command's success paths: pretrain, then resume, through ``simclr.cli.main``."""

from __future__ import annotations

import json

import pytest

from simclr.cli import main


@pytest.mark.slow
def test_pretrain_then_resume_through_the_command(tmp_path, fashion_mnist_root, capsys):
    common = [
        "trainer.progress_bar=false",
        "trainer.accelerator=cpu",
        "trainer.devices=1",
    ]
    first = [
        "pretrain",
        f"run.out_dir={tmp_path}",
        "run.name=cli",
        f"data.root={fashion_mnist_root}",
        "data.download=false",
        "data.subset=128",
        "data.val_subset=64",
        "data.batch_size=32",
        "data.num_workers=0",
        "trainer.max_steps=2",
        *common,
    ]
    assert main(first) == 0
    run_dir = tmp_path / "cli"
    assert json.loads((run_dir / "summary.json").read_text())["global_step"] == 2
    assert "SimCLR pretraining finished" in capsys.readouterr().out

    assert main(["pretrain", "--resume", str(run_dir), "trainer.max_steps=4", *common]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["global_step"] == 4 and summary["images_seen"] == 4 * 32

    # --resume takes the run's own config: a second config file is refused in one line
    assert main(["pretrain", "--resume", str(run_dir), "--config", "configs/default.yaml"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1

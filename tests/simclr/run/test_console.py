"""What a person sees from start to end of a run: the project's lines, a bar that knows its
epoch and total after a resume, one line per epoch, and none of Lightning's chatter
(simclr/run/console.py, simclr/run/progress.py)."""

from __future__ import annotations

import csv
import re
import signal
import sys

import pytest

from tests.simclr.runs import pretrain_command, run, start, wait_for

pytestmark = pytest.mark.slow
NOISE = (
    "Tip:",
    "litlogger",
    "LeafSpec",
    "limit_val_batches",
    "weights_only",
    "exists and is not empty",
    "Restoring states",
    "Restored all states",
    "Loading `train_dataloader`",
    "Automatic Mixed Precision",
    "ended before the epoch ended",
    "v_num",
)


def test_a_run_and_its_resume_print_the_projects_lines_only(tmp_path, fashion_mnist_root):
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    command = pretrain_command(
        tmp_path,
        fashion_mnist_root,
        "data.subset=160",  # 5 steps an epoch
        "trainer.devices=1",
        "trainer.max_epochs=3",
        "trainer.log_every_n_steps=1",
        "trainer.loggers=[csv]",
    )
    process = start(command, out, err)
    wait_for(out, "[simclr] epoch 1/3", process)
    process.send_signal(signal.SIGTERM)  # a cut run, resumed below
    assert process.wait(timeout=300) == 128 + signal.SIGTERM
    first = out.read_text() + err.read_text()
    run_dir = tmp_path / "run"
    second = run([sys.executable, "-m", "simclr.cli", "pretrain", "--resume", str(run_dir)])
    for said in (first, second):
        for noise in NOISE:
            assert noise not in said, (noise, said)
        assert "/?" not in said  # every bar knows its total
        assert "[simclr] 1 process(es)" in said
    assert "SimCLR pretraining finished" in second

    # the resumed bar counts within its epoch, out of the epoch's 5 batches
    assert re.search(r"Epoch [12]: +\d+%\|[^|]*\| [1-5]/5 ", second), second
    assert re.search(r"\[simclr\] resumed at step \d+ of 15: the schedule goes on", second)

    # one line per epoch, with the epoch's mean loss as the CSV log has it
    with open(run_dir / "csv" / "version_0" / "metrics.csv") as infile:
        losses = [float(row["train/loss"]) for row in csv.DictReader(infile) if row["train/loss"]]
    line = re.search(r"\[simclr\] epoch 1/3 \(step 5/15\), loss ([\d.]+), .*probe .*views/s", first)
    assert line, first
    assert float(line.group(1)) == pytest.approx(sum(losses[:5]) / 5, abs=1e-4)
    assert re.search(r"\[simclr\] epoch 3/3 \(step 15/15\), loss .*, 0:00 left", second), second

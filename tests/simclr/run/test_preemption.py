"""A run stopped by SIGTERM (a scheduler) or Ctrl-C saves a checkpoint, says how to resume and
exits non-zero; the resumed run finishes (simclr/run/preemption.py)."""

from __future__ import annotations

import re
import signal
import sys

import pytest
import torch

from tests.simclr.runs import pretrain_command, run, start, wait_for

pytestmark = pytest.mark.slow


# 128 images in batches of 32 on each process: 4 steps an epoch on one, 2 on two
@pytest.mark.parametrize(
    "signum, overrides, steps_per_epoch",
    [
        (signal.SIGTERM, ["trainer.devices=1"], 4),
        (signal.SIGINT, ["trainer.devices=1"], 4),
        (signal.SIGTERM, ["trainer.devices=2", "trainer.strategy=ddp"], 2),  # gloo
    ],
    ids=["sigterm", "ctrl-c", "sigterm-ddp"],
)
def test_a_signal_leaves_a_resumable_checkpoint_and_a_nonzero_exit(
    tmp_path, fashion_mnist_root, signum, overrides, steps_per_epoch
) -> None:
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    command = pretrain_command(
        tmp_path,
        fashion_mnist_root,
        "data.subset=128",
        "trainer.max_epochs=40",  # far more than the test waits for: the signal ends it
        "trainer.progress_bar=false",
        "trainer.loggers=[]",
        *overrides,
    )
    process = start(command, out, err)
    wait_for(out, "[simclr] epoch 1/40", process)  # one epoch done, no periodic save yet
    process.send_signal(signum)
    code = process.wait(timeout=300)
    said = err.read_text()
    assert code == 128 + signum, said
    name = "SIGTERM" if signum == signal.SIGTERM else "SIGINT"
    found = re.search(rf"stopped by {name} at step (\d+);.*continue with: (.*)$", said, re.M)
    assert found, said
    assert said.count("continue with:") == 1  # one line, from global rank 0 only
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    step = int(torch.load(last, weights_only=True, mmap=True)["global_step"])
    assert step == int(found.group(1)) >= steps_per_epoch
    assert not (tmp_path / "run" / "encoder.pt").exists()  # nothing exported from a cut run

    resume = found.group(2).split()  # the printed command, as printed
    assert resume[:3] == ["simclr", "pretrain", "--resume"]
    run([sys.executable, "-m", "simclr.cli", *resume[1:], f"trainer.max_steps={step + 2}"])
    assert int(torch.load(last, weights_only=True, mmap=True)["global_step"]) == step + 2
    assert (tmp_path / "run" / "encoder.pt").is_file()

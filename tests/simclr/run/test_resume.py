"""A run killed mid-epoch and resumed is the uninterrupted run, bit for bit on CPU
(simclr/run/resume.py)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from tests.simclr.runs import pretrain_command

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]  # the repository


def command(tmp_path: Path, data_root: Path, name: str) -> list[str]:
    return pretrain_command(
        tmp_path,
        data_root,
        "data.subset=512",  # 16 batches an epoch: the kill lands mid-epoch, the rest crosses one
        "trainer.devices=1",
        "trainer.progress_bar=false",
        "trainer.max_epochs=3",  # max_steps ends the run
        "trainer.max_steps=40",
        "trainer.last_checkpoint_every_n_steps=3",
        f"run.name={name}",
    )


def checkpoint_step(path: Path) -> int:
    try:
        return int(torch.load(path, weights_only=True, mmap=True)["global_step"])
    except Exception:  # noqa: BLE001 - absent, or being written right now
        return -1


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_run_killed_mid_epoch_resumes_to_the_same_encoder(tmp_path, fashion_mnist_root):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    run = dict(cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(command(tmp_path, fashion_mnist_root, "whole"), check=True, timeout=300, **run)

    cut = subprocess.Popen(command(tmp_path, fashion_mnist_root, "cut"), **run)
    last = tmp_path / "cut" / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while checkpoint_step(last) < 20 and time.monotonic() < deadline and cut.poll() is None:
        time.sleep(0.01)
    cut.send_signal(signal.SIGKILL)
    cut.wait()
    killed_at = checkpoint_step(last)
    assert 20 <= killed_at < 40 and killed_at % 16 != 0  # mid-epoch, before the end
    assert not (tmp_path / "cut" / "encoder.pt").exists()

    resume = [*command(tmp_path, fashion_mnist_root, "cut")[:4], "--resume", str(tmp_path / "cut")]
    subprocess.run(resume, check=True, timeout=300, **run)
    assert sha256(tmp_path / "cut" / "encoder.pt") == sha256(tmp_path / "whole" / "encoder.pt")

"""A diverged run stops with one line and keeps only finite weights (simclr/run/divergence.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from simclr.cli import main

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:.*(num_workers|does not have many workers).*"),
]


def test_a_diverging_run_stops_and_exports_nothing(tmp_path: Path, fashion_mnist_root, capsys):
    argv = [
        "pretrain",
        f"data.root={fashion_mnist_root}",
        "data.download=false",
        "data.subset=256",
        "data.val_subset=64",
        "data.batch_size=32",
        "trainer.accelerator=cpu",
        "trainer.devices=1",
        "trainer.progress_bar=false",
        "trainer.max_steps=40",
        "trainer.last_checkpoint_every_n_steps=1",  # a checkpoint at every step, NaN included
        "optimizer.base_lr=1e6",  # LARS at this rate turns NaN within a few steps
        f"run.out_dir={tmp_path}",
        "run.name=diverged",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "training diverged at step" in err
    step = int(err.split("diverged at step ")[1].split(":")[0])
    assert 1 <= step < 40
    run_dir = tmp_path / "diverged"
    assert not (run_dir / "encoder.pt").exists() and not (run_dir / "summary.json").exists()
    checkpoints = list((run_dir / "checkpoints").glob("*.ckpt"))
    assert checkpoints  # saved before the divergence, at every step
    for path in checkpoints:
        checkpoint = torch.load(path, weights_only=True)
        assert checkpoint["global_step"] < step
        for name, tensor in checkpoint["state_dict"].items():
            assert not tensor.is_floating_point() or torch.isfinite(tensor).all(), (path, name)

"""examples/large_batch_in_chunks.py runs as its docstring says, on a tiny subset: a batch of 32
in chunks of 8 through Lightning's manual optimization, and the encoder it saves is a plain
torchvision ResNet-18 state_dict that its steps changed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.examples.running import run_example
from tests.examples.test_simclr_in_your_lightning_module import assert_f_was_trained


@pytest.mark.slow
def test_the_example_trains_in_chunks_and_saves_f(tmp_path: Path, fashion_mnist_root) -> None:
    out = tmp_path / "encoder.pt"
    arguments = ["--steps", "2", "--batch-size", "32", "--chunk-size", "8", "--subset", "64"]
    report = run_example(
        "large_batch_in_chunks.py", fashion_mnist_root, tmp_path, *arguments, "--out", str(out)
    )
    assert report["steps"] == 2 and torch.isfinite(torch.tensor(report["loss"]))
    assert_f_was_trained(out)

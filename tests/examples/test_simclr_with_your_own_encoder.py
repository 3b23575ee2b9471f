"""examples/simclr_with_your_own_encoder.py runs as its docstring says, on a tiny subset: the
package's SimCLR module trains an encoder it was handed, with the online probe beside it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.examples.running import run_example


@pytest.mark.slow
def test_the_module_trains_an_encoder_of_ones_own(tmp_path: Path, fashion_mnist_root) -> None:
    arguments = ["--steps", "4", "--batch-size", "16", "--subset", "64"]
    report = run_example(
        "simclr_with_your_own_encoder.py", fashion_mnist_root, tmp_path, *arguments
    )
    assert report["steps"] == 4
    # NT-Xent over 2N = 32 views starts near ln(2N - 1) and stays finite
    assert math.isfinite(report["train/loss"]) and 0 < report["train/loss"] < 2 * math.log(31)
    assert 0 <= report["train/probe_acc"] <= 1  # the probe trained on the labels beside f

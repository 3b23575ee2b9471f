"""examples/simclr_with_your_own_encoder.py runs as its docstring says, on a tiny subset: the
package's SimCLR module trains an encoder it was handed, with the online probe beside it."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from simclr.data.readers import read_fashion_mnist

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "simclr_with_your_own_encoder.py"


@pytest.mark.slow
def test_the_module_trains_an_encoder_of_ones_own(tmp_path: Path, fashion_mnist_root) -> None:
    read_fashion_mnist("train", root=str(fashion_mnist_root), download=False)  # the IDX files
    arguments = ["--data-root", str(fashion_mnist_root), "--no-download", "--steps", "4"]
    arguments += ["--batch-size", "16", "--subset", "64"]
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), *arguments],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["steps"] == 4
    # NT-Xent over 2N = 32 views starts near ln(2N - 1) and stays finite
    assert math.isfinite(report["train/loss"]) and 0 < report["train/loss"] < 2 * math.log(31)
    assert 0 <= report["train/probe_acc"] <= 1  # the probe trained on the labels beside f

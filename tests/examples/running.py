"""Running an example script as its docstring says: on a tiny subset of the system's
Fashion-MNIST, in a folder of its own, its last stdout line the JSON report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from simclr.data.readers import read_fashion_mnist

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str, data_root: Path, cwd: Path, *arguments: str) -> dict:
    """``python examples/NAME --data-root DATA --no-download ARGUMENTS`` in ``cwd``: its report."""
    read_fashion_mnist("train", root=str(data_root), download=False)  # the IDX files
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--data-root", str(data_root), "--no-download"]
        + list(arguments),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])

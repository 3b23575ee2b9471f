"""The default recipe's encoder after 5 steps on Fashion-MNIST, bit for bit, against a stored
sha256: a refactoring that changes any number the default run computes (the order of the
images, a random draw of the views, an initial weight, a step of the optimizer) fails here.

Float results on a CPU depend on the kernels torch picks for the instruction set and on the
number of threads that split each reduction, so the hash holds for the machine it was recorded
on (this project's 2-core CI machine); elsewhere the test says so and is skipped.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

RECORDED = {
    # recorded after the validation split (issue 35) took 6,000 images out of pretraining; with
    # data.val_fraction=0 the run still gives the hash recorded after the fused views (issue 24),
    # dfb0d4a7514c2d95043f97e28e56a5fae9c67f3a000cffd9ae70aeb19a674e8c: nothing else changed
    "sha256": "6a1d24c27569d7dd4e9dc6f7a3b0bf15de156620c14d45552882b0737458cd78",
    "torch": "2.14.1",
    "cpu_capability": "AVX512",
    "cpu_model": "AMD EPYC",
    "threads": 2,
}
STEPS = 5


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def this_machine() -> dict:
    return {
        "torch": torch.__version__.split("+")[0],
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_model": cpu_model(),
    }


def encoder_sha256(path: Path) -> str:
    """sha256 over every (name, dtype, shape, bytes) of a state_dict, in name order."""
    import hashlib

    state = torch.load(path, weights_only=True)
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@pytest.mark.slow
def test_five_default_steps_give_the_recorded_encoder(
    tmp_path: Path, fashion_mnist_root: Path
) -> None:
    machine = this_machine()
    differs = {k: v for k, v in machine.items() if v != RECORDED[k]}
    if differs:
        pytest.skip(f"the hash was recorded on {RECORDED}; this machine differs in {differs}")
    arguments = [
        "pretrain",
        f"trainer.max_steps={STEPS}",
        "trainer.accelerator=cpu",
        "trainer.progress_bar=false",
        f"data.root={fashion_mnist_root}",
        f"run.out_dir={tmp_path}",
        "run.name=five",
    ]
    code = (
        "import sys, torch\n"
        f"torch.set_num_threads({RECORDED['threads']})\n"
        "from simclr.cli import main\n"
        f"sys.exit(main({arguments!r}))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert encoder_sha256(tmp_path / "five" / "encoder.pt") == RECORDED["sha256"]

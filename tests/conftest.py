"""Shared fixtures of the simclr core tests: small configs, seeded RNG, real Fashion-MNIST."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from simclr.config import SimCLRConfig, load_config
from simclr.data import FASHION_MNIST_SYSTEM_DIR

# small and offline: nothing in a unit test downloads, spawns workers or draws a progress bar
TINY_OVERRIDES = [
    "data.image_size=16",
    "data.batch_size=8",
    "data.num_workers=0",
    "data.download=false",
    "trainer.progress_bar=false",
    "trainer.accelerator=cpu",
    "trainer.devices=1",
]


@pytest.fixture
def seeded() -> None:
    """torch's global RNG at a fixed state, for tests that draw random data."""
    torch.manual_seed(0)


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., SimCLRConfig]:
    """``make_config("key=value", ...)``: a validated tiny config whose runs go under tmp_path."""

    def make(*overrides: str) -> SimCLRConfig:
        base = [*TINY_OVERRIDES, f"data.root={tmp_path / 'data'}", f"run.out_dir={tmp_path}"]
        return load_config(None, [*base, *overrides])

    return make


@pytest.fixture(scope="session")
def fashion_mnist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data.root holding the system's Fashion-MNIST, extracted once per session."""
    if not FASHION_MNIST_SYSTEM_DIR.is_dir():
        pytest.skip(f"{FASHION_MNIST_SYSTEM_DIR} is absent (Debian package dataset-fashion-mnist)")
    return tmp_path_factory.mktemp("fashion_mnist_root")

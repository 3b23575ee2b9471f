"""Fixtures of the ablation tests: a tiny pretraining budget and ablation files written with it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import OmegaConf


@pytest.fixture
def tiny_budget() -> Callable[[Path], list[str]]:
    """``tiny_budget(data_root)``: base overrides for runs of 3 CPU steps on a data subset."""

    def budget(root: Path) -> list[str]:
        return [
            f"data.root={root}",
            "data.subset=128",
            "data.val_subset=64",
            "data.batch_size=32",
            "data.num_workers=0",
            "data.download=false",
            "trainer.max_epochs=3",  # max_steps ends the run
            "trainer.max_steps=3",
            "trainer.progress_bar=false",
            "trainer.accelerator=cpu",
            "trainer.devices=1",
        ]

    return budget


@pytest.fixture
def write_ablation(tmp_path: Path, tiny_budget) -> Callable[..., Path]:
    """``write_ablation(data_root, **fields)``: ``tmp_path/tiny.yaml``, an ablation named tiny
    with the tiny budget whose results go to ``tmp_path/sweeps/tiny``; ``fields`` are its keys."""

    def write(root: Path, **fields) -> Path:
        content = {
            "name": "tiny",
            "out_dir": str(tmp_path / "sweeps"),
            "base_overrides": tiny_budget(root),
            "eval": {"train_subset": 128, "test_subset": 64},
            **fields,
        }
        path = tmp_path / "tiny.yaml"
        path.write_text(OmegaConf.to_yaml(OmegaConf.create(content)))
        return path

    return write

"""Every command that reads pretraining settings (``pretrain``, and ``ablate`` for each of its
runs) runs the check of every section before any work: walked over the sections of
``SimCLRConfig``, taken from the code, so a new section cannot be skipped silently. The
evaluation commands have the same walk over ``EvalConfig`` (tests/linear_eval)."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from simclr.config import SimCLRConfig
from tests.refusals import refusals

pytestmark = pytest.mark.usefixtures("single_thread")

# one invalid value of each section (its key is the one the error must name)
INVALID = {
    "data": "data.batch_size=0",
    "augment": "augment.crop.scale=[0.9,0.1]",
    "encoder": "encoder.name=resnet7",
    "head": "head.projection_dim=0",
    "loss": "loss.temperature=0",
    "optimizer": "optimizer.base_lr=-1",
    "probe": "probe.lr=0",
    "trainer": "trainer.max_epochs=0",
    "logging": "logging.loggers=[nope]",
    "run": "run.seed=-1",
}


def test_the_walk_covers_every_section() -> None:
    config = SimCLRConfig()
    sections = {f.name for f in fields(config) if is_dataclass(getattr(config, f.name))}
    assert set(INVALID) == sections  # a new section needs its invalid value here


def test_pretrain_refuses_an_invalid_value_of_each_section_before_any_work(
    synthetic, tmp_path: Path, capsys
) -> None:
    base = [*synthetic.pretrain_overrides, f"data.root={tmp_path / 'data'}"]
    base.append(f"run.out_dir={tmp_path / 'runs'}")
    argvs = {override: ["pretrain", *base, override] for override in INVALID.values()}
    assert not refusals(argvs, tmp_path, capsys)


@pytest.mark.parametrize("where", ["base", "run"])
def test_ablate_refuses_an_invalid_value_of_each_section_before_any_run(
    where: str, synthetic, tmp_path: Path, capsys
) -> None:
    base = [*synthetic.pretrain_overrides, f"data.root={tmp_path / 'data'}"]
    argvs, ok = {}, "loss.temperature=0.2"
    for section, override in INVALID.items():
        sweep = {
            "name": "sweep",
            "out_dir": str(tmp_path / "sweeps"),
            "base_overrides": [*base, override] if where == "base" else base,
            "runs": [{"name": "changed", "overrides": [override if where == "run" else ok]}],
            "eval": {"measure_on": "test"},  # the synthetic dataset holds no val split out
        }
        path = tmp_path / f"{section}.yaml"
        path.write_text(OmegaConf.to_yaml(OmegaConf.create(sweep)))
        argvs[override] = ["ablate", "--config", str(path)]
    assert not refusals(argvs, tmp_path, capsys)

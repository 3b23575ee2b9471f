"""The pretraining config of a run (simclr/config/load.py): defaults, a recipe file, overrides,
checked; and a checkpoint's hyper-parameters back into the schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from simclr.config import ConfigError, SimCLRConfig
from simclr.config.load import as_config, load_config


def test_overrides_are_applied_with_their_types() -> None:
    config = load_config(
        None,
        [
            "loss.temperature=0.5",
            "data.batch_size=32",
            "augment.crop.scale=[0.2,1.0]",
            "encoder.residual=false",
            "data.subset=1000",
            "head.hidden_dim=64",
        ],
    )
    assert config.loss.temperature == 0.5
    assert config.data.batch_size == 32
    assert config.augment.crop.scale == [0.2, 1.0]
    assert config.encoder.residual is False
    assert config.data.subset == 1000
    assert config.head.hidden_dim == 64
    assert config.optimizer == SimCLRConfig().optimizer  # everything else keeps its default


def test_file_then_overrides(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("loss:\n  temperature: 0.1\ndata:\n  name: cifar10\n  batch_size: 64\n")
    config = load_config(recipe, ["loss.temperature=0.7"])
    assert (config.loss.temperature, config.data.name, config.data.batch_size) == (
        0.7,
        "cifar10",
        64,
    )
    assert config.head == SimCLRConfig().head


def test_the_loaded_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="data.batch_size=1 is invalid"):
        load_config(None, ["data.batch_size=1"])  # a valid int: only the schema's check refuses


def test_as_config_keeps_a_config_and_rebuilds_one_from_a_dict() -> None:
    config = load_config(None, ["loss.temperature=0.3", "encoder.stem=small"])
    assert as_config(config) is config
    saved = OmegaConf.to_container(OmegaConf.structured(config))
    rebuilt = as_config(saved)
    assert isinstance(rebuilt, SimCLRConfig) and rebuilt == config


def test_as_config_gives_keys_added_since_the_checkpoint_their_defaults() -> None:
    saved = OmegaConf.to_container(OmegaConf.structured(SimCLRConfig()))
    del saved["probe"]
    del saved["optimizer"]["trust_coefficient"]
    saved["loss"]["temperature"] = 0.25
    rebuilt = as_config(saved)
    assert rebuilt.loss.temperature == 0.25
    assert rebuilt.probe == SimCLRConfig().probe
    assert rebuilt.optimizer.trust_coefficient == SimCLRConfig().optimizer.trust_coefficient


def test_as_config_refuses_an_unknown_key() -> None:
    with pytest.raises(ConfigError, match="unknown config key 'loss.tau'"):
        as_config({"loss": {"tau": 0.5}})

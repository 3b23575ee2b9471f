"""Configuration: the pretraining schema, loading and merging, and checks of single values.

- :mod:`simclr.config.schema`: the dataclasses of every section, each with its ``check()``; the
  ``augment`` section in :mod:`simclr.config.augment`, the ``data`` section beside the package
  it configures (:mod:`simclr.data.config`);
- :mod:`simclr.config.load`: :func:`load_config` and :func:`as_config`;
- :mod:`simclr.config.merge`: layers (schema, YAML, dicts, ``key=value``) merged by OmegaConf;
- :mod:`simclr.errors`: ``require`` and the checks every schema states its values with.
"""

from simclr.config.augment import AugmentConfig, NormalizeConfig
from simclr.config.load import as_config, load_config
from simclr.config.merge import build_config, merge_config, save_config, to_yaml
from simclr.config.schema import (
    EncoderConfig,
    HeadConfig,
    OptimizerConfig,
    RunConfig,
    SimCLRConfig,
    TrainerConfig,
)
from simclr.data.config import DataConfig
from simclr.errors import ConfigError, check_finite, check_subset, check_workers, require

__all__ = [
    "AugmentConfig",
    "ConfigError",
    "DataConfig",
    "EncoderConfig",
    "HeadConfig",
    "NormalizeConfig",
    "OptimizerConfig",
    "RunConfig",
    "SimCLRConfig",
    "TrainerConfig",
    "as_config",
    "build_config",
    "check_finite",
    "check_subset",
    "check_workers",
    "load_config",
    "merge_config",
    "require",
    "save_config",
    "to_yaml",
]

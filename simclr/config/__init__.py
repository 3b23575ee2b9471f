"""Configuration: the pretraining schema, loading and merging, and checks of single values.

- :mod:`simclr.config.schema`: the dataclasses of every section, each with its ``check()``;
- :mod:`simclr.config.load`: :func:`load_config` and :func:`as_config`;
- :mod:`simclr.config.merge`: layers (schema, YAML, dicts, ``key=value``) merged by OmegaConf;
- :mod:`simclr.config.checks`: ``require`` and the checks every schema states its values with.
"""

from simclr.config.checks import check_finite, check_subset, check_workers, require
from simclr.config.load import as_config, load_config
from simclr.config.merge import build_config, merge_config, save_config, to_yaml
from simclr.config.schema import (
    AugmentConfig,
    DataConfig,
    EncoderConfig,
    HeadConfig,
    NormalizeConfig,
    OptimizerConfig,
    RunConfig,
    SimCLRConfig,
    TrainerConfig,
)
from simclr.errors import ConfigError

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

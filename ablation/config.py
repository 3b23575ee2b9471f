"""Schema of an ablation file (``configs/ablations/*.yaml``).

An ablation is a base pretraining config plus a list of runs, each a list of ``key=value``
overrides of that base: either spelled out under ``runs`` or the cartesian product of ``grid``.
The base run (no overrides) is included by default, so every result has a reference.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from simclr.config import ConfigError, SimCLRConfig, load_config, merge_config
from simclr.config.recipes import recipe_file
from simclr.data.config import resolved_spec
from simclr.data.held_out import MEASURED_SPLITS
from simclr.errors import check_choice
from simclr.run.launch import check_devices
from simclr.run.paths import check_folder_to_write, check_name, check_pretrain_paths


@dataclass
class SweepRun:
    name: str = ""
    overrides: list[str] = field(default_factory=list)


@dataclass
class SweepEval:
    knn: bool = True
    linear: bool = True
    train_subset: float | None = None  # labelled training images the probes fit on
    test_subset: float | None = None  # images of the measured split
    # a sweep chooses, so it measures on the validation split held out of the training split;
    # test reports (simclr eval) and is read once, after the choice
    measure_on: str = "val"


@dataclass
class AblationConfig:
    name: str = ""
    description: str = ""
    base_config: str | None = None  # pretraining YAML (relative paths: from this file)
    base_overrides: list[str] = field(default_factory=list)  # the budget, shared by every run
    grid: dict[str, list[Any]] = field(default_factory=dict)
    runs: list[SweepRun] = field(default_factory=list)
    include_base: bool = True
    reference: str = "base"  # the run that differences in results.md are taken against
    out_dir: str = "runs/ablations"  # results go to out_dir/name
    eval: SweepEval = field(default_factory=SweepEval)


@dataclass(frozen=True)
class PlannedRun:
    name: str
    overrides: tuple[str, ...]


def load_ablation(path: str | Path, overrides: list[str] | None = None) -> AblationConfig:
    """Read an ablation file (a path, or a shipped one by name: ``ablations/temperature``);
    ``overrides`` (``key=value``) change the ablation file's own keys."""
    path = recipe_file(path)
    sources: list[Any] = [path] + ([list(overrides)] if overrides else [])
    config: AblationConfig = OmegaConf.to_object(merge_config(AblationConfig, sources))
    if not config.name:
        config.name = path.stem
    if config.base_config is not None and not Path(config.base_config).is_absolute():
        candidate = path.parent / config.base_config
        config.base_config = str(candidate if candidate.exists() else Path(config.base_config))
    if not config.grid and not config.runs:
        raise ConfigError(f"{path}: an ablation needs 'grid' or 'runs'")
    check_paths(config)
    check_choice("eval.measure_on", config.eval.measure_on, MEASURED_SPLITS)
    return config


def _check_measured_split(sweep_eval: SweepEval, run: SimCLRConfig) -> None:
    """A sweep measuring on val needs a run whose data holds a validation split out."""
    if sweep_eval.measure_on == "val" and resolved_spec(run.data).eval_val_split is None:
        raise ConfigError(
            f"eval.measure_on='val' needs a validation split held out of the training split, "
            f"which data.name={run.data.name!r} with data.val_fraction={run.data.val_fraction} "
            "has not: set eval.measure_on=test (a folder's val part is its reported split)"
        )


def check_paths(config: AblationConfig) -> None:
    """Before any run: ``name`` is one file name (results go to out_dir/name, never beside
    it), ``out_dir`` a folder that can be written, ``base_config`` a file."""
    check_name("name", config.name)
    check_folder_to_write("out_dir", config.out_dir)
    if config.base_config is not None:
        try:
            recipe_file(config.base_config)
        except ConfigError as error:
            raise ConfigError(f"base_config: {error}") from None


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=,+-]+", "_", text)


def plan_runs(config: AblationConfig) -> list[PlannedRun]:
    """The runs of the sweep in order: base, then the grid's product, then the listed runs."""
    planned: list[PlannedRun] = []
    if config.include_base:
        planned.append(PlannedRun("base", ()))
    if config.grid:
        keys = list(config.grid)
        for key in keys:
            if not config.grid[key]:
                raise ConfigError(f"grid.{key}: an empty list of values plans no runs: give it one")
        for values in itertools.product(*(config.grid[key] for key in keys)):
            overrides = tuple(f"{k}={_format_value(v)}" for k, v in zip(keys, values))
            planned.append(PlannedRun(_safe_name(",".join(overrides)), overrides))
    for number, run in enumerate(config.runs):
        name = _safe_name(run.name or ",".join(run.overrides) or "base")
        planned.append(PlannedRun(check_name(f"runs[{number}].name", name), tuple(run.overrides)))
    names = [run.name for run in planned]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"runs: names must be unique, repeated: {', '.join(duplicates)}")
    return planned


def run_config(config: AblationConfig, run: PlannedRun, runs_dir: Path) -> SimCLRConfig:
    """The full pretraining config of one run (raises ConfigError on a bad key or value)."""
    overrides = [*config.base_overrides, *run.overrides]
    overrides += [f"run.out_dir={runs_dir}", f"run.name={run.name}"]
    try:
        return load_config(config.base_config, overrides)
    except ConfigError as error:
        raise ConfigError(f"run {run.name!r}: {error}") from None


def check_all_runs(config: AblationConfig, runs_dir: Path) -> list[SimCLRConfig]:
    """Every run's config, so that a bad key or device setting anywhere fails before the first
    run starts."""
    configs = []
    for run in plan_runs(config):
        configs.append(run_config(config, run, runs_dir))
        try:
            check_devices(configs[-1].trainer)
            check_pretrain_paths(configs[-1])
            _check_measured_split(config.eval, configs[-1])
        except ConfigError as error:
            raise ConfigError(f"run {run.name!r}: {error}") from None
    return configs

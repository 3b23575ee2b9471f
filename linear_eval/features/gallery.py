"""What the evaluation commands share: the encoder and evaluation config they are given, the
feature cache's directory, and the frozen features of a command's gallery."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from linear_eval.config import EvalConfig, adapt_to_encoder, load_eval_config
from linear_eval.features.cache import Features
from linear_eval.features.encoders import LoadedEncoder, load_encoder
from linear_eval.features.extract import extract_features
from simclr.data.config import resolved_spec
from simclr.errors import require


def load_evaluation(
    checkpoint: str | Path,
    config_file: str | Path | None = None,
    overrides: Sequence[str] = (),
    folder: str | Path | None = None,
    settings: dict[str, Any] | None = None,
) -> tuple[LoadedEncoder, EvalConfig]:
    """The encoder of ``checkpoint`` and its evaluation settings: the run's data, then
    ``config_file``, ``overrides`` and ``settings`` (keys to values, assigned as they are), the
    images of ``folder`` in place of the dataset when it is given."""
    loaded = load_encoder(checkpoint)
    settings = dict(settings or {})
    if folder is not None:
        settings["data"] = {**settings.get("data", {}), "name": "folder", "path": str(folder)}
    config = load_eval_config(loaded.pretrain_config, config_file, list(overrides), settings)
    return loaded, adapt_to_encoder(config, loaded.encoder.in_channels, loaded.pretrain_config)


def cache_dir(loaded: LoadedEncoder, config: EvalConfig) -> Path:
    return Path(config.features.cache_dir or loaded.run_dir / "features")


def gallery_features(
    loaded: LoadedEncoder, config: EvalConfig, split: str | None = None
) -> Features:
    """The frozen features of the gallery: ``split`` of ``config.data`` (default: its labelled
    training split, else the one it pretrains on), cached in the run's feature cache."""
    spec = resolved_spec(config.data)
    split = split or spec.eval_train_split or spec.pretrain_split
    subset = gallery_subset(config, split, spec.eval_test_split)
    return extract_features(loaded.extractor, config, split, subset, cache_dir(loaded, config))


def gallery_subset(config: EvalConfig, split: str, test_split: str | None) -> float | None:
    """The subset of the one split a gallery command reads: on the labelled test split
    ``data.val_subset`` as in ``simclr eval`` (else ``data.subset``), on any other split
    ``data.subset``; a ``data.val_subset`` that would do nothing is refused in one line."""
    data = config.data
    if split == test_split and data.val_subset is not None:
        return data.val_subset
    tested = f"the test split ({test_split})" if test_split else "a test split, which has none"
    allowed = f"applies to {tested}, not to split {split}: set data.subset"
    require(data.val_subset is None, "data.val_subset", data.val_subset, allowed)
    return data.subset


def gallery_name(config: EvalConfig, features: Features) -> str:
    """A file name for the gallery: dataset, split and subset (e.g. fashion_mnist-test-1000)."""
    subset = features.meta["subset"]
    name = f"{config.data.name}-{features.meta['split']}"
    return (name if subset is None else f"{name}-{subset:g}").replace("+", "_")

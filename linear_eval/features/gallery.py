"""What the evaluation commands share: the encoder and evaluation config a command line names,
the feature cache's directory, and the frozen features of a command's gallery."""

from __future__ import annotations

import argparse
from pathlib import Path

from linear_eval.config import EvalConfig, adapt_to_encoder, load_eval_config
from linear_eval.features.cache import Features
from linear_eval.features.encoders import LoadedEncoder, load_encoder
from linear_eval.features.extract import extract_features
from simclr.data.config import resolved_spec
from simclr.errors import require
from simclr.run.paths import check_folder_to_write


def load(args: argparse.Namespace) -> tuple[LoadedEncoder, EvalConfig]:
    loaded = load_encoder(args.checkpoint)
    overrides = list(args.overrides)
    if getattr(args, "folder", None):
        overrides += ["data.name=folder", f"data.path={args.folder}"]
    config = load_eval_config(loaded.pretrain_config, args.config, overrides)
    return loaded, adapt_to_encoder(config, loaded.encoder.in_channels, loaded.pretrain_config)


def cache_dir(loaded: LoadedEncoder, config: EvalConfig) -> Path:
    return Path(config.features.cache_dir or loaded.run_dir / "features")


def gallery_features(
    args: argparse.Namespace, default_dir: str | None = None
) -> tuple[LoadedEncoder, EvalConfig, Features]:
    """The run, the settings and the gallery's features; without ``--out``, ``RUN/default_dir``
    (where the output then goes) is checked writable once the run is known, before extraction."""
    loaded, config = load(args)
    if default_dir is not None and not getattr(args, "out", None):
        check_folder_to_write("--out", loaded.run_dir / default_dir)
    spec = resolved_spec(config.data)
    split = args.split or spec.eval_train_split or spec.pretrain_split
    subset = gallery_subset(config, split, spec.eval_test_split)
    features = extract_features(loaded.extractor, config, split, subset, cache_dir(loaded, config))
    return loaded, config, features


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

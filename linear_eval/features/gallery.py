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


def load(args: argparse.Namespace) -> tuple[LoadedEncoder, EvalConfig]:
    loaded = load_encoder(args.checkpoint)
    overrides = list(args.overrides)
    if getattr(args, "folder", None):
        overrides += ["data.name=folder", f"data.path={args.folder}", "data.subset=null"]
    config = load_eval_config(loaded.pretrain_config, args.config, overrides)
    return loaded, adapt_to_encoder(config, loaded.encoder.in_channels, loaded.pretrain_config)


def cache_dir(loaded: LoadedEncoder, config: EvalConfig) -> Path:
    return Path(config.features.cache_dir or loaded.run_dir / "features")


def gallery_features(args: argparse.Namespace) -> tuple[LoadedEncoder, EvalConfig, Features]:
    loaded, config = load(args)
    spec = resolved_spec(config.data)
    split = args.split or spec.eval_train_split or spec.pretrain_split
    features = extract_features(
        loaded.extractor, config, split, config.data.subset, cache_dir(loaded, config)
    )
    return loaded, config, features


def gallery_name(config: EvalConfig, features: Features) -> str:
    """A file name for the gallery: dataset, split and subset (e.g. fashion_mnist-test-1000)."""
    subset = features.meta["subset"]
    name = f"{config.data.name}-{features.meta['split']}"
    return (name if subset is None else f"{name}-{subset:g}").replace("+", "_")

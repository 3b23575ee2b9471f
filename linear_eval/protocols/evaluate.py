"""``simclr eval``: kNN and linear evaluation of a pretrained encoder beside two baselines.

The pretrained f, a randomly initialised f of the same architecture and raw pixels are all
evaluated with the same protocols on the same cached features of the dataset's labelled
training and test splits, so the gain from pretraining is read off one table. The encoder's
weights are only read: features are extracted under :func:`linear_eval.features.encoders.frozen`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from omegaconf import OmegaConf

from linear_eval.config import EvalConfig
from linear_eval.features.cache import Features
from linear_eval.features.encoders import (
    FeatureExtractor,
    LoadedEncoder,
    random_encoder,
    raw_pixels,
)
from linear_eval.features.extract import extract_features, split_label
from linear_eval.features.preprocess import select_device
from linear_eval.progress import Progress
from linear_eval.protocols.augmented_probe import augmented_linear_probe
from linear_eval.protocols.few_labels import few_label_results, label_sets
from linear_eval.protocols.knn import knn_classify
from linear_eval.protocols.linear import linear_probe
from linear_eval.protocols.result_cache import cached_result
from simclr.data.config import resolved_spec
from simclr.data.folders import split_folders, subfolders_without_images
from simclr.data.splits import split_labels
from simclr.errors import ConfigError
from simclr.run.torch_files import read_torch_file

MODES = ("knn", "linear", "all")


def labelled_splits(config: EvalConfig) -> tuple[str, str]:
    """The dataset's (training, measured) splits for evaluation: the measured one is ``test``,
    or with ``measure_on=val`` the validation split held out of the training split
    (:mod:`simclr.data.held_out`); refuses unlabelled datasets.

    An image folder's are its ``train`` and ``val`` (else ``test``) subfolders, or the parts
    ``data.val_fraction`` holds out of a folder without them (:mod:`simclr.data.folders`)."""
    spec = resolved_spec(config.data)
    if config.measure_on == "val":
        if spec.eval_val_split is None:
            why = "the folder's val part is its reported split" if spec.layout else "0 holds none"
            fraction = config.data.val_fraction
            raise ConfigError(
                f"measure_on='val' needs a validation split held out of {config.data.name}'s "
                f"training split, and data.val_fraction={fraction} gives none ({why}): set "
                "measure_on=test or data.val_fraction to a value in (0, 1)"
            )
        return spec.eval_train_split, spec.eval_val_split
    if spec.eval_train_split is None or spec.eval_test_split is None:
        how = "a labelled dataset (index, retrieve, embed and plot do not)"
        if config.data.name == "folder":
            how = (
                f"class folders: lay data.path out as {config.data.path}/train/CLASS/ and "
                f"{config.data.path}/val/CLASS/, or hold out a seeded part of its class folders "
                "with data.val_fraction=0.2"
            )
            path = Path(config.data.path)
            found = path.is_dir() and subfolders_without_images(path)
            if found and split_folders(path):  # laid out as asked: say what it holds instead
                how = f"class folders of images: {found}"
            elif found:
                how = f"{how} ({found})"
        raise ConfigError(
            f"data.name={config.data.name!r} has no labelled train/test splits: kNN and linear "
            f"evaluation need {how}"
        )
    return spec.eval_train_split, spec.eval_test_split


def extractors(loaded: LoadedEncoder, config: EvalConfig) -> list[FeatureExtractor]:
    """The pretrained encoder, then the baselines the config asks for."""
    chosen = [loaded.extractor]
    if config.baselines.random_init:
        chosen.append(random_encoder(loaded.encoder, config.seed))
    if config.baselines.raw_pixels:
        chosen.append(raw_pixels())
    return chosen


def evaluate_extractor(
    extractor: FeatureExtractor,
    config: EvalConfig,
    mode: str,
    cache_dir: Path,
    augmented: bool = False,
) -> dict:
    """kNN and/or linear results of one extractor on the dataset's labelled splits. Each
    protocol's result is cached beside the features (:mod:`linear_eval.protocols.result_cache`) and
    read back when nothing it depends on changed; ``results_from_cache`` names those read back."""
    train_split, test_split = labelled_splits(config)
    start = time.perf_counter()
    train = extract_features(extractor, config, train_split, config.data.subset, cache_dir)
    test = extract_features(extractor, config, test_split, config.data.val_subset, cache_dir)
    result: dict = {
        "feature_dim": int(train.representation.shape[1]),
        "features_seconds": round(time.perf_counter() - start, 2),
        "features_from_cache": train.from_cache and test.from_cache,
        "train": _describe(train),
        "test": _describe(test),
    }
    progress = Progress(extractor.name, config.features.progress_bar)
    from_cache: list[str] = []

    def run(protocol: str, name: str, settings: dict, compute: Callable[[], dict]) -> None:
        found, cached = cached_result(cache_dir, protocol, train, test, settings, compute)
        result.update(found)
        if cached:
            from_cache.append(protocol)
            progress.say(f"{name}: the cached result of an earlier run with these settings")

    if mode in ("knn", "all"):
        run("knn", "kNN", _knn_settings(config), lambda: _knn(train, test, config, progress))
    if mode in ("linear", "all"):
        settings = _linear_settings(config)
        run("linear", "linear probe", settings, lambda: _linear(train, test, config, progress))
        if augmented:
            decay = result["linear"]["weight_decay"]
            run(
                "linear_augmented",
                "linear probe crop+flip",
                {**_augmented_settings(config), "weight_decay": decay},
                lambda: {
                    "linear_augmented": augmented_linear_probe(
                        extractor, config, train, test, decay, progress
                    )
                },
            )
    few = config.few_labels
    protocols = tuple(p for p in ("knn", "linear") if mode in (p, "all"))
    if few.fractions or few.per_class:
        settings = {
            "few_labels": asdict(few),
            "knn": _knn_settings(config),
            "protocols": protocols,
            **_linear_settings(config),
        }
        run(
            "few_labels",
            "few labels",
            settings,
            lambda: few_label_results(train, test, config, protocols, progress),
        )
    result["results_from_cache"] = from_cache
    return result


def _knn_settings(config: EvalConfig) -> dict:
    knn = config.knn
    return {"k": sorted(set(knn.k)), "temperature": knn.temperature, "chunk": knn.query_chunk}


def _linear_settings(config: EvalConfig) -> dict:
    """Every linear.* key but the crop-and-flip probe's, and the seed."""
    linear = {k: v for k, v in asdict(config.linear).items() if not k.startswith("augment")}
    return {"linear": linear, "seed": config.seed}


def _augmented_settings(config: EvalConfig) -> dict:
    """Every linear.* key, the seed, and the device (its random crops are drawn there)."""
    device = select_device(config.features.device).type
    return {"linear": asdict(config.linear), "seed": config.seed, "device": device}


def _knn(train: Features, test: Features, config: EvalConfig, progress: Progress) -> dict:
    start = time.perf_counter()
    ks = ", ".join(map(str, sorted(set(config.knn.k))))
    progress.say(f"kNN: {len(test):,} test images against {len(train):,}, k = {ks}")
    knn = knn_classify(
        train.representation,
        train.labels,
        test.representation,
        test.labels,
        config.knn.k,
        config.knn.temperature,
        config.knn.query_chunk,
    )
    return {
        "knn": {str(k): value for k, value in knn.items()},
        "knn_seconds": round(time.perf_counter() - start, 2),
    }


def _linear(train: Features, test: Features, config: EvalConfig, progress: Progress) -> dict:
    probe = linear_probe(
        train.representation,
        train.labels,
        test.representation,
        test.labels,
        config.linear,
        config.seed,
        progress,
    )
    return {
        "linear": {
            "top1": probe.top1,
            "top5": probe.top5,
            "weight_decay": probe.weight_decay,
            "held_out_top1": {str(k): v for k, v in probe.held_out_top1.items()},
        },
        "linear_seconds": round(probe.seconds, 2),
    }


def _describe(features: Features) -> dict:
    return {
        "split": split_label(features.meta),
        "images": len(features),
        "cache": str(features.directory),
    }


def evaluate(
    loaded: LoadedEncoder, config: EvalConfig, mode: str = "all", cache_dir: str | Path = ""
) -> dict:
    """The report of ``simclr eval``: one entry per extractor, pretrained first."""
    if mode not in MODES:
        raise ConfigError(f"mode {mode!r} is unknown: allowed: {', '.join(MODES)}")
    train_split, test_split = labelled_splits(config)
    if config.few_labels.fractions or config.few_labels.per_class:  # refused before extraction
        labels = split_labels(config.data, train_split, config.data.subset, config.seed)
        label_sets(labels.numpy(), config)
    cache_dir = Path(cache_dir or loaded.run_dir / "features")
    start = time.perf_counter()
    results = {}
    for extractor in extractors(loaded, config):
        augmented = config.linear.augment and extractor is loaded.extractor
        results[extractor.name] = evaluate_extractor(extractor, config, mode, cache_dir, augmented)
    return {
        "checkpoint": str(loaded.source),
        "encoder": loaded.extractor.description,
        "encoder_fingerprint": loaded.extractor.fingerprint,
        "dataset": config.data.name,
        "train_split": train_split,
        "test_split": test_split,
        "mode": mode,
        "results": results,
        "seconds": round(time.perf_counter() - start, 2),
        "config": OmegaConf.to_container(OmegaConf.structured(config)),
    }


def final_metrics(result: dict) -> dict[str, float]:
    """One extractor's accuracies (a result of :func:`evaluate_extractor`) as logger metrics:
    ``eval/knn_top1_k200``, ``eval/linear_top1``, ... (names MLflow accepts: no ``@``)."""
    metrics = {}
    for k, knn in result.get("knn", {}).items():
        metrics.update({f"eval/knn_top1_k{k}": knn["top1"], f"eval/knn_top5_k{k}": knn["top5"]})
    for protocol in ("linear", "linear_augmented"):
        if protocol in result:
            for metric in ("top1", "top5"):
                metrics[f"eval/{protocol}_{metric}"] = result[protocol][metric]
    return metrics


def log_to_run(loaded: LoadedEncoder, result: dict) -> list[str]:
    """Log the pretrained encoder's ``result`` to the loggers its run's config names, into the
    runs pretraining logged to (:func:`simclr.run.loggers.log_final_metrics`), at the step its
    weights were trained to. Nothing for an encoder outside a run directory; returns the names
    of the loggers written to."""
    if loaded.pretrain_config is None or not (loaded.run_dir / "config.yaml").is_file():
        return []
    from simclr.run.loggers import log_final_metrics

    metrics, step = final_metrics(result), _trained_steps(loaded)
    return log_final_metrics(loaded.pretrain_config, loaded.run_dir, metrics, step)


def _trained_steps(loaded: LoadedEncoder) -> int | None:
    """The optimizer steps behind the weights: the checkpoint's, or the finished run's."""
    if loaded.source.suffix == ".ckpt":
        return int(read_torch_file(loaded.source, "--checkpoint").get("global_step", 0))
    summary = loaded.run_dir / "summary.json"
    return json.loads(summary.read_text())["global_step"] if summary.is_file() else None

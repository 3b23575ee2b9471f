"""The methods of ``simclr finetune``, each trained on the same labelled rows and tested on the
same test split: f fine-tuned (every weight, appendix B.5) or the same architecture trained from
scratch, and the linear probe on the frozen f's cached features of those rows.

What a trained method ran with is written beside its checkpoints (``config.yaml``): fine-tuning
and training from scratch differ in their initial weights alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, Dataset

from linear_eval.config import EvalConfig
from linear_eval.features.encoders import LoadedEncoder, fingerprint
from linear_eval.features.extract import extract_features
from linear_eval.features.preprocess import Preprocessing, select_device
from linear_eval.finetune.train import Classifier, fit, test_accuracy
from linear_eval.protocols.linear import linear_probe
from simclr.config import SimCLRConfig
from simclr.data.images import collate
from simclr.data.workers import loader_workers

FINE_TUNED, FROM_SCRATCH, LINEAR_PROBE = "fine-tuned", "from scratch", "linear probe"
PAPER_CROP_SCALE = [0.08, 1.0]  # Inception-style random crop (appendix A)


def crop_scale(config: EvalConfig, loaded: LoadedEncoder) -> list[float]:
    """``finetune.crop_scale``, or the pretraining run's crop scale, or the paper's."""
    if config.finetune.crop_scale is not None:
        return list(config.finetune.crop_scale)
    if loaded.pretrain_config is not None:
        return list(loaded.pretrain_config.augment.crop.scale)
    return list(PAPER_CROP_SCALE)


def indices_digest(indices: np.ndarray) -> str:
    """sha256 of the sorted dataset indices a method trained on: equal digests, equal labels."""
    return hashlib.sha256(np.sort(np.asarray(indices, dtype=np.int64)).tobytes()).hexdigest()


def method_config(config: EvalConfig, init: str, fingerprint: str | None, epochs: int) -> dict:
    """What one trained method ran with: the resolved config, the epochs, and its initial
    weights (the only thing in which fine-tuning and training from scratch differ)."""
    resolved = OmegaConf.to_container(OmegaConf.structured(config))
    return {**resolved, "resolved_epochs": epochs, "init": init, "init_fingerprint": fingerprint}


def train_and_test(
    method: str,
    encoder,
    loaded: LoadedEncoder,
    config: EvalConfig,
    train: Dataset,
    train_indices: np.ndarray,
    test: Dataset,
    num_classes: int,
    epochs: int,
    run_dir: Path,
) -> dict:
    """Train every weight of ``encoder`` (the pretrained f's copy, or a random one) and a new
    linear layer on ``train`` for ``epochs`` in ``RUN/METHOD/``, then test them on ``test``:
    top-1, top-5 and what the method trained on."""
    from simclr.run.loggers import build_loggers

    method_dir = run_dir / method.replace(" ", "-")
    method_dir.mkdir(parents=True, exist_ok=True)
    init = "pretrained" if method == FINE_TUNED else f"random (seed {config.seed})"
    described = method_config(config, init, fingerprint(encoder, encoder.describe()), epochs)
    OmegaConf.save(OmegaConf.create(described), method_dir / "config.yaml")
    preprocessing = Preprocessing.from_config(config)
    classifier = Classifier(encoder, num_classes, preprocessing.module(), config.seed)
    loggers = build_loggers(loaded.pretrain_config or SimCLRConfig(), method_dir)
    fitted = fit(
        classifier,
        train,
        config.finetune,
        epochs,
        preprocessing.image_size,
        crop_scale(config, loaded),
        method_dir,
        loggers,
        config.features.device,
        loader_workers(config.features.num_workers, train),
        config.seed,
    )
    loader = DataLoader(
        test,
        batch_size=config.features.batch_size,
        num_workers=loader_workers(config.features.num_workers, test),
        collate_fn=collate,
    )
    start = time.perf_counter()
    accuracy = test_accuracy(classifier, loader, select_device(config.features.device))
    return {
        "top1": accuracy[1],
        "top5": accuracy[5],
        "init": init,
        "steps": fitted.steps,
        "train_seconds": fitted.seconds,
        "test_seconds": round(time.perf_counter() - start, 2),
        "images": len(train),
        "indices_sha256": indices_digest(np.asarray(train_indices)),
        "checkpoint": None if fitted.checkpoint is None else str(fitted.checkpoint),
        "run_dir": str(method_dir),
    }


def frozen_probe(
    loaded: LoadedEncoder,
    config: EvalConfig,
    indices: np.ndarray,
    train_split: str,
    test_split: str,
    epochs: int,
) -> dict:
    """The linear probe on the frozen f's cached features of exactly the chosen rows, for the
    same epochs and batch size (its lr, momentum and weight-decay grid: ``linear.*``)."""
    start = time.perf_counter()
    cache = Path(config.features.cache_dir or loaded.run_dir / "features")
    extractor = loaded.extractor
    train = extract_features(extractor, config, train_split, config.data.subset, cache)
    test = extract_features(extractor, config, test_split, config.data.val_subset, cache)
    rows = np.flatnonzero(np.isin(train.indices, indices))  # unreadable images are not rows
    linear = dataclasses.replace(
        config.linear, epochs=epochs, batch_size=config.finetune.batch_size
    )
    probe = linear_probe(
        np.asarray(train.representation[rows]),
        train.labels[rows],
        test.representation,
        test.labels,
        linear,
        config.seed,
    )
    return {
        "top1": probe.top1,
        "top5": probe.top5,
        "init": "pretrained, frozen",
        "images": int(len(rows)),
        "indices_sha256": indices_digest(train.indices[rows]),
        "weight_decay": probe.weight_decay,
        "train_seconds": round(time.perf_counter() - start, 2),
    }

"""``simclr finetune``: the pretrained f fine-tuned on few labels beside its baselines.

On one class-balanced, seeded subset of the training split's labels
(:mod:`linear_eval.finetune.label_subset`), three methods are trained with the same epochs and
batch size and measured top-1 / top-5 on the test split (the paper's question, SimCLR section 6
and Table 7: what do unlabelled pretraining and few labels buy over the labels alone?); the
methods are those of :mod:`linear_eval.finetune.methods`:

- ``fine-tuned``: every weight of the pretrained f and a new linear layer (appendix B.5);
- ``from scratch``: the same architecture from random weights (seeded), every setting equal;
- ``linear probe``: one linear layer on the frozen f's cached features of the same rows.

Everything goes to ``RUN/finetune/NAME/``: the resolved config, ``label_subset.json`` (the
chosen indices), one folder per trained method (its config, checkpoints, logs) and
``finetune.json``.
"""

from __future__ import annotations

import copy
import hashlib
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
from omegaconf import OmegaConf
from torch.utils.data import Dataset, Subset

from linear_eval.config import EvalConfig
from linear_eval.features.encoders import LoadedEncoder, random_encoder
from linear_eval.features.labelled import class_count
from linear_eval.finetune.label_subset import class_balanced_subset, load_subset, write_subset
from linear_eval.finetune.methods import (
    FINE_TUNED,
    FROM_SCRATCH,
    LINEAR_PROBE,
    frozen_probe,
    train_and_test,
)
from linear_eval.finetune.report import write_report
from linear_eval.protocols.evaluate import labelled_splits
from simclr.config import save_config
from simclr.data.images import ArrayImages
from simclr.data.splits import load_split

DEFAULT_FRACTION_CUTOFF = 0.01  # up to 1 % of the labels: 60 epochs, else 30 (appendix B.5)


def resolved_epochs(config: EvalConfig, labelled: int, total: int) -> int:
    """``finetune.epochs``, or the paper's 60 for up to 1 % of the labels and 30 above."""
    if config.finetune.epochs is not None:
        return config.finetune.epochs
    return 60 if labelled <= DEFAULT_FRACTION_CUTOFF * total + 0.5 else 30


def run_name(config: EvalConfig) -> str:
    """``finetune.name``, or the labels asked for and the seed: ``labels-0.01-seed0``."""
    settings = config.finetune
    if settings.name:
        return settings.name
    if settings.labels_per_class is not None:
        return f"labels-{settings.labels_per_class}-per-class-seed{config.seed}"
    if settings.label_subset is not None:
        digest = hashlib.sha256(str(Path(settings.label_subset).resolve()).encode()).hexdigest()
        return f"labels-from-{digest[:8]}-seed{config.seed}"
    return f"labels-{settings.fraction:g}-seed{config.seed}"


def _rows(dataset: Dataset, indices: np.ndarray) -> Dataset:
    if isinstance(dataset, ArrayImages):
        return dataset.subset(indices.tolist())  # still one gather per batch
    return Subset(dataset, indices.tolist())


def _labels(dataset: Dataset) -> np.ndarray:
    return np.asarray(dataset.labels)


class ChosenLabels(NamedTuple):
    """The sorted indices of the labelled rows to train on, what was asked for (recorded in
    ``label_subset.json`` and the report), and the count of labelled rows of the split."""

    indices: np.ndarray
    about: dict
    total: int


def choose_labels(config: EvalConfig, train_labels: np.ndarray, train_split: str) -> ChosenLabels:
    """The rows of ``finetune.label_subset``, checked against the split, or a class-balanced
    seeded draw of ``finetune.label_fraction`` or ``finetune.labels_per_class``; a request the
    split cannot meet (too many labels per class, ...) is a one-line ConfigError."""
    settings = config.finetune
    labelled_total = int((train_labels >= 0).sum())
    about = {"label_fraction": settings.fraction, "labels_per_class": settings.labels_per_class}
    if settings.label_subset is not None:
        indices, record = load_subset(
            settings.label_subset, train_labels, config.data.name, train_split, config.data.subset
        )
        about = {
            "label_fraction": record.get("label_fraction") or len(indices) / labelled_total,
            "labels_per_class": record.get("labels_per_class"),
            "copied_from": str(settings.label_subset),
        }
    else:
        indices = class_balanced_subset(
            train_labels, settings.fraction, settings.labels_per_class, config.seed
        )
    return ChosenLabels(indices, about, labelled_total)


def _trained_methods(
    loaded: LoadedEncoder,
    config: EvalConfig,
    train: Dataset,
    indices: np.ndarray,
    test: Dataset,
    num_classes: int,
    epochs: int,
    run_dir: Path,
) -> dict[str, dict]:
    """The fine-tuned f and, unless left out of ``finetune.baselines``, the same architecture
    from scratch, each trained on ``train`` (the rows ``indices``) and tested on ``test``."""
    initial = {FINE_TUNED: copy.deepcopy(loaded.encoder)}  # the loaded f is never trained
    if "scratch" in config.finetune.baselines:
        initial[FROM_SCRATCH] = random_encoder(loaded.encoder, config.seed).model
    return {
        method: train_and_test(
            method, encoder, loaded, config, train, indices, test, num_classes, epochs, run_dir
        )
        for method, encoder in initial.items()
    }


def finetune(loaded: LoadedEncoder, config: EvalConfig, out_dir: str | Path | None = None) -> dict:
    """Fine-tune, train from scratch and probe on one label subset; the report (also written
    to ``finetune.json`` in the run directory, which is returned under ``"run_dir"``)."""
    start = time.perf_counter()
    settings = config.finetune
    train_split, test_split = labelled_splits(config)
    train = load_split(config.data, train_split, config.data.subset, seed=config.seed)
    test = load_split(config.data, test_split, config.data.val_subset, seed=config.seed)
    train_labels = _labels(train)
    # every bad request (too many labels per class, ...) fails here, before any training
    chosen = choose_labels(config, train_labels, train_split)
    indices = chosen.indices
    run_dir = Path(out_dir or loaded.run_dir / "finetune" / run_name(config))
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / "config.yaml")
    epochs = resolved_epochs(config, len(indices), chosen.total)
    subset_file = write_subset(
        run_dir,
        indices,
        train_labels,
        dataset=config.data.name,
        split=train_split,
        subset=config.data.subset,
        seed=config.seed,
        **chosen.about,
    )
    num_classes = class_count(train_labels, _labels(test))
    labelled_train = _rows(train, indices)
    results = _trained_methods(
        loaded, config, labelled_train, indices, test, num_classes, epochs, run_dir
    )
    if "linear" in settings.baselines:
        results[LINEAR_PROBE] = frozen_probe(
            loaded, config, indices, train_split, test_split, epochs
        )
    report = {
        "checkpoint": str(loaded.source),
        "encoder_fingerprint": loaded.extractor.fingerprint,
        "dataset": config.data.name,
        "train_split": train_split,
        "test_split": test_split,
        "test_images": len(test),
        "labels": {
            "count": int(len(indices)),
            "of": chosen.total,
            "classes": num_classes,
            **chosen.about,
            "seed": config.seed,
            "file": str(subset_file),
        },
        "epochs": epochs,
        "batch_size": settings.batch_size,
        "results": results,
        "seconds": round(time.perf_counter() - start, 2),
        "run_dir": str(run_dir),
        "config": OmegaConf.to_container(OmegaConf.structured(config)),
    }
    write_report(report, run_dir)
    return report

"""``simclr finetune``: the pretrained f fine-tuned on few labels beside its baselines.

On one class-balanced, seeded subset of the training split's labels
(:mod:`linear_eval.label_subset`), three methods are trained with the same epochs and batch
size and measured top-1 / top-5 on the test split (the paper's question, SimCLR section 6 and
Table 7: what do unlabelled pretraining and few labels buy over the labels alone?):

- ``fine-tuned``: every weight of the pretrained f and a new linear layer (appendix B.5);
- ``from scratch``: the same architecture from random weights (seeded), every setting equal;
- ``linear probe``: one linear layer on the frozen f's cached features of the same rows.

Everything goes to ``RUN/finetune/NAME/``: the resolved config, ``label_subset.json`` (the
chosen indices), one folder per trained method (its config, checkpoints, logs) and
``finetune.json``.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf
from torch.utils.data import Dataset, Subset

from linear_eval.config import EvalConfig
from linear_eval.encoders import LoadedEncoder, random_encoder
from linear_eval.evaluate import labelled_splits
from linear_eval.features import Preprocessing, extract_features, select_device
from linear_eval.finetune import Classifier, fit, test_accuracy
from linear_eval.label_subset import class_balanced_subset, load_subset, write_subset
from linear_eval.labelled import class_count
from linear_eval.linear import linear_probe
from simclr.config import SimCLRConfig, save_config
from simclr.data.images import ArrayImages
from simclr.data.splits import load_split
from simclr.data.workers import loader_workers

FINE_TUNED, FROM_SCRATCH, LINEAR_PROBE = "fine-tuned", "from scratch", "linear probe"
PAPER_CROP_SCALE = [0.08, 1.0]  # Inception-style random crop (appendix A)
DEFAULT_FRACTION_CUTOFF = 0.01  # up to 1 % of the labels: 60 epochs, else 30 (appendix B.5)


def resolved_epochs(config: EvalConfig, labelled: int, total: int) -> int:
    """``finetune.epochs``, or the paper's 60 for up to 1 % of the labels and 30 above."""
    if config.finetune.epochs is not None:
        return config.finetune.epochs
    return 60 if labelled <= DEFAULT_FRACTION_CUTOFF * total + 0.5 else 30


def crop_scale(config: EvalConfig, loaded: LoadedEncoder) -> list[float]:
    """``finetune.crop_scale``, or the pretraining run's crop scale, or the paper's."""
    if config.finetune.crop_scale is not None:
        return list(config.finetune.crop_scale)
    if loaded.pretrain_config is not None:
        return list(loaded.pretrain_config.augment.crop.scale)
    return list(PAPER_CROP_SCALE)


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


def indices_digest(indices: np.ndarray) -> str:
    """sha256 of the sorted dataset indices a method trained on: equal digests, equal labels."""
    return hashlib.sha256(np.sort(np.asarray(indices, dtype=np.int64)).tobytes()).hexdigest()


def _rows(dataset: Dataset, indices: np.ndarray) -> Dataset:
    if isinstance(dataset, ArrayImages):
        return dataset.subset(indices.tolist())  # still one gather per batch
    return Subset(dataset, indices.tolist())


def _labels(dataset: Dataset) -> np.ndarray:
    return np.asarray(dataset.labels)


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
    run_dir = Path(out_dir or loaded.run_dir / "finetune" / run_name(config))
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / "config.yaml")
    epochs = resolved_epochs(config, len(indices), labelled_total)
    subset_file = write_subset(
        run_dir,
        indices,
        train_labels,
        dataset=config.data.name,
        split=train_split,
        subset=config.data.subset,
        seed=config.seed,
        **about,
    )
    num_classes = class_count(train_labels, _labels(test))
    labelled_train = _rows(train, indices)
    results: dict[str, dict] = {}
    initial = {FINE_TUNED: copy.deepcopy(loaded.encoder)}  # the loaded f is never trained
    if "scratch" in settings.baselines:
        initial[FROM_SCRATCH] = random_encoder(loaded.encoder, config.seed).model
    for method, encoder in initial.items():
        results[method] = _train_and_test(
            method,
            encoder,
            loaded,
            config,
            labelled_train,
            indices,
            test,
            num_classes,
            epochs,
            run_dir,
        )
    if "linear" in settings.baselines:
        results[LINEAR_PROBE] = _probe(loaded, config, indices, train_split, test_split, epochs)
    report = {
        "checkpoint": str(loaded.source),
        "encoder_fingerprint": loaded.extractor.fingerprint,
        "dataset": config.data.name,
        "train_split": train_split,
        "test_split": test_split,
        "test_images": len(test),
        "labels": {
            "count": int(len(indices)),
            "of": labelled_total,
            "classes": num_classes,
            **about,
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
    from linear_eval.finetune_report import write_report

    write_report(report, run_dir)
    return report


def method_config(config: EvalConfig, init: str, fingerprint: str | None, epochs: int) -> dict:
    """What one trained method ran with: the resolved config, the epochs, and its initial
    weights (the only thing in which fine-tuning and training from scratch differ)."""
    resolved = OmegaConf.to_container(OmegaConf.structured(config))
    return {**resolved, "resolved_epochs": epochs, "init": init, "init_fingerprint": fingerprint}


def _train_and_test(
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
    from linear_eval.encoders import fingerprint
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
    from torch.utils.data import DataLoader

    from simclr.data.images import collate

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


def _probe(
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


def finetune_sweep(
    loaded: LoadedEncoder, config: EvalConfig, out_dir: str | Path | None = None
) -> tuple[list[dict], Path]:
    """:func:`finetune` at every fraction of ``finetune.sweep_fractions`` (for the epochs of
    ``finetune.sweep_epochs``, else ``finetune.epochs``), each in its own run directory;
    ``sweep.json`` and the label-efficiency plot go to ``RUN/finetune/sweep-seedS`` (or
    ``out_dir``). Returns the reports and the sweep's directory."""
    from linear_eval.finetune_report import SWEEP_FILE, write_report
    from linear_eval.label_efficiency import PLOT_FILE, plot_label_efficiency
    from simclr.errors import ConfigError

    for key in ("labels_per_class", "label_subset"):
        if getattr(config.finetune, key) is not None:
            raise ConfigError(f"finetune.{key} is set: --sweep runs finetune.sweep_fractions")
    sweep_dir = Path(out_dir or loaded.run_dir / "finetune" / f"sweep-seed{config.seed}")
    reports = []
    epochs = config.finetune.sweep_epochs or [config.finetune.epochs] * len(
        config.finetune.sweep_fractions
    )
    for fraction, fraction_epochs in zip(config.finetune.sweep_fractions, epochs):
        one = copy.deepcopy(config)
        one.finetune.label_fraction, one.finetune.name = fraction, None
        one.finetune.epochs = fraction_epochs
        reports.append(finetune(loaded, one, sweep_dir / run_name(one)))
    summary = {
        "checkpoint": str(loaded.source),
        "dataset": config.data.name,
        "test_split": reports[0]["test_split"],
        "fractions": list(config.finetune.sweep_fractions),
        "runs": [
            {"labels": r["labels"], "epochs": r["epochs"], "results": r["results"]} for r in reports
        ],
    }
    write_report(summary, sweep_dir, SWEEP_FILE)
    title = f"{config.data.name}: {loaded.source}"
    plot_label_efficiency(reports, sweep_dir / PLOT_FILE, title)
    return reports, sweep_dir

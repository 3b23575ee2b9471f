"""kNN and the linear probe with few labels (SimCLR section 6: "a small fraction of labeled
data"): the protocols of ``simclr eval`` again, trained on a class-balanced, seeded part of the
training split's labels and measured on the whole measured split.

Every fraction of ``few_labels.fractions`` (1 % and 10 % by default: 540 and 5,400 of
Fashion-MNIST's 54,000 training images) and every count of ``few_labels.per_class`` gives one
set of rows, drawn from the labels alone with the evaluation seed, so the pretrained encoder,
random init and raw pixels are trained on the very same images. The kNN bank holds only those
rows; the linear probe chooses its weight decay on a held-out part of them, as with all labels.
"""

from __future__ import annotations

import numpy as np

from linear_eval.config import EvalConfig
from linear_eval.features.cache import Features
from linear_eval.features.labelled import class_balanced_subset
from linear_eval.progress import Progress
from linear_eval.protocols.knn import knn_classify
from linear_eval.protocols.linear import linear_probe

KEYS = ("few_labels.fractions", "few_labels.per_class")


def label_sets(labels: np.ndarray, config: EvalConfig) -> dict[str, np.ndarray]:
    """The rows of each few-label setting by name (``1%``, ``10%``, ``5/class``); a count per
    class that a class cannot give is a one-line ConfigError naming ``few_labels.per_class``."""
    settings, seed = config.few_labels, config.seed
    chosen = {}
    for fraction in settings.fractions:
        rows = class_balanced_subset(labels, fraction=fraction, seed=seed, keys=KEYS)
        chosen[f"{100 * fraction:g}%"] = rows
    for count in settings.per_class:
        chosen[f"{count}/class"] = class_balanced_subset(
            labels, per_class=count, seed=seed, keys=KEYS
        )
    return chosen


def few_label_results(
    train: Features,
    test: Features,
    config: EvalConfig,
    protocols: tuple[str, ...],
    progress: Progress,
) -> dict:
    """``{"few_labels": {name: {"labels": n, "knn": {k: ...}, "linear": {...}}}}`` for the
    ``protocols`` asked (knn, linear) on each few-label setting."""
    results = {}
    for name, rows in label_sets(train.labels, config).items():
        features, labels = np.asarray(train.representation[rows]), train.labels[rows]
        result: dict = {"labels": int(len(rows))}
        if "knn" in protocols:
            progress.say(f"kNN on {name} of the labels ({len(rows):,} images)")
            knn = knn_classify(
                features,
                labels,
                test.representation,
                test.labels,
                config.knn.k,
                config.knn.temperature,
                config.knn.query_chunk,
            )
            result["knn"] = {str(k): value for k, value in knn.items()}
        if "linear" in protocols:
            probe = linear_probe(
                features, labels, test.representation, test.labels, config.linear, config.seed
            )
            result["linear"] = {
                "top1": probe.top1,
                "top5": probe.top5,
                "weight_decay": probe.weight_decay,
            }
            progress.say(f"linear probe on {name} of the labels: top-1 {100 * probe.top1:.2f} %")
        results[name] = result
    return {"few_labels": results}

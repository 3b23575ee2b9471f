"""Evaluation of a pretrained encoder f on frozen representations h, as commands and as a library.

Features are extracted once and cached (:mod:`linear_eval.features`; float16 on disk, float32
to every reader); the protocols (:mod:`linear_eval.protocols`: the linear probe, the weighted
kNN classifier, the 2-D map), retrieval (:mod:`linear_eval.retrieval`) and embedding export all
read those features and never change the encoder's weights; the probes' results are cached
beside the features. Fine-tuning on few labels (:mod:`linear_eval.finetune`) trains a copy of f.
The data flow one way, and so do the imports: ``features`` <- ``protocols`` <- ``retrieval``,
``finetune``; :mod:`linear_eval.commands` only translates each command's flags into the typed
calls below.

What a command does is a typed function::

    from linear_eval import load_evaluation, report_evaluation, index_gallery

    loaded, config = load_evaluation("runs/NAME", overrides=["knn.k=[10,200]"])
    report = report_evaluation(loaded, config, "all")    # simclr eval all
    index_dir = index_gallery(loaded, config, "test")      # simclr index --split test

and the weighted kNN classifier and the linear probe also run online, inside a LightningModule of
your own (``examples/online_evaluation.py``): ``WeightedKNNClassifier`` is a torchmetrics
metric that gathers its gallery and queries across processes; ``OnlineProbe`` trains a linear
layer on the detached h beside f.

Names are imported when first used, so ``import linear_eval`` (and ``simclr --help``) stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from linear_eval.config import EvalConfig, load_eval_config
    from linear_eval.features.embed import embed_gallery
    from linear_eval.features.encoders import LoadedEncoder, load_encoder
    from linear_eval.features.extract import extract_features
    from linear_eval.features.gallery import gallery_features, load_evaluation
    from linear_eval.finetune.command import finetune_and_report
    from linear_eval.protocols.evaluate import evaluate
    from linear_eval.protocols.knn import knn_classify
    from linear_eval.protocols.knn_classifier import WeightedKNNClassifier
    from linear_eval.protocols.linear import linear_probe
    from linear_eval.protocols.plot import plot_gallery
    from linear_eval.protocols.report import report_evaluation
    from linear_eval.retrieval.answer import answer_queries
    from linear_eval.retrieval.indexing import append_folder, index_gallery
    from linear_eval.retrieval.serve import serve
    from simclr.probe import OnlineProbe

_HOMES = {
    # the blocks, for a training loop of your own
    "WeightedKNNClassifier": "linear_eval.protocols.knn_classifier",
    "OnlineProbe": "simclr.probe",
    # the protocols on arrays of features
    "knn_classify": "linear_eval.protocols.knn",
    "linear_probe": "linear_eval.protocols.linear",
    # an encoder, its settings and its features
    "load_encoder": "linear_eval.features.encoders",
    "LoadedEncoder": "linear_eval.features.encoders",
    "EvalConfig": "linear_eval.config",
    "load_eval_config": "linear_eval.config",
    "load_evaluation": "linear_eval.features.gallery",
    "extract_features": "linear_eval.features.extract",
    "gallery_features": "linear_eval.features.gallery",
    # the work of each command
    "evaluate": "linear_eval.protocols.evaluate",
    "report_evaluation": "linear_eval.protocols.report",
    "finetune_and_report": "linear_eval.finetune.command",
    "index_gallery": "linear_eval.retrieval.indexing",
    "append_folder": "linear_eval.retrieval.indexing",
    "answer_queries": "linear_eval.retrieval.answer",
    "serve": "linear_eval.retrieval.serve",
    "embed_gallery": "linear_eval.features.embed",
    "plot_gallery": "linear_eval.protocols.plot",
}

__all__ = [
    "WeightedKNNClassifier",
    "OnlineProbe",
    "knn_classify",
    "linear_probe",
    "load_encoder",
    "LoadedEncoder",
    "EvalConfig",
    "load_eval_config",
    "load_evaluation",
    "extract_features",
    "gallery_features",
    "evaluate",
    "report_evaluation",
    "finetune_and_report",
    "index_gallery",
    "append_folder",
    "answer_queries",
    "serve",
    "embed_gallery",
    "plot_gallery",
]


def __getattr__(name: str) -> Any:
    """The public names, imported from their modules on first use (PEP 562)."""
    if name not in _HOMES:
        raise AttributeError(f"module 'linear_eval' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

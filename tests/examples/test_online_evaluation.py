"""examples/online_evaluation.py runs as its docstring says, on a tiny subset; and in a real
Lightning loop its online kNN top-1 is the offline protocol's (:func:`knn_classify`, faiss) on
the very gallery and queries the validation handed it: h of the training and held-out images by
the f being validated (checked against f), nothing left out, nothing twice."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from linear_eval.protocols.knn import knn_classify
from simclr.data.readers import read_fashion_mnist
from tests.examples.running import EXAMPLES, run_example


@pytest.mark.slow
def test_the_example_reports_its_online_accuracies(tmp_path: Path, fashion_mnist_root) -> None:
    arguments = ["--epochs", "1", "--batch-size", "16", "--subset", "64", "--held-out", "40"]
    report = run_example("online_evaluation.py", fashion_mnist_root, tmp_path, *arguments)
    assert report["steps"] == 4 and torch.isfinite(torch.tensor(report["loss"]))
    assert all(0.0 <= report[name] <= 1.0 for name in ("knn_top1", "probe_top1"))


def _example_module():
    spec = importlib.util.spec_from_file_location(
        "online_evaluation", EXAMPLES / "online_evaluation.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_online_knn_scores_what_validation_handed_it(fashion_mnist_root) -> None:
    example = _example_module()
    train = read_fashion_mnist("train", root=str(fashion_mnist_root), download=False)
    images, labels = train.images[:104], train.labels[:104]
    seen = {}

    class Watched(example.SimCLRWithOnlineEvaluation):
        def on_validation_epoch_end(self) -> None:
            seen["gallery"] = torch.cat(self.knn.gallery_features)
            seen["queries"] = torch.cat(self.knn.query_features)
            with torch.no_grad():  # the f being validated, on every image at once
                seen["h"] = F.normalize(self.f(example.plain(images)), dim=1)
            super().on_validation_epoch_end()

    torch.manual_seed(0)
    fit = TensorDataset(images[:64], labels[:64])
    loaders = [
        DataLoader(fit, batch_size=16),
        DataLoader(TensorDataset(images[64:], labels[64:]), batch_size=16),
    ]
    trainer = L.Trainer(
        max_epochs=1,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Watched(), DataLoader(fit, batch_size=16, shuffle=True, drop_last=True), loaders)

    torch.testing.assert_close(seen["gallery"], seen["h"][:64], atol=1e-4, rtol=0)
    torch.testing.assert_close(seen["queries"], seen["h"][64:], atol=1e-4, rtol=0)
    offline = knn_classify(
        seen["gallery"].numpy(),
        labels[:64].numpy(),
        seen["queries"].numpy(),
        labels[64:].numpy(),
        (200,),
    )[200]
    assert float(trainer.callback_metrics["val/knn_top1"]) == pytest.approx(
        offline["top1"], abs=1e-6
    )

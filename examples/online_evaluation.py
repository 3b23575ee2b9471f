"""Watch f learn in a LightningModule of your own: the weighted kNN classifier and a linear probe,
online, every validation epoch.

SimCLR's blocks train f and g with NT-Xent as in ``simclr_in_your_lightning_module.py``; beside
them, ``OnlineProbe`` trains a linear layer on the detached h of the labelled training images
(it sends no gradient into f), and at every validation ``WeightedKNNClassifier`` takes the
training images' h as its gallery and scores held-out images against it (k = 200, T = 0.1: the
protocol of ``simclr eval``). Both are torchmetrics-style: under DDP the kNN gathers every
process's gallery and queries before it scores them.

    python examples/online_evaluation.py --data-root data --epochs 2

Fashion-MNIST is read with torchvision (downloaded into --data-root unless --no-download): the
first --subset training images are pretrained on and form the gallery, the next --held-out are
the queries (the test split is not read). The last line is a JSON report; --out saves f.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import lightning as L
import torch
import torchvision
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics.classification import MulticlassAccuracy

from linear_eval import OnlineProbe, WeightedKNNClassifier
from simclr import Encoder, NTXentLoss, ProjectionHead, SimCLRViews

MEAN, STD = 0.286, 0.353  # Fashion-MNIST's pixel statistics


def plain(images: torch.Tensor) -> torch.Tensor:
    """uint8 images as f sees them at evaluation: scaled and normalised, not augmented."""
    return (images.float() / 255 - MEAN) / STD


class SimCLRWithOnlineEvaluation(L.LightningModule):
    def __init__(self, num_classes: int = 10, lr: float = 0.3, temperature: float = 0.1) -> None:
        super().__init__()
        self.views = SimCLRViews(
            image_size=28, channels=1, crop_scale=(0.5, 1.0), mean=[MEAN], std=[STD]
        )
        self.f = Encoder("resnet18", in_channels=1)  # h = f(x)
        self.g = ProjectionHead(self.f.feature_dim, "mlp", projection_dim=128)  # z = g(h)
        self.criterion = NTXentLoss(temperature=temperature)
        self.probe = OnlineProbe(self.f.feature_dim, num_classes)  # on h.detach()
        self.knn = WeightedKNNClassifier(num_classes, k=200, temperature=0.1)
        self.probe_accuracy = MulticlassAccuracy(num_classes, average="micro")
        self.lr = lr

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        images, labels = batch
        if self.trainer.training:
            return (*self.views(images), labels)  # two views, on the batch's device
        return plain(images), labels

    def training_step(self, batch, batch_index: int) -> torch.Tensor:
        view1, view2, labels = batch
        h = self.f(torch.cat([view1, view2]))
        loss, accuracy = self.criterion(*self.g(h).chunk(2))
        probe_loss, probe_accuracy = self.probe.loss_and_accuracy(h[: len(view1)].detach(), labels)
        self.log_dict({"loss": loss, "contrastive_acc": accuracy, "probe_acc": probe_accuracy})
        return loss + probe_loss

    def validation_step(self, batch, batch_index: int, dataloader_idx: int = 0) -> None:
        images, labels = batch
        h = self.f(images)
        if dataloader_idx == 0:  # the training images: the kNN's gallery
            self.knn.update(h, labels, gallery=True)
        else:  # the held-out images: queries of the kNN and of the probe
            self.knn.update(h, labels)
            self.probe_accuracy.update(self.probe(h), labels)

    def on_validation_epoch_end(self) -> None:
        knn = self.knn.compute()  # gathered from every process
        self.log_dict({"val/knn_top1": knn["top1"], "val/knn_top5": knn["top5"]})
        self.log("val/probe_top1", self.probe_accuracy.compute())
        self.knn.reset()
        self.probe_accuracy.reset()

    def configure_optimizers(self):
        groups = [
            {"params": [*self.f.parameters(), *self.g.parameters()]},
            self.probe.parameter_group(),  # its own learning rate, no weight decay
        ]
        return torch.optim.SGD(groups, lr=self.lr, momentum=0.9, weight_decay=1e-6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--no-download", action="store_true")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--subset", type=int, default=10_000, help="training images (gallery)")
    parser.add_argument("--held-out", type=int, default=2_000, help="query images after them")
    parser.add_argument("--out", default=None, help="save f's state_dict here")
    args = parser.parse_args()

    torch.manual_seed(0)
    train = torchvision.datasets.FashionMNIST(
        args.data_root, train=True, download=not args.no_download
    )
    images, labels = train.data.unsqueeze(1), train.targets  # uint8 (N, 1, 28, 28)
    ours, held = slice(0, args.subset), slice(args.subset, args.subset + args.held_out)
    fit = TensorDataset(images[ours], labels[ours])
    loader = DataLoader(fit, batch_size=args.batch_size, shuffle=True, drop_last=True)
    gallery = DataLoader(fit, batch_size=args.batch_size)
    queries = DataLoader(TensorDataset(images[held], labels[held]), batch_size=args.batch_size)
    model = SimCLRWithOnlineEvaluation()
    trainer = L.Trainer(
        max_epochs=args.epochs,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, loader, [gallery, queries])
    if args.out:
        torch.save(model.f.state_dict(), Path(args.out))
    metrics = {name: float(value) for name, value in trainer.callback_metrics.items()}
    report = {"steps": trainer.global_step, "loss": metrics["loss"]}
    report.update({name: metrics[f"val/{name}"] for name in ("knn_top1", "probe_top1")})
    print(json.dumps(report))


if __name__ == "__main__":
    main()

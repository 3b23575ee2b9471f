"""The paper's linear evaluation variant: random crop and flip through the frozen encoder.

SimCLR appendix B.6 trains the linear classifier on representations of augmented images
("random cropping with random flipping and resizing") instead of fixed features. Every epoch
each training image is freshly cropped (random resized crop) and flipped, passed through f in
eval mode without gradient, standardised with the clean training features' statistics, and the
linear layer takes one SGD step per batch. The test split is measured on its cached (resize and
normalise only) features. The weight decay is the one chosen by the cached-feature probe.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from linear_eval.config import EvalConfig
from linear_eval.features.cache import Features
from linear_eval.features.encoders import FeatureExtractor, frozen
from linear_eval.features.labelled import class_count, labelled
from linear_eval.features.preprocess import Preprocessing, select_device
from linear_eval.progress import Progress
from linear_eval.protocols.classifier import linear_classifier
from linear_eval.protocols.linear import Standardization
from linear_eval.protocols.metrics import topk_accuracy
from simclr.data.images import collate
from simclr.data.splits import load_split
from simclr.data.workers import loader_workers
from simclr.preprocess import to_unit_float


class CropAndFlip(nn.Module):
    """Random resized crop to ``image_size`` (aspect ratio 3/4 to 4/3) and horizontal flip,
    drawn independently for every image of a batch (B, C, H, W).

    torchvision's transforms draw one set of parameters per call, so each image is one call;
    Kornia, which draws per image in one call, is the pretraining views' dependency, not
    evaluation's.
    """

    def __init__(self, image_size: int, scale: list[float]) -> None:
        super().__init__()
        self.transform = v2.Compose(
            [
                v2.RandomResizedCrop((image_size, image_size), scale=tuple(scale), antialias=True),
                v2.RandomHorizontalFlip(p=0.5),
            ]
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.transform(image) for image in images])


def augmented_linear_probe(
    extractor: FeatureExtractor,
    config: EvalConfig,
    train: Features,
    test: Features,
    weight_decay: float,
    progress: Progress | None = None,
) -> dict:
    """{"top1", "top5", "epochs", "seconds"} of the crop-and-flip linear probe; with
    ``progress``, a line per epoch and its ETA."""
    start = time.perf_counter()
    device = select_device(config.features.device)
    preprocessing = Preprocessing.from_config(config)
    normalize = preprocessing.module().to(device)
    augment = CropAndFlip(preprocessing.image_size, config.linear.augment_crop_scale)
    train_rows, train_labels = labelled(train.representation, train.labels)
    standardize = Standardization.fit(torch.from_numpy(np.array(train_rows)))
    standardize.mean, standardize.std = standardize.mean.to(device), standardize.std.to(device)
    test_rows, test_labels = labelled(test.representation, test.labels)
    num_classes = class_count(train_labels, test_labels)

    dataset = load_split(config.data, train.meta["split"], train.meta["subset"], seed=config.seed)
    loader = DataLoader(
        dataset,
        batch_size=config.linear.batch_size,
        shuffle=True,
        num_workers=loader_workers(config.features.num_workers, dataset),
        collate_fn=collate,
        generator=torch.Generator().manual_seed(config.seed),
    )
    epochs = config.linear.augment_epochs
    classifier = linear_classifier(
        train.representation.shape[1],
        num_classes,
        config.linear.lr,
        config.linear.momentum,
        weight_decay,
        epochs * len(loader),
        config.seed,
        device,
    )
    model = extractor.model.to(device)
    progress = progress or Progress("", enabled=False)
    plan = f"{epochs} epoch(s) of {len(dataset):,} cropped and flipped images through f"
    progress.begin("linear probe crop+flip", [1] * epochs, plan)
    # the crops and flips are drawn from torch's generator: seeded here, restored after
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        for epoch in range(1, epochs + 1):
            for batch in loader:
                if batch is None:  # every image of the batch was unreadable
                    continue
                images, labels = batch
                labels = labels.to(device)
                keep = labels >= 0
                if not keep.any():
                    continue
                with frozen(model):
                    views = augment(to_unit_float(images.to(device)[keep]))
                    representation = standardize(model(normalize(views)).float())
                classifier.step(F.cross_entropy(classifier.layer(representation), labels[keep]))
            progress.step(f"epoch {epoch}")
    test_x = torch.from_numpy(np.array(test_rows, dtype=np.float32)).to(device)
    with torch.no_grad():
        scores = classifier.layer(standardize(test_x)).cpu()
    accuracy = topk_accuracy(scores, torch.from_numpy(test_labels), (1, 5))
    return {
        "top1": accuracy[1],
        "top5": accuracy[5],
        "epochs": epochs,
        "weight_decay": weight_decay,
        "seconds": round(time.perf_counter() - start, 2),
    }

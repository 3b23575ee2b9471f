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

import kornia.augmentation as K
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from linear_eval.config import EvalConfig
from linear_eval.encoders import FeatureExtractor, frozen
from linear_eval.features import Features, Preprocessing, select_device
from linear_eval.linear import Standardization
from linear_eval.metrics import topk_accuracy
from simclr.augment import to_unit_float
from simclr.data import collate_skipping_unreadable, load_split, loader_workers


def crop_and_flip(image_size: int, scale: list[float]) -> nn.Sequential:
    """Random resized crop to ``image_size`` (aspect ratio 3/4 to 4/3) and horizontal flip."""
    return nn.Sequential(
        K.RandomResizedCrop((image_size, image_size), scale=tuple(scale)),
        K.RandomHorizontalFlip(p=0.5),
    )


def augmented_linear_probe(
    extractor: FeatureExtractor,
    config: EvalConfig,
    train: Features,
    test: Features,
    weight_decay: float,
) -> dict:
    """{"top1", "top5", "epochs", "seconds"} of the crop-and-flip linear probe."""
    start = time.perf_counter()
    device = select_device(config.features.device)
    preprocessing = Preprocessing.from_config(config)
    normalize = preprocessing.module().to(device)
    augment = crop_and_flip(preprocessing.image_size, config.linear.augment_crop_scale).to(device)
    known = train.labels >= 0
    standardize = Standardization.fit(torch.from_numpy(np.asarray(train.representation)[known]))
    standardize.mean, standardize.std = standardize.mean.to(device), standardize.std.to(device)
    num_classes = int(max(train.labels.max(), test.labels.max())) + 1

    dataset = load_split(config.data, train.meta["split"], train.meta["subset"], seed=config.seed)
    loader = DataLoader(
        dataset,
        batch_size=config.linear.batch_size,
        shuffle=True,
        num_workers=loader_workers(config.features.num_workers, dataset),
        collate_fn=collate_skipping_unreadable,
        generator=torch.Generator().manual_seed(config.seed),
    )
    epochs = config.linear.augment_epochs
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        classifier = nn.Linear(train.representation.shape[1], num_classes).to(device)
    optimizer = torch.optim.SGD(
        classifier.parameters(),
        lr=config.linear.lr,
        momentum=config.linear.momentum,
        nesterov=config.linear.momentum > 0,
        weight_decay=weight_decay,
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * len(loader))
    model = extractor.model.to(device)
    for _ in range(epochs):
        for images, labels in loader:
            labels = labels.to(device)
            keep = labels >= 0
            if not keep.any():
                continue
            with frozen(model):
                views = augment(to_unit_float(images.to(device)[keep]))
                representation = standardize(model(normalize(views)).float())
            loss = F.cross_entropy(classifier(representation), labels[keep])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    test_known = test.labels >= 0
    test_x = torch.from_numpy(np.asarray(test.representation)[test_known]).to(device)
    with torch.no_grad():
        scores = classifier(standardize(test_x)).cpu()
    accuracy = topk_accuracy(scores, torch.from_numpy(test.labels[test_known]), (1, 5))
    return {
        "top1": accuracy[1],
        "top5": accuracy[5],
        "epochs": epochs,
        "weight_decay": weight_decay,
        "seconds": round(time.perf_counter() - start, 2),
    }

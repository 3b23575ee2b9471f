"""The package's SimCLR module around an encoder of your own: it composes the blocks it is handed.

``SimCLR(views, encoder, head, temperature, ...)`` trains any ``nn.Module`` that maps images to a
representation h, with the paper's views, NT-Xent, LARS, learning-rate scaling, warm-up and
cosine decay, and an online linear probe on the detached h. ``SimCLR.from_config`` builds the
blocks from a config instead, as ``simclr pretrain`` does.

    python examples/simclr_with_your_own_encoder.py --data-root data --steps 200

Fashion-MNIST is read with torchvision (downloaded into --data-root unless --no-download).
"""

from __future__ import annotations

import argparse
import json

import lightning as L
import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from simclr import OnlineProbe, ProjectionHead, SimCLR, SimCLRViews
from simclr.config import OptimizerConfig


class SmallConvNet(nn.Module):
    """f: three convolutions and global average pooling, h is 128-d."""

    feature_dim = 128

    def __init__(self) -> None:
        super().__init__()
        layers, channels = [], 1
        for width in (32, 64, 128):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
            layers.append(nn.MaxPool2d(2))
            channels = width
        self.net = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--no-download", action="store_true")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--subset", type=int, default=None, help="use the first N images")
    args = parser.parse_args()

    torch.manual_seed(0)
    train = torchvision.datasets.FashionMNIST(
        args.data_root, train=True, download=not args.no_download
    )
    images = train.data[: args.subset].unsqueeze(1)  # uint8 (N, 1, 28, 28): views come later
    labels = train.targets[: args.subset]  # for the online probe only
    loader = DataLoader(
        TensorDataset(images, labels), batch_size=args.batch_size, shuffle=True, drop_last=True
    )
    views = SimCLRViews(  # t ~ T, SimCLR appendix A, for 28 px grey images
        image_size=28, channels=1, crop_scale=(0.5, 1.0), mean=[0.286], std=[0.353]
    )
    f = SmallConvNet()
    g = ProjectionHead(f.feature_dim, "mlp", projection_dim=64)  # z = g(h)
    model = SimCLR(
        views,
        f,
        g,
        temperature=0.1,
        batch_size=args.batch_size,  # the learning rate scales with the global batch
        optimizer=OptimizerConfig(name="lars", base_lr=1.0, warmup_epochs=0.5),
        probe=OnlineProbe(f.feature_dim, num_classes=10),
    )
    trainer = L.Trainer(
        max_steps=args.steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, loader)
    metrics = {name: float(value) for name, value in trainer.callback_metrics.items()}
    print(json.dumps({"steps": trainer.global_step, **metrics}))


if __name__ == "__main__":
    main()

"""SimCLR's blocks in a LightningModule of your own: views, f, g, NT-Xent and LARS.

The package's own ``SimCLR`` module does the same with every option; this is the shape to start
from when your model, data or loop differ. Algorithm 1 of the SimCLR paper, step by step:
two views of every image (made on the accelerator, after the uint8 batch is moved there),
h = f(view), z = g(h), NT-Xent over the 2N projections, one LARS step.

    python examples/simclr_in_your_lightning_module.py --data-root data --steps 200

Fashion-MNIST is read with torchvision (downloaded into --data-root unless --no-download); at
the end the pretrained f is saved as a plain torchvision state_dict.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import lightning as L
import torch
import torchvision
from torch.utils.data import DataLoader, TensorDataset

from simclr import LARS, Encoder, NTXentLoss, ProjectionHead, SimCLRViews


class MySimCLR(L.LightningModule):
    def __init__(self, lr: float = 1.0, temperature: float = 0.1) -> None:
        super().__init__()
        self.views = SimCLRViews(  # t ~ T, SimCLR appendix A, for 28 px grey images
            image_size=28, channels=1, crop_scale=(0.5, 1.0), mean=[0.286], std=[0.353]
        )
        self.f = Encoder("resnet18", in_channels=1)  # h = f(x): ResNet-18 after avg pooling
        self.g = ProjectionHead(self.f.feature_dim, "mlp", projection_dim=128)  # z = g(h)
        self.criterion = NTXentLoss(temperature=temperature)
        self.lr = lr

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        (images,) = batch
        return self.views(images)  # two views, on the device the batch is on

    def training_step(self, batch, batch_index: int) -> torch.Tensor:
        view1, view2 = batch
        z = self.g(self.f(torch.cat([view1, view2])))
        loss, accuracy = self.criterion(z[: len(view1)], z[len(view1) :])
        self.log_dict({"loss": loss, "contrastive_acc": accuracy}, prog_bar=True)
        return loss

    def configure_optimizers(self):
        # SimCLR excludes biases and BatchNorm parameters from LARS adaptation and weight decay
        adapted, excluded = [], []
        for parameter in [*self.f.parameters(), *self.g.parameters()]:
            (excluded if parameter.dim() == 1 else adapted).append(parameter)
        groups = [
            {"params": adapted},
            {"params": excluded, "weight_decay": 0.0, "lars_exclude": True},
        ]
        optimizer = LARS(groups, lr=self.lr, weight_decay=1e-6)
        steps = self.trainer.estimated_stepping_batches
        cosine = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps))
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": cosine, "interval": "step"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--no-download", action="store_true")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--subset", type=int, default=None, help="use the first N images")
    parser.add_argument("--out", default="my_simclr_encoder.pt")
    args = parser.parse_args()

    torch.manual_seed(0)
    train = torchvision.datasets.FashionMNIST(
        args.data_root, train=True, download=not args.no_download
    )
    images = train.data[: args.subset].unsqueeze(1)  # uint8 (N, 1, 28, 28): views come later
    loader = DataLoader(
        TensorDataset(images), batch_size=args.batch_size, shuffle=True, drop_last=True
    )
    model = MySimCLR(lr=0.3 * args.batch_size / 256)
    trainer = L.Trainer(
        max_steps=args.steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, loader)
    torch.save(model.f.backbone.state_dict(), Path(args.out))
    loss = float(trainer.callback_metrics["loss"])
    print(json.dumps({"steps": trainer.global_step, "loss": loss, "encoder": args.out}))


if __name__ == "__main__":
    main()

"""A batch larger than memory in a LightningModule of your own: NT-Xent in chunks, the exact
gradient of the whole batch (gradient caching, ``simclr.nt_xent_in_chunks``).

The views of the whole batch are made once; f and g see ``--chunk-size`` images (their two
views) at a time, twice: without autograd to get every projection and the loss's gradient with
respect to each, then with autograd to send that gradient into the weights. The step is
Lightning's manual optimization: the module steps its optimizer and schedule itself.

    python examples/large_batch_in_chunks.py --data-root data --batch-size 1024 --chunk-size 128
"""

from __future__ import annotations

import argparse
import json
import math
from contextlib import nullcontext
from pathlib import Path

import lightning as L
import torch
import torchvision
from torch.utils.data import DataLoader, TensorDataset

from simclr import LARS, Encoder, ProjectionHead, SimCLRViews, nt_xent_in_chunks


class ChunkedSimCLR(L.LightningModule):
    def __init__(self, chunk_size: int, lr: float = 1.0, temperature: float = 0.1) -> None:
        super().__init__()
        self.automatic_optimization = False  # the chunks are backpropagated one by one
        self.views = SimCLRViews(
            image_size=28, channels=1, crop_scale=(0.5, 1.0), mean=[0.286], std=[0.353]
        )
        self.f = Encoder("resnet18", in_channels=1)
        self.g = ProjectionHead(self.f.feature_dim, "mlp", projection_dim=128)
        self.chunk_size, self.temperature, self.lr = chunk_size, temperature, lr

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        (images,) = batch
        return self.views(images)  # made once: both passes see the same views

    def training_step(self, batch, batch_index: int) -> torch.Tensor:
        view1, view2 = batch
        optimizer = self.optimizers()
        optimizer.zero_grad()
        step = nt_xent_in_chunks(
            lambda views: self.g(self.f(views)),
            view1,
            view2,
            self.chunk_size,
            self.temperature,
            backward=self.manual_backward,  # Lightning's precision plugin applies
            # under DDP, gradients are averaged once, after the last chunk
            no_sync=getattr(self.trainer.strategy, "block_backward_sync", nullcontext),
            buffers_of=self,  # BatchNorm's running statistics: updated once a step
        )
        optimizer.step()
        self.lr_schedulers().step()
        self.log_dict({"loss": step.loss, "contrastive_acc": step.accuracy}, prog_bar=True)
        return step.loss

    def configure_optimizers(self):
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
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--chunk-size", type=int, default=128)
    parser.add_argument("--subset", type=int, default=None, help="use the first N images")
    parser.add_argument("--out", default="chunked_simclr_encoder.pt")
    args = parser.parse_args()

    torch.manual_seed(0)
    train = torchvision.datasets.FashionMNIST(
        args.data_root, train=True, download=not args.no_download
    )
    images = train.data[: args.subset].unsqueeze(1)
    loader = DataLoader(
        TensorDataset(images), batch_size=args.batch_size, shuffle=True, drop_last=True
    )
    model = ChunkedSimCLR(args.chunk_size, lr=0.3 * args.batch_size / 256)
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

"""Frozen features of one split extracted by several processes, merged into one cache.

With ``features.devices=N`` (N > 1), Lightning spawns N processes (``ddp_spawn``, one per GPU,
or N CPU processes) and ``Trainer.predict`` hands each every N-th image (its unrepeated
distributed sampler: no image twice, none left out). Each process writes its rows, labels and
dataset indices to a shard of its own; this process then copies the rows of all shards into
``features.npy`` in dataset order, so the cache is the one a single process writes, up to float
rounding. The shards live inside the cache's temporary directory, which becomes the cache only
when complete.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torch import nn
from torch.utils.data import DataLoader

from linear_eval.config import FeaturesConfig
from linear_eval.features.rows import CHUNK_ROWS, FeatureRows


class _Frozen(L.LightningModule):
    """h = f(normalise(x)) of a batch (images, labels, indices), passed on with its labels."""

    def __init__(self, model: nn.Module, normalize: nn.Module) -> None:
        super().__init__()
        self.model, self.normalize = model, normalize

    def predict_step(self, batch, batch_index: int):
        if batch is None:  # every image of the batch was unreadable
            return None
        images, labels, indices = batch
        return self.model(self.normalize(images)).float(), labels, indices


class _ShardWriter(BasePredictionWriter):
    """Each process's rows into ``shards/rank<R>`` as they are computed."""

    def __init__(self, shards: Path, total: int, dtype: str) -> None:
        super().__init__(write_interval="batch")
        self.shards, self.total, self.dtype = shards, total, dtype
        self.rows: FeatureRows | None = None

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        directory = self.shards / f"rank{trainer.global_rank}"
        directory.mkdir(parents=True, exist_ok=True)
        # the unrepeated sampler gives rank r the images r, r + W, r + 2W, ...
        capacity = len(range(trainer.global_rank, self.total, trainer.world_size))
        self.rows = FeatureRows(directory, capacity, self.dtype)

    def write_on_batch_end(
        self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx
    ) -> None:
        if prediction is not None:
            representation, labels, indices = (t.cpu().numpy() for t in prediction)
            self.rows.append(representation, labels, indices)

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.rows.close()


def extract_sharded(
    model: nn.Module,
    normalize: nn.Module,
    loader: DataLoader,
    directory: Path,
    config: FeaturesConfig,
    device: torch.device,
    description: str = "",
) -> int:
    """Features of ``loader``'s dataset from ``config.devices`` processes, written to
    ``directory`` in dataset order; the rows written."""
    shards = directory / "shards"
    total = len(loader.dataset)
    if description and config.progress_bar:
        print(f"{description}: {config.devices} processes", flush=True)
    trainer = L.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu",
        devices=config.devices,
        strategy="ddp_spawn",
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=config.progress_bar,
        callbacks=[_ShardWriter(shards, total, config.dtype)],
    )
    trainer.predict(_Frozen(model, normalize).eval(), dataloaders=loader, return_predictions=False)
    written = merge_shards(sorted(shards.glob("rank*")), directory, total, config.dtype)
    shutil.rmtree(shards)
    return written


def merge_shards(shards: list[Path], directory: Path, total: int, dtype: str = "float16") -> int:
    """The rows of every shard in the order of their dataset indices, into ``directory``, stored
    in ``dtype`` (the shards', so no value is rounded twice)."""
    parts = [s for s in shards if (s / "indices.npy").is_file()]  # a shard of no readable image
    indices = [np.load(s / "indices.npy") for s in parts]
    features = [np.load(s / "features.npy", mmap_mode="r") for s in parts]
    labels = [np.load(s / "labels.npy") for s in parts]
    shard_of = np.concatenate([np.full(len(i), k) for k, i in enumerate(indices)] or [[]])
    row_of = np.concatenate([np.arange(len(i)) for i in indices] or [[]])
    order = np.argsort(np.concatenate(indices or [[]]), kind="stable")
    rows = FeatureRows(directory, total, dtype)
    for begin in range(0, len(order), CHUNK_ROWS):
        chunk = order[begin : begin + CHUNK_ROWS]
        shard, row = shard_of[chunk].astype(int), row_of[chunk].astype(int)
        block = np.empty((len(chunk), features[0].shape[1]), np.float32)
        block_labels, block_indices = np.empty(len(chunk), np.int64), np.empty(len(chunk), np.int64)
        for k in np.unique(shard):
            mine = shard == k
            block[mine] = features[k][row[mine]]
            block_labels[mine], block_indices[mine] = labels[k][row[mine]], indices[k][row[mine]]
        rows.append(block, block_labels, block_indices)
    return rows.close()

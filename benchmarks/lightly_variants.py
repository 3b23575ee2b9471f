"""The lightly variants of the benchmarks, run under the lightly environment's interpreter.

lightly cannot share an environment with this project (its hydra-core pins omegaconf < 2.4, see
``make_lightly_env.sh``), so each benchmark script, running in the project's environment, starts
this file for its lightly variant with the interpreter of ``--lightly-python``::

    python lightly_variants.py TASK SPEC.json RESULT.json

SPEC holds the data (as files) and the settings that the script's own variants use, so both
sides of a comparison see the same images or features, batch size, precision and encoder. Of
the project this file loads only ``simclr/encoder.py`` (and ``backbones.py``), the same encoder
class as the project's variants. Tasks:

- ``throughput``  lightly's SimCLR step: ``SimCLRTransform`` in DataLoader workers,
                  ``SimCLRProjectionHead``, ``NTXentLoss``, SGD, one forward pass per view as in
                  lightly's examples; timed step by step as ``throughput.py`` times its own.
- ``knn``         ``lightly.utils.benchmarking.knn_predict`` per chunk of queries, as lightly's
                  ``KNNClassifier`` calls it per validation batch; returns the predictions.
- ``quality``     lightly's small-image recipe pretrains the encoder; returns its weights for
                  the script to evaluate with the project's evaluation stage.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import (
    REPO_ROOT,
    PILImages,
    Pipeline,
    autocast,
    machine,
    measure,
    resolve_device,
    timed,
)
from torch import nn
from torch.utils.data import DataLoader


def project_encoder_class() -> type[nn.Module]:
    """``simclr.encoder.Encoder`` loaded from its file without running ``simclr/__init__.py``,
    whose dependencies (Lightning, Kornia, OmegaConf >= 2.4) this environment does not have."""
    package = types.ModuleType("simclr")
    package.__path__ = [str(REPO_ROOT / "simclr")]
    sys.modules.setdefault("simclr", package)
    return importlib.import_module("simclr.encoder").Encoder


def build_encoder(spec: dict[str, Any]) -> nn.Module:
    description = spec["encoder"]
    return project_encoder_class()(
        description["name"],
        description["stem"],
        description["in_channels"],
        description["residual"],
        description.get("width", 1),  # a cifar_resnet's; absent from torchvision's
        description.get("shortcut", "A"),
    )


def simclr_transform(kwargs: dict[str, Any]) -> Any:
    from lightly.transforms import SimCLRTransform

    kwargs = dict(kwargs)
    if "sigmas" in kwargs:
        kwargs["sigmas"] = tuple(kwargs["sigmas"])
    return SimCLRTransform(**kwargs)


def image_loader(spec: dict[str, Any], generator: torch.Generator | None = None) -> DataLoader:
    """lightly's per-image transform on PIL images of the spec's uint8 images, in workers."""
    images = torch.from_numpy(np.load(spec["images"]))
    workers = spec["workers"]
    return DataLoader(
        PILImages(images, simclr_transform(spec["transform"])),
        batch_size=spec["batch_size"],
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=torch.cuda.is_available(),
        generator=generator,
    )


# ----------------------------------------------------------------------------- throughput
class LightlyPipeline(Pipeline):
    """lightly's SimCLR loop: SimCLRTransform, SimCLRProjectionHead, NTXentLoss, SGD."""

    def __init__(self, spec: dict[str, Any], device: torch.device) -> None:
        from lightly.loss import NTXentLoss
        from lightly.models.modules import SimCLRProjectionHead

        self.device, self.precision = device, spec["precision"]
        torch.manual_seed(0)
        encoder = build_encoder(spec)
        dim = encoder.feature_dim
        self.model = nn.Sequential(encoder, SimCLRProjectionHead(dim, dim, 128)).to(device)
        self.memory_format = torch.contiguous_format
        if spec["channels_last"]:
            self.memory_format = torch.channels_last
            self.model.to(memory_format=torch.channels_last)
        if spec["compile"]:
            encoder.backbone.compile()
        self.criterion = NTXentLoss(temperature=spec["temperature"])
        lr = 0.06 * spec["batch_size"] / 256  # lightly's benchmark recipe
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4
        )
        self.loader: DataLoader | None = image_loader(spec)

    def batches(self) -> Any:
        return iter(self.loader)

    def step(self, batch: Any) -> torch.Tensor:
        x0, x1 = (
            v.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
            for v in batch
        )
        with autocast(self.device, self.precision):
            z0, z1 = self.model(x0), self.model(x1)
            loss = self.criterion(z0.float(), z1.float())
        return self.optimize(loss)

    def close(self) -> None:
        self.loader = None


def throughput(spec: dict[str, Any]) -> dict[str, Any]:
    device = resolve_device(spec["device"])
    return measure(LightlyPipeline(spec, device), device, spec["warmup"], spec["steps"])


# ----------------------------------------------------------------------------- kNN
def knn(spec: dict[str, Any]) -> dict[str, Any]:
    """lightly's knn_predict per chunk of queries: its top-ranked class for every query."""
    from lightly.utils.benchmarking import knn_predict

    device = resolve_device(spec["device"])
    arrays = np.load(spec["features"])
    k, temperature, chunk, classes = spec["k"], spec["temperature"], spec["chunk"], spec["classes"]

    def predict() -> torch.Tensor:
        normalize = torch.nn.functional.normalize
        bank = normalize(torch.from_numpy(arrays["train"]).to(device), dim=1).T.contiguous()
        bank_labels = torch.from_numpy(arrays["train_labels"]).to(device)
        queries = normalize(torch.from_numpy(arrays["test"]).to(device), dim=1)
        ranked = [
            knn_predict(queries[b : b + chunk], bank, bank_labels, classes, k, temperature)[:, 0]
            for b in range(0, len(queries), chunk)
        ]
        return torch.cat(ranked).cpu()

    predictions, seconds, peak = timed(predict, device, spec["repeats"])
    np.save(spec["predictions"], predictions.numpy())
    return {"seconds": seconds, "peak_mib": peak}


# ----------------------------------------------------------------------------- quality
def quality(spec: dict[str, Any]) -> dict[str, Any]:
    """lightly's SimCLR recipe for small images (its CIFAR-10 benchmark) for ``steps`` steps."""
    from lightly.loss import NTXentLoss
    from lightly.models.modules import SimCLRProjectionHead
    from pytorch_lightning import seed_everything

    seed_everything(spec["seed"], workers=True, verbose=False)
    device = resolve_device(spec["device"])
    loader = image_loader(spec, torch.Generator().manual_seed(spec["seed"]))
    encoder = build_encoder(spec)
    head = SimCLRProjectionHead(encoder.feature_dim, encoder.feature_dim, 128)
    model = nn.Sequential(encoder, head).to(device).train()
    memory_format = torch.contiguous_format
    if spec["channels_last"]:  # the project's memory format: equal speed per op
        memory_format = torch.channels_last
        model.to(memory_format=memory_format)
    criterion = NTXentLoss()
    batch_size, steps = spec["batch_size"], spec["steps"]
    optimizer = torch.optim.SGD(
        model.parameters(), lr=0.06 * batch_size / 128, momentum=0.9, weight_decay=5e-4
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    step, losses, start = 0, [], time.perf_counter()
    while step < steps:
        for x0, x1 in loader:
            x0, x1 = (x.to(device).contiguous(memory_format=memory_format) for x in (x0, x1))
            with autocast(device, spec["precision"]):
                loss = criterion(model(x0).float(), model(x1).float())
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            losses.append(float(loss.detach()))
            step += 1
            if step >= steps:
                break
    seconds = time.perf_counter() - start
    torch.save(encoder.cpu().state_dict(), spec["encoder_out"])
    return {"seconds": seconds, "final_loss": float(np.mean(losses[-10:]))}


TASKS = {"throughput": throughput, "knn": knn, "quality": quality}


def main(argv: list[str]) -> None:
    task, spec_path, result_path = argv
    result = TASKS[task](json.loads(Path(spec_path).read_text()))
    result["environment"] = machine()  # this interpreter's torch and lightly versions
    Path(result_path).write_text(json.dumps(result, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])

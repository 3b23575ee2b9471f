"""Views per second of one full SimCLR training step, this project against its peers.

One step: two views of a batch of N images, encoder forward and backward on the 2N views,
projection head, NT-Xent, optimizer step. Four pipelines at the same encoder, batch size,
resolution, precision and memory format, all measured in this one process:

- ``project``      this project's step: its DataLoader over real Fashion-MNIST uint8 images
                   (by default a batch is one gather in the main process, no workers), views
                   made with Kornia on the batch's device
                   by ``SimCLR.on_after_batch_transfer``, then ``SimCLR.training_step``, backward
                   and the configured optimizer (LARS).
- ``ceiling``      the same module on two pre-made float views resident on the device: no
                   loading, no augmentation. project / ceiling is the pipeline efficiency.
- ``conventional`` what lightly, solo-learn and lightning-bolts do: per-image torchvision
                   transforms (the same ops and parameters as this project's views) on PIL images
                   in DataLoader workers, fed to the same module.
- ``lightly``      lightly's own loop: ``SimCLRTransform`` in workers, ``SimCLRProjectionHead``,
                   ``NTXentLoss``, SGD, each view through the model in its own forward pass, as
                   in lightly's examples; the same encoder and images. It runs in lightly's own
                   environment (``--lightly-python``, made by ``make_lightly_env.sh``), started
                   from here for each setting and round (``lightly_variants.py``).

Every step is timed from asking the loader for a batch to the end of the optimizer step, so a
pipeline that cannot keep up pays for its waiting. The median of the timed steps is reported.

Usage:
    python benchmarks/throughput.py                      # CPU, 28 px, fp32 and bf16-mixed
    python benchmarks/throughput.py --image-sizes 28 32 --channels-last off on
    python benchmarks/throughput.py --device cuda --compile off on
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import random
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import (
    DATA_ROOT,
    RESULTS_DIR,
    PILImages,
    Pipeline,
    add_lightly_python_argument,
    autocast,
    lightly_python,
    machine,
    measure,
    median,
    print_table,
    resolve_device,
    run_lightly,
    write_json,
)
from PIL import Image, ImageFilter
from torch import nn
from torch.utils.data import DataLoader

from simclr.config import SimCLRConfig, load_config
from simclr.config.encoder import STEMS
from simclr.data.config import normalization
from simclr.data.datamodule import SimCLRDataModule
from simclr.data.readers import read_fashion_mnist
from simclr.module import SimCLR
from simclr.optim import build_optimizer

VARIANTS = ("project", "ceiling", "conventional", "lightly")


@dataclass(frozen=True)
class Setting:
    image_size: int
    precision: str
    channels_last: bool
    compile: bool
    stem: str = "small"

    def label(self) -> str:
        flags = [f"{self.image_size}px", f"{self.stem} stem", self.precision]
        flags += ["channels_last"] if self.channels_last else []
        flags += ["compile"] if self.compile else []
        return " ".join(flags)


def project_config(args: argparse.Namespace, setting: Setting) -> SimCLRConfig:
    """The project's default config at this benchmark's settings (no online probe: equal work)."""
    return load_config(
        None,
        [
            f"data.root={args.data_root}",
            "data.download=false",
            f"data.image_size={setting.image_size}",
            f"data.batch_size={args.batch_size}",
            f"data.num_workers={'null' if args.project_workers is None else args.project_workers}",
            f"encoder.name={args.encoder}",
            f"encoder.stem={setting.stem}",
            f"trainer.precision={setting.precision}",
            f"trainer.channels_last={str(setting.channels_last).lower()}",
            f"trainer.compile={str(setting.compile).lower()}",
            "probe.enabled=false",
        ],
    )


# ----------------------------------------------------------------------------- pipelines
class ProjectPipeline(Pipeline):
    """This project: uint8 batches from SimCLRDataModule, Kornia views, SimCLR.training_step."""

    def __init__(self, config: SimCLRConfig, device: torch.device, premade: bool) -> None:
        self.config, self.device = config, device
        torch.manual_seed(0)
        self.module = SimCLR.from_config(config, num_classes=0).to(device).train()
        model = nn.ModuleList([self.module.encoder, self.module.head])
        lr = self.module.learning_rate()
        self.optimizer = build_optimizer(model, config.optimizer, lr)
        self.datamodule = SimCLRDataModule(config.data)
        self.loader: DataLoader | None = self.datamodule.train_dataloader()
        self.premade: tuple | None = None
        if premade:  # the ceiling: two views made once, then reused by every step
            images, labels = next(iter(self.loader))
            self.premade = self.module.on_after_batch_transfer((images.to(device), labels), 0)
            self.loader = None

    def batches(self) -> Iterator[Any]:
        if self.premade is not None:
            return itertools.repeat(self.premade)
        return iter(self.loader)

    def views(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(view 1, view 2, labels) on the device, as ``training_step`` takes them."""
        if self.premade is not None:
            return self.premade
        images, labels = batch
        images = images.to(self.device, non_blocking=True)
        return self.module.on_after_batch_transfer((images, labels.to(self.device)), 0)

    def step(self, batch: Any) -> torch.Tensor:
        batch = self.views(batch)
        with autocast(self.device, self.config.trainer.precision):
            loss = self.module.training_step(batch, 0)
        return self.optimize(loss)

    def close(self) -> None:
        self.loader = None
        self.datamodule = None


class TwoViews:
    def __init__(self, view: Callable) -> None:
        self.view = view

    def __call__(self, image: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
        return self.view(image), self.view(image)


class PILGaussianBlur:
    """Gaussian blur with sigma ~ U(sigma) on PIL images, applied with probability ``p``: how
    solo-learn and lightly blur (torchvision's blur on PIL images is ~40x slower per image)."""

    def __init__(self, sigma: tuple[float, float], p: float) -> None:
        self.sigma, self.p = sigma, p

    def __call__(self, image: Image.Image) -> Image.Image:
        if random.random() >= self.p:
            return image
        return image.filter(ImageFilter.GaussianBlur(radius=random.uniform(*self.sigma)))


def conventional_transform(config: SimCLRConfig) -> TwoViews:
    """The project's t ~ T written as per-image torchvision transforms (the usual pipeline)."""
    from torchvision.transforms import v2 as T

    aug, size = config.augment, config.data.image_size
    mean, std = normalization(config.data, aug.normalize.mean, aug.normalize.std)
    s = aug.color.strength
    ops = [
        T.RandomResizedCrop(size, scale=tuple(aug.crop.scale), ratio=tuple(aug.crop.ratio)),
        T.RandomHorizontalFlip(aug.flip.p),
        T.RandomApply([T.ColorJitter(0.8 * s, 0.8 * s)], p=aug.color.p),  # grayscale: no hue
        PILGaussianBlur(tuple(aug.blur.sigma), aug.blur.p),
        T.PILToTensor(),
        T.ToDtype(torch.float32, scale=True),
        T.Normalize(mean, std),
    ]
    return TwoViews(T.Compose(ops))


def lightly_spec(
    config: SimCLRConfig, device: torch.device, images: Path, workers: int, warmup: int, steps: int
) -> dict:
    """What lightly_variants.py's throughput task needs to run lightly's loop at these settings:
    SimCLRTransform with this project's augmentation parameters, the same encoder and images."""
    aug = config.augment
    mean, std = normalization(config.data, aug.normalize.mean, aug.normalize.std)
    transform = {
        "input_size": config.data.image_size,
        "cj_prob": aug.color.p,
        "cj_strength": aug.color.strength,
        "min_scale": aug.crop.scale[0],
        "random_gray_scale": aug.grayscale.p,
        "gaussian_blur": aug.blur.p,
        "sigmas": list(aug.blur.sigma),
        "hf_prob": aug.flip.p,
        "normalize": {"mean": list(mean), "std": list(std)},
    }
    encoder = config.encoder
    return {
        "device": str(device),
        "images": str(images),
        "transform": transform,
        "encoder": {
            "name": encoder.name,
            "stem": encoder.stem,
            "in_channels": 1,
            "residual": encoder.residual,
        },
        "batch_size": config.data.batch_size,
        "workers": workers,
        "precision": config.trainer.precision,
        "channels_last": config.trainer.channels_last,
        "compile": config.trainer.compile,
        "temperature": config.loss.temperature,
        "warmup": warmup,
        "steps": steps,
    }


def worker_loader(
    images: torch.Tensor, transform: Callable, config: SimCLRConfig, workers: int
) -> DataLoader:
    return DataLoader(
        PILImages(images, transform),
        batch_size=config.data.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=torch.cuda.is_available(),
    )


class ConventionalPipeline(ProjectPipeline):
    """Per-image torchvision transforms in workers, fed to this project's module."""

    def __init__(
        self, config: SimCLRConfig, device: torch.device, images: torch.Tensor, workers: int
    ) -> None:
        super().__init__(config, device, premade=False)
        self.loader = worker_loader(images, conventional_transform(config), config, workers)

    def views(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        view1, view2 = (self.module._layout(v.to(self.device, non_blocking=True)) for v in batch)
        labels = torch.zeros(view1.shape[0], dtype=torch.long, device=self.device)
        return view1, view2, labels


# ----------------------------------------------------------------------------- measurement
def merge_rounds(rounds: list[dict], batch: int) -> dict:
    """Every round's timed steps pooled: the median over all of them, the largest peak."""
    times = [t for measured in rounds for t in measured["step_seconds"]]
    cuda = [m["peak_cuda_mib"] for m in rounds if m["peak_cuda_mib"] is not None]
    return {
        "step_seconds": times,
        "median_step_seconds": median(times),
        "views_per_second": 2 * batch / median(times),
        "losses": [loss for measured in rounds for loss in measured["losses"]],
        "finite": all(measured["finite"] for measured in rounds),
        "peak_host_mib": max(m["peak_host_mib"] for m in rounds),
        "peak_cuda_mib": max(cuda) if cuda else None,
    }


def build(
    variant: str, config: SimCLRConfig, device: torch.device, images: torch.Tensor, workers: int
) -> Pipeline:
    if variant == "project":
        return ProjectPipeline(config, device, premade=False)
    if variant == "ceiling":
        return ProjectPipeline(config, device, premade=True)
    if variant == "conventional":
        return ConventionalPipeline(config, device, images, workers)
    raise ValueError(f"unknown variant {variant!r}")


def run(args: argparse.Namespace, out: Path) -> dict:
    """Measure every variant at every setting; ``out`` gets each finished setting as it ends."""
    device = resolve_device(args.device)
    warmup = args.warmup if args.warmup is not None else (1 if device.type == "cpu" else 5)
    steps = args.steps if args.steps is not None else (3 if device.type == "cpu" else 30)
    variants = list(args.variants)
    python = lightly_python(args.lightly_python) if "lightly" in variants else None
    if python is None and "lightly" in variants:
        variants.remove("lightly")
    settings = [
        Setting(size, precision, channels_last == "on", compile_ == "on", stem)
        for stem, size, precision, channels_last, compile_ in itertools.product(
            args.stems, args.image_sizes, args.precisions, args.channels_last, args.compile
        )
    ]
    images = read_fashion_mnist(
        "train", root=project_config(args, settings[0]).data.root, download=False
    ).images
    work_dir = tempfile.TemporaryDirectory(prefix="throughput-")
    images_file = Path(work_dir.name) / "images.npy"  # the lightly variant reads the same images
    if "lightly" in variants:
        np.save(images_file, images.numpy())
    batch = args.batch_size
    results = []
    lightly_environment = None
    load_before = os.getloadavg()
    for setting in settings:
        config = project_config(args, setting)
        rounds: dict[str, list[dict]] = {variant: [] for variant in variants}
        for round_index in range(args.rounds):
            # alternate the order so that a drift of the machine's load favours no variant
            for variant in variants if round_index % 2 == 0 else variants[::-1]:
                print(f"[{setting.label()}] round {round_index + 1}: {variant} ...", flush=True)
                if variant == "lightly":
                    spec = lightly_spec(config, device, images_file, args.workers, warmup, steps)
                    measured = run_lightly(python, "throughput", spec)
                    lightly_environment = measured.pop("environment")
                    rounds[variant].append(measured)
                    continue
                pipeline = build(variant, config, device, images, args.workers)
                rounds[variant].append(measure(pipeline, device, warmup, steps))
                del pipeline
                gc.collect()
        measured = {variant: merge_rounds(rounds[variant], batch) for variant in variants}
        results.append({"setting": setting.__dict__, "label": setting.label(), **measured})
        partial = {"benchmark": "throughput", "partial": True, "results": results}
        write_json(partial, out.with_suffix(".partial.json"), quiet=True)

    report = {
        "benchmark": "throughput",
        "machine": machine(),
        "device": str(device),
        "encoder": args.encoder,
        "stems": args.stems,
        "batch_size": batch,
        "workers": args.workers,
        "project_workers": args.project_workers,
        "warmup_steps": warmup,
        "timed_steps": steps,
        "rounds": args.rounds,
        "load_average_before": load_before,
        "lightly_environment": lightly_environment,
        "results": results,
    }
    work_dir.cleanup()
    summarise(report, variants)
    return report


def ratio(result: dict, a: str, b: str) -> float | None:
    if a in result and b in result:
        return result[a]["views_per_second"] / result[b]["views_per_second"]
    return None


def summarise(report: dict, variants: list[str]) -> None:
    rows = []
    for result in report["results"]:
        peak = max(result[v]["peak_cuda_mib"] or result[v]["peak_host_mib"] for v in variants)
        rows.append(
            [result["label"]]
            + [result[v]["views_per_second"] for v in variants]
            + [ratio(result, "project", other) for other in variants if other != "project"]
            + [peak]
        )
        result["ratios"] = {
            f"project/{other}": ratio(result, "project", other)
            for other in variants
            if other != "project"
        }
    headers = ["setting", *[f"{v} v/s" for v in variants]]
    headers += [f"project/{v}" for v in variants if v != "project"] + ["peak MiB"]
    title = (
        f"SimCLR step throughput (views/s, median of {report['timed_steps']} steps x "
        f"{report['rounds']} rounds): "
        f"{report['encoder']}, batch {report['batch_size']}, "
        f"{report['device']}, {report['machine']['cpu']}"
    )
    print_table(headers, rows, title)
    memory_rows = [
        [r["label"], *[r[v]["peak_cuda_mib"] or r[v]["peak_host_mib"] for v in variants]]
        for r in report["results"]
    ]
    kind = "CUDA max allocated" if report["device"].startswith("cuda") else "host PSS"
    print_table(["setting", *variants], memory_rows, f"peak memory (MiB, {kind})")
    if "project" in variants and report["results"]:
        best = max((r["project"]["views_per_second"], r["label"]) for r in report["results"])
        report["fastest_project_setting"] = best[1]
        print(f"\nfastest setting of this project's step: {best[1]} ({best[0]:,.0f} views/s)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--encoder", default="resnet18")
    parser.add_argument(
        "--stem", dest="stems", nargs="+", default=["small"], choices=STEMS, help="one or more"
    )
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--image-sizes", type=int, nargs="+", default=[28])
    parser.add_argument(
        "--precisions",
        nargs="+",
        default=["32-true", "bf16-mixed"],
        choices=["32-true", "bf16-mixed"],
    )
    parser.add_argument("--channels-last", nargs="+", default=["on"], choices=["off", "on"])
    parser.add_argument("--compile", nargs="+", default=["off"], choices=["off", "on"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument(
        "--workers", type=int, default=2, help="DataLoader workers of conventional and lightly"
    )
    parser.add_argument(
        "--project-workers",
        type=int,
        default=None,
        help="DataLoader workers of project and ceiling (default: the project's own, auto)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="repeat, alternating the order")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps (cpu 1, cuda 5)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (cpu 3, cuda 30)")
    parser.add_argument("--data-root", default=str(DATA_ROOT))
    add_lightly_python_argument(parser)
    parser.add_argument("--out", default=None, help="JSON path (results/throughput_<device>.json)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    warnings.filterwarnings("ignore", message=".*self.log.*")
    warnings.filterwarnings("ignore", message=".*mode.*parameter is deprecated.*")
    out = Path(args.out or RESULTS_DIR / f"throughput_{args.device}.json")
    report = run(args, out)
    write_json(report, out)
    out.with_suffix(".partial.json").unlink(missing_ok=True)


if __name__ == "__main__":
    main()

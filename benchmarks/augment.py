"""Time of the augmentations t ~ T per training step, in total and per op, on a CPU or a GPU.

For each recipe's setting (image size, channels, images per step, its augmentation section) it
times the project's two views of a uint8 batch (SimCLRViews, as the training step calls it),
each Kornia op alone on one view, and the same pipeline with Kornia's default crop (``slice``,
a loop over the images) in place of the batched one (``resample``) the project uses. Medians
of ``--repeats`` timed calls after 3 untimed ones; a GPU is synchronised around each call.

    python benchmarks/augment.py --device cuda        # results/augment_cuda.json
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import kornia.augmentation as K
import torch
from omegaconf import OmegaConf
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    RESULTS_DIR,
    machine,
    median,
    print_table,
    resolve_device,
    stopwatch,
    write_json,
)

from simclr.augment import SimCLRViews, view_options
from simclr.config import SimCLRConfig
from simclr.config.merge import merge_config
from simclr.preprocess import to_unit_float

# (recipe, image size, channels, images per step): the recipes' own settings; ImageNet with
# fewer images per step than its 4096 so that a CPU measures it in seconds
SETTINGS = (
    ("default", 28, 1, 256),
    ("fashion_mnist", 28, 1, 512),
    ("cifar10", 32, 3, 512),
    ("imagenet", 224, 3, 128),
)


def timed_ms(call, device: torch.device, repeats: int) -> float:
    """Median milliseconds of ``call()`` over ``repeats`` calls after 3 untimed ones."""
    for _ in range(3):
        call()
    times = []
    for _ in range(repeats):
        with stopwatch(device) as elapsed:
            call()
        times.append(elapsed())
    return median(times) * 1000


def slice_cropping(views: SimCLRViews) -> nn.Sequential:
    """The same ops with Kornia's default crop, a per-image loop (``cropping_mode='slice'``)."""
    ops = copy.deepcopy(views.augment)
    for op in ops:
        if isinstance(op, K.RandomResizedCrop):
            op.flags["cropping_mode"] = "slice"
    return ops


def measure(recipe: str, size: int, channels: int, batch: int, device, repeats: int) -> dict:
    # the recipe's augment section only: its data section may name a folder that is not here
    augment = OmegaConf.to_object(merge_config(SimCLRConfig, [recipe])).augment
    views = SimCLRViews(size, channels, **view_options(augment)).to(device)
    images = torch.randint(0, 256, (batch, channels, size, size), dtype=torch.uint8, device=device)
    unit = to_unit_float(images)
    slow = slice_cropping(views).to(device)
    row = {
        "recipe": recipe,
        "image_size": size,
        "channels": channels,
        "images": batch,
        "views_ms": timed_ms(lambda: views(images), device, repeats),
        "views_slice_crop_ms": timed_ms(
            lambda: (
                views.normalize(slow(to_unit_float(images))),
                views.normalize(slow(to_unit_float(images))),
            ),
            device,
            repeats,
        ),
        "ops_ms": {
            type(op).__name__: timed_ms(lambda op=op: op(unit), device, repeats)
            for op in views.augment
        },
    }
    row["ops_ms"]["RandomResizedCrop (slice)"] = timed_ms(lambda: slow[0](unit), device, repeats)
    row["slice_over_resample"] = row["views_slice_crop_ms"] / row["views_ms"]
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--recipes", nargs="+", default=[s[0] for s in SETTINGS])
    parser.add_argument("--out", default=None, help="JSON path (results/augment_<device>.json)")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    torch.manual_seed(0)
    rows = [
        measure(recipe, size, channels, batch, device, args.repeats)
        for recipe, size, channels, batch in SETTINGS
        if recipe in args.recipes
    ]
    print_table(
        [
            "recipe",
            "size",
            "ch",
            "images",
            "2 views ms",
            "slice crop ms",
            "slice / resample",
            "ops ms (one view)",
        ],
        [
            [
                r["recipe"],
                r["image_size"],
                r["channels"],
                r["images"],
                f"{r['views_ms']:.2f}",
                f"{r['views_slice_crop_ms']:.2f}",
                f"{r['slice_over_resample']:.2f}",
                ", ".join(f"{k} {v:.2f}" for k, v in r["ops_ms"].items()),
            ]
            for r in rows
        ],
        title=f"augmentations of one step, {device.type}, median of {args.repeats}",
    )
    report = {
        "benchmark": "augment",
        "machine": machine(),
        "device": device.type,
        "repeats": args.repeats,
        "results": rows,
    }
    write_json(report, Path(args.out or RESULTS_DIR / f"augment_{device.type}.json"))


if __name__ == "__main__":
    main()

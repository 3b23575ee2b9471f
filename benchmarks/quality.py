"""kNN accuracy at equal budget: this project's defaults against lightly's small-image recipe.

Both pretrain the same encoder on Fashion-MNIST's training split with the same batch size,
number of optimizer steps, seed, precision and memory format:

- ``project``  ``simclr.train.pretrain`` with the defaults of ``configs/default.yaml`` (only the
               budget, the data location and the seed are set; validation is skipped, it does
               not change the encoder);
- ``lightly``  lightly's recipe for small images, as in its CIFAR-10 benchmark:
               ``SimCLRTransform(cj_strength=0.5, gaussian_blur=0.0)`` normalised with
               Fashion-MNIST's statistics, ``SimCLRProjectionHead(512, 512, 128)``,
               ``NTXentLoss()`` (temperature 0.5), SGD (lr 0.06 x N/128, momentum 0.9, weight
               decay 5e-4) with a cosine schedule over the budget.

Then every encoder, a randomly initialised one of the same architecture, and raw pixels are
evaluated by the evaluation stage (``linear_eval``): frozen features of the train and test
splits, weighted kNN with k = 200 and T = 0.1, top-1 on the test split.

Usage:
    python benchmarks/quality.py                    # 936 steps (4 epochs): about 30 min on 2 cores
    python benchmarks/quality.py --steps 234 --methods project \\
        --project-overrides loss.temperature=0.2     # one candidate default, about 2.5 minutes
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import time
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import torch
from common import (
    DATA_ROOT,
    REPO_ROOT,
    RESULTS_DIR,
    PILImages,
    autocast,
    lightly_available,
    machine,
    print_table,
    write_json,
)
from torch import nn
from torch.utils.data import DataLoader

from linear_eval.config import EvalConfig, load_eval_config
from linear_eval.encoders import (
    PRETRAINED,
    FeatureExtractor,
    fingerprint,
    load_encoder,
    random_encoder,
    raw_pixels,
)
from linear_eval.features import extract_features
from linear_eval.knn import knn_classify
from simclr.config import SimCLRConfig, load_config
from simclr.data.readers import read_fashion_mnist
from simclr.data.registry import normalization
from simclr.data.splits import subset_indices
from simclr.encoder import Encoder
from simclr.train import pretrain

METHODS = ("project", "lightly", "random", "raw")


def project_config(args: argparse.Namespace, name: str) -> SimCLRConfig:
    """The defaults, with only the budget, data location, run directory and seed set."""
    train_images = args.train_subset or 60_000
    epochs = math.ceil(args.steps * args.batch_size / train_images) + 1
    overrides = [
        f"data.root={args.data_root}",
        "data.download=false",
        f"data.batch_size={args.batch_size}",
        f"trainer.max_steps={args.steps}",
        f"trainer.max_epochs={epochs}",
        f"trainer.precision={args.precision}",
        "trainer.accelerator=cpu" if args.device == "cpu" else "trainer.accelerator=gpu",
        "trainer.devices=1",
        "trainer.limit_val_batches=0",
        "trainer.progress_bar=false",
        f"run.out_dir={args.work_dir}",
        f"run.name={name}",
        f"run.seed={args.seed}",
    ]
    if args.train_subset:
        overrides.append(f"data.subset={args.train_subset}")
    if args.project_workers is not None:
        overrides.append(f"data.num_workers={args.project_workers}")
    return load_config(None, [*overrides, *args.project_overrides])


# ----------------------------------------------------------------------------- lightly's recipe
def pretrain_lightly(args: argparse.Namespace, config: SimCLRConfig) -> tuple[Encoder, dict]:
    """lightly's SimCLR recipe for small images on the project's training images."""
    from lightly.loss import NTXentLoss
    from lightly.models.modules import SimCLRProjectionHead
    from lightly.transforms import SimCLRTransform

    L.seed_everything(args.seed, workers=True, verbose=False)
    device = torch.device(args.device)
    images = read_fashion_mnist("train", root=config.data.root, download=False).images
    indices = subset_indices(len(images), config.data.subset, args.seed)
    if indices is not None:
        images = images[indices]
    mean, std = normalization(config.data)
    transform = SimCLRTransform(
        input_size=config.data.image_size,
        cj_strength=0.5,
        gaussian_blur=0.0,
        normalize={"mean": mean, "std": std},
    )
    loader = DataLoader(
        PILImages(images, transform),
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=args.workers,
        persistent_workers=args.workers > 0,
        generator=torch.Generator().manual_seed(args.seed),
    )
    encoder = Encoder(config.encoder.name, config.encoder.stem, 1, config.encoder.residual)
    head = SimCLRProjectionHead(encoder.feature_dim, encoder.feature_dim, 128)
    model = nn.Sequential(encoder, head).to(device).train()
    memory_format = torch.contiguous_format
    if config.trainer.channels_last:  # the project's memory format: equal speed per op
        memory_format = torch.channels_last
        model.to(memory_format=memory_format)
    criterion = NTXentLoss()
    optimizer = torch.optim.SGD(
        model.parameters(), lr=0.06 * args.batch_size / 128, momentum=0.9, weight_decay=5e-4
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.steps)
    step, losses, start = 0, [], time.perf_counter()
    while step < args.steps:
        for x0, x1 in loader:
            x0, x1 = (x.to(device).contiguous(memory_format=memory_format) for x in (x0, x1))
            with autocast(device, args.precision):
                loss = criterion(model(x0).float(), model(x1).float())
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            losses.append(float(loss.detach()))
            step += 1
            if step >= args.steps:
                break
    seconds = time.perf_counter() - start
    return encoder.cpu().eval(), {"seconds": seconds, "final_loss": float(np.mean(losses[-10:]))}


# ----------------------------------------------------------------------------- evaluation
def eval_config(args: argparse.Namespace, config: SimCLRConfig) -> EvalConfig:
    return load_eval_config(
        config,
        None,
        [
            f"features.device={args.device}",
            "features.progress_bar=false",
            f"knn.k=[{args.k}]",
            f"knn.temperature={args.knn_temperature}",
        ],
    )


def knn_accuracy(
    extractor: FeatureExtractor, config: EvalConfig, args: argparse.Namespace
) -> float:
    cache = Path(args.work_dir) / "features"
    train = extract_features(extractor, config, "train", args.eval_subset, cache)
    test = extract_features(extractor, config, "test", args.eval_subset, cache)
    result = knn_classify(
        np.asarray(train.representation),
        train.labels,
        np.asarray(test.representation),
        test.labels,
        (args.k,),
        args.knn_temperature,
    )
    return float(result[args.k]["top1"])


def as_extractor(encoder: Encoder) -> FeatureExtractor:
    description = encoder.describe()
    return FeatureExtractor(PRETRAINED, encoder, fingerprint(encoder, description), description)


def run(args: argparse.Namespace) -> dict:
    work_dir = Path(args.work_dir)
    methods = [m for m in args.methods if m != "lightly" or lightly_available()]
    if len(methods) < len(args.methods):
        print("lightly is not installed: its recipe is skipped", file=sys.stderr)
    tag = f"{args.steps}steps-seed{args.seed}"
    config = project_config(args, f"project-{tag}")
    evaluation = eval_config(args, config)
    results: dict[str, dict] = {}

    if "project" in methods:
        shutil.rmtree(work_dir / config.run.name, ignore_errors=True)
        print(f"pretraining with this project's defaults: {args.steps} steps ...", flush=True)
        summary = pretrain(config, quiet=True)
        loaded = load_encoder(summary.run_dir)
        results["project"] = {
            "pretrain_seconds": summary.seconds,
            "final_loss": summary.final_loss,
            "knn_top1": knn_accuracy(loaded.extractor, evaluation, args),
        }
    if "lightly" in methods:
        print(f"pretraining with lightly's recipe: {args.steps} steps ...", flush=True)
        encoder, info = pretrain_lightly(args, config)
        results["lightly"] = {
            "pretrain_seconds": info["seconds"],
            "final_loss": info["final_loss"],
            "knn_top1": knn_accuracy(as_extractor(encoder), evaluation, args),
        }
    if "random" in methods:
        like = Encoder(config.encoder.name, config.encoder.stem, 1, config.encoder.residual)
        extractor = random_encoder(like, seed=args.seed)
        results["random"] = {"knn_top1": knn_accuracy(extractor, evaluation, args)}
    if "raw" in methods:
        results["raw"] = {"knn_top1": knn_accuracy(raw_pixels(), evaluation, args)}

    names = {
        "project": "this project (defaults)",
        "lightly": "lightly small-image recipe",
        "random": "random-init encoder",
        "raw": "raw pixels",
    }
    rows = [
        [
            names[m]
            + (
                f" + {' '.join(args.project_overrides)}"
                if m == "project" and args.project_overrides
                else ""
            ),
            results[m]["knn_top1"],
            results[m].get("pretrain_seconds"),
            results[m].get("final_loss"),
        ]
        for m in methods
    ]
    title = (
        f"Fashion-MNIST kNN top-1 (k = {args.k}, T = {args.knn_temperature}) after {args.steps} "
        f"steps of batch {args.batch_size}: {config.encoder.name} {config.encoder.stem} stem, "
        f"{args.precision}, seed {args.seed}"
    )
    print_table(["method", "kNN top-1", "pretrain s", "final loss"], rows, title)
    return {
        "benchmark": "quality",
        "machine": machine(),
        "steps": args.steps,
        "batch_size": args.batch_size,
        "precision": args.precision,
        "seed": args.seed,
        "encoder": f"{config.encoder.name} {config.encoder.stem} stem",
        "image_size": config.data.image_size,
        "project_overrides": args.project_overrides,
        "train_subset": args.train_subset,
        "eval_subset": args.eval_subset,
        "knn": {"k": args.k, "temperature": args.knn_temperature},
        "results": results,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=936, help="optimizer steps of each method")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--precision", default="32-true", choices=["32-true", "bf16-mixed"])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of lightly")
    parser.add_argument(
        "--project-workers", type=int, default=None, help="default: the project's own (auto)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument(
        "--project-overrides", nargs="*", default=[], help="key=value on top of the defaults"
    )
    parser.add_argument("--k", type=int, default=200)
    parser.add_argument("--knn-temperature", type=float, default=0.1)
    parser.add_argument("--train-subset", type=int, default=None, help="pretraining images")
    parser.add_argument("--eval-subset", type=int, default=None, help="kNN train/test images")
    parser.add_argument("--data-root", default=str(DATA_ROOT))
    parser.add_argument("--work-dir", default=str(REPO_ROOT / "runs" / "benchmarks"))
    parser.add_argument("--out", default=None, help="JSON path (results/quality.json)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    warnings.filterwarnings("ignore", message=".*mode.*parameter is deprecated.*")
    warnings.filterwarnings("ignore", message=".*on_after_batch_transfer.*")
    report = run(args)
    write_json(report, Path(args.out or RESULTS_DIR / "quality.json"))


if __name__ == "__main__":
    main()

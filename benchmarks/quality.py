"""kNN accuracy at equal budget: this project's defaults against lightly's small-image recipe.

Both pretrain the same encoder on the same rows of Fashion-MNIST's training split (the rows the
project's data module trains on: the validation split held out) with the same batch size, number
of optimizer steps, seed, precision and memory format:

- ``project``  ``simclr.run.train.pretrain`` with the defaults of ``configs/default.yaml`` (only the
               budget, the data location and the seed are set; validation is skipped, it does
               not change the encoder);
- ``lightly``  lightly's recipe for small images, as in its CIFAR-10 benchmark:
               ``SimCLRTransform(cj_strength=0.5, gaussian_blur=0.0)`` normalised with
               Fashion-MNIST's statistics, ``SimCLRProjectionHead(512, 512, 128)``,
               ``NTXentLoss()`` (temperature 0.5), SGD (lr 0.06 x N/128, momentum 0.9, weight
               decay 5e-4) with a cosine schedule over the budget. It runs in lightly's own
               environment (``--lightly-python``, made by ``make_lightly_env.sh``) on the same
               images (``lightly_variants.py``); its encoder comes back to be evaluated here.

Then every encoder, a randomly initialised one of the same architecture, and raw pixels are
evaluated by the evaluation stage (``linear_eval``): frozen features of the training rows and of
the measured split, weighted kNN with k = 200 and T = 0.1, top-1 on the measured split: the
validation split held out of the training split (``--measure-on val``, the default: a
comparison that may choose something), or the test split (``--measure-on test``, to report).

Usage:
    python benchmarks/quality.py                    # 936 steps (4 epochs): about 30 min on 2 cores
    python benchmarks/quality.py --steps 234 --methods project \\
        --project-overrides loss.temperature=0.2     # one candidate default, about 2.5 minutes
"""

from __future__ import annotations

import argparse
import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch
from common import (
    DATA_ROOT,
    REPO_ROOT,
    RESULTS_DIR,
    add_lightly_python_argument,
    lightly_python,
    machine,
    print_table,
    run_lightly,
    write_json,
)

from linear_eval.config import EvalConfig, load_eval_config
from linear_eval.features.encoders import (
    PRETRAINED,
    FeatureExtractor,
    fingerprint,
    load_encoder,
    random_encoder,
    raw_pixels,
)
from linear_eval.features.extract import extract_features
from linear_eval.protocols.evaluate import labelled_splits
from linear_eval.protocols.knn import knn_classify
from linear_eval.protocols.linear import linear_probe
from simclr.config import SimCLRConfig, load_config
from simclr.data.config import normalization, resolved_spec
from simclr.data.splits import load_split
from simclr.encoder import Encoder, resolved_stem
from simclr.run.train import pretrain

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


def stem_of(config: SimCLRConfig) -> str:
    return resolved_stem(config.encoder.stem, config.encoder.name, config.data.image_size)


def untrained_encoder(config: SimCLRConfig) -> Encoder:
    """The config's f on 1-channel images, untrained."""
    architecture = config.encoder
    return Encoder(
        architecture.name,
        stem_of(config),
        1,
        architecture.residual,
        architecture.width,
        architecture.shortcut,
    )


# ----------------------------------------------------------------------------- lightly's recipe
def training_images(config: SimCLRConfig) -> torch.Tensor:
    """The uint8 images (N, C, H, W) the project's data module pretrains on with ``config``:
    its training split less the held-out validation rows, ``data.subset`` drawn with the seed."""
    data = config.data
    split = resolved_spec(data).pretrain_split
    return load_split(data, split, data.subset, config.run.seed, data.pretrain_on_val).images


def pretrain_lightly(
    python: Path, args: argparse.Namespace, config: SimCLRConfig
) -> tuple[Encoder, dict]:
    """lightly's SimCLR recipe for small images on the project's training images, run by
    lightly_variants.py in lightly's environment; its encoder's weights are loaded here."""
    folder = Path(args.work_dir) / "lightly"
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "images.npy", training_images(config).numpy())
    mean, std = normalization(config.data)
    encoder = untrained_encoder(config)
    spec = {
        "device": args.device,
        "images": str(folder / "images.npy"),
        "transform": {
            "input_size": config.data.image_size,
            "cj_strength": 0.5,
            "gaussian_blur": 0.0,
            "normalize": {"mean": list(mean), "std": list(std)},
        },
        "encoder": encoder.describe(),
        "batch_size": args.batch_size,
        "workers": args.workers,
        "steps": args.steps,
        "seed": args.seed,
        "precision": args.precision,
        "channels_last": config.trainer.channels_last,
        "encoder_out": str(folder / "encoder.pt"),
    }
    info = run_lightly(python, "quality", spec)
    encoder.load_state_dict(torch.load(folder / "encoder.pt", weights_only=True))
    return encoder.eval(), info


# ----------------------------------------------------------------------------- evaluation
def eval_config(args: argparse.Namespace, config: SimCLRConfig) -> EvalConfig:
    """The evaluation defaults of ``simclr eval`` (the linear probe's too), with the kNN's k
    and temperature of the command line."""
    return load_eval_config(
        config,
        None,
        [
            f"features.device={args.device}",
            "features.progress_bar=false",
            f"knn.k=[{','.join(map(str, args.k))}]",
            f"knn.temperature={args.knn_temperature}",
            f"measure_on={args.measure_on}",
        ],
    )


def evaluate(
    extractor: FeatureExtractor, config: EvalConfig, args: argparse.Namespace, seed: int
) -> dict:
    """kNN top-1 at every k (and, with ``--linear``, the linear probe's top-1) on the measured
    split (val or test) of the frozen features; features are cached by the extractor's
    fingerprint."""
    cache = Path(args.work_dir) / "features"
    training, measured = labelled_splits(config)
    train = extract_features(extractor, config, training, args.eval_subset, cache)
    test = extract_features(extractor, config, measured, args.eval_subset, cache)
    features = (np.asarray(train.representation), train.labels)
    queries = (np.asarray(test.representation), test.labels)
    knn = knn_classify(*features, *queries, tuple(args.k), args.knn_temperature)
    result: dict = {"knn_top1": {str(k): float(knn[k]["top1"]) for k in args.k}}
    if args.linear:
        probe = linear_probe(*features, *queries, config.linear, seed)
        result["linear_top1"] = probe.top1
        result["linear_weight_decay"] = probe.weight_decay
    return result


def as_extractor(encoder: Encoder) -> FeatureExtractor:
    description = encoder.describe()
    return FeatureExtractor(PRETRAINED, encoder, fingerprint(encoder, description), description)


def run_seed(args: argparse.Namespace, methods: list[str], python: Path | None, seed: int):
    """Every method pretrained (where it pretrains) and evaluated with ``seed``."""
    args = argparse.Namespace(**{**vars(args), "seed": seed})
    config = project_config(args, f"project-{args.steps}steps-seed{seed}")
    evaluation = eval_config(args, config)
    results: dict[str, dict] = {}
    if "project" in methods:
        shutil.rmtree(Path(args.work_dir) / config.run.name, ignore_errors=True)
        print(f"seed {seed}: pretraining with this project's defaults: {args.steps} steps ...")
        summary = pretrain(config, quiet=True)
        loaded = load_encoder(summary.run_dir)
        results["project"] = {
            "pretrain_seconds": summary.seconds,
            "final_loss": summary.final_loss,
            **evaluate(loaded.extractor, evaluation, args, seed),
        }
        if not args.keep_runs:
            shutil.rmtree(summary.run_dir, ignore_errors=True)
    if "lightly" in methods:
        print(f"seed {seed}: pretraining with lightly's recipe: {args.steps} steps ...")
        encoder, info = pretrain_lightly(python, args, config)
        results["lightly"] = {
            "pretrain_seconds": info["seconds"],
            "final_loss": info["final_loss"],
            **evaluate(as_extractor(encoder), evaluation, args, seed),
            "environment": info["environment"],
        }
    if "random" in methods:
        like = untrained_encoder(config)
        results["random"] = evaluate(random_encoder(like, seed=seed), evaluation, args, seed)
    if "raw" in methods:
        results["raw"] = evaluate(raw_pixels(), evaluation, args, seed)
    return config, results


def spread(values: list[float]) -> dict:
    """Mean, sample standard deviation (0 for one value) and the values themselves."""
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return {"mean": float(np.mean(values)), "sd": sd, "values": values}


def summarise(per_seed: dict[int, dict], methods: list[str], ks: list[int]) -> dict:
    """Each method's metrics over the seeds as mean, sd and values."""
    summary: dict[str, dict] = {}
    for method in methods:
        runs = [results[method] for results in per_seed.values()]
        row: dict = {
            "knn_top1": {str(k): spread([r["knn_top1"][str(k)] for r in runs]) for k in ks}
        }
        for key in ("linear_top1", "pretrain_seconds", "final_loss"):
            if key in runs[0]:
                row[key] = spread([r[key] for r in runs])
        summary[method] = row
    return summary


def run(args: argparse.Namespace) -> dict:
    methods = list(args.methods)
    python = lightly_python(args.lightly_python) if "lightly" in methods else None
    if python is None and "lightly" in methods:
        methods.remove("lightly")
    per_seed = {}
    for seed in args.seeds:
        config, per_seed[seed] = run_seed(args, methods, python, seed)
    summary = summarise(per_seed, methods, args.k)

    names = {
        "project": "this project (defaults)",
        "lightly": "lightly small-image recipe",
        "random": "random-init encoder",
        "raw": "raw pixels",
    }
    overrides = f" + {' '.join(args.project_overrides)}" if args.project_overrides else ""

    def cell(metric: dict | None) -> str:
        if metric is None:
            return "-"
        if len(args.seeds) == 1:
            return f"{100 * metric['mean']:.2f}"
        return f"{100 * metric['mean']:.2f} ± {100 * metric['sd']:.2f}"

    rows = [
        [
            names[m] + (overrides if m == "project" else ""),
            *(cell(summary[m]["knn_top1"][str(k)]) for k in args.k),
            *([cell(summary[m].get("linear_top1"))] if args.linear else []),
            summary[m]["pretrain_seconds"]["mean"] if "pretrain_seconds" in summary[m] else None,
        ]
        for m in methods
    ]
    seeds = ", ".join(map(str, args.seeds))
    title = (
        f"Fashion-MNIST top-1 % on the {args.measure_on} split (kNN T = {args.knn_temperature}"
        f"{', mean ± sd over seeds ' + seeds if len(args.seeds) > 1 else ', seed ' + seeds}) "
        f"after {args.steps} steps of batch {args.batch_size}: {config.encoder.name} "
        f"{stem_of(config)} stem, {args.precision}"
    )
    headers = ["method", *(f"kNN k={k}" for k in args.k)]
    headers += ["linear probe"] if args.linear else []
    print_table([*headers, "pretrain s"], rows, title)
    return {
        "benchmark": "quality",
        "machine": machine(),
        "steps": args.steps,
        "batch_size": args.batch_size,
        "precision": args.precision,
        "seeds": args.seeds,
        "encoder": f"{config.encoder.name} {stem_of(config)} stem",
        "image_size": config.data.image_size,
        "project_overrides": args.project_overrides,
        "train_subset": args.train_subset,
        "eval_subset": args.eval_subset,
        "measured_on": args.measure_on,
        "knn": {"k": args.k, "temperature": args.knn_temperature},
        "linear": args.linear,
        "results": summary,
        "per_seed": {str(seed): results for seed, results in per_seed.items()},
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
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="one run of each method per seed"
    )
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument(
        "--project-overrides", nargs="*", default=[], help="key=value on top of the defaults"
    )
    parser.add_argument("--k", type=int, nargs="+", default=[200, 10], help="kNN neighbours")
    parser.add_argument(
        "--linear", action="store_true", help="also the linear probe of simclr eval (its defaults)"
    )
    parser.add_argument(
        "--keep-runs", action="store_true", help="keep the project's run directories"
    )
    parser.add_argument("--knn-temperature", type=float, default=0.1)
    parser.add_argument(
        "--measure-on",
        default="val",
        choices=["val", "test"],
        help="the split measured: val (held out of the training split; to choose) or test",
    )
    parser.add_argument("--train-subset", type=int, default=None, help="pretraining images")
    parser.add_argument("--eval-subset", type=int, default=None, help="kNN train/test images")
    parser.add_argument("--data-root", default=str(DATA_ROOT))
    parser.add_argument("--work-dir", default=str(REPO_ROOT / "runs" / "benchmarks"))
    add_lightly_python_argument(parser)
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

"""BatchNorm's running statistics in a step taken in chunks (``trainer.chunk_size``), updated by
the last chunk of every step (``running_stats="last_chunk"``) or by every chunk
(``"every_chunk"``, since this measurement the default): their distance to the
population statistics of the same weights, and the kNN top-1 that eval mode gives with each.

The default recipe's f and g train on Fashion-MNIST, a global batch of ``--batch`` images in
chunks of ``--chunk``, ``--steps`` steps on the default run's schedule shape (warm-up for half,
then cosine to 0). Running statistics never act in training mode, so the weights do not depend
on the choice: one run trains with "last_chunk" while a shadow copy of every BatchNorm layer,
given the input of every chunk's second pass, holds what "every_chunk" would (a test checks it
against a second run). The population statistics are each layer's input's over ``--population``
training images, every layer normalised by its own (one no-grad forward of the sample in
training mode: what eval mode computes with them put in). At the end of the warm-up and at the
end: ||running - population|| / ||population|| of each layer's mean and variance; at the end,
the weighted kNN top-1 (k = 200 and 10, T = 0.1, float32) of h in eval mode, those training
images the gallery and ``--queries`` test images the queries, with each set of statistics.

    python benchmarks/chunked_batchnorm.py --data-root /tmp/data --threads 1
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA_ROOT, RESULTS_DIR, autocast, machine, print_table, write_json

from linear_eval.protocols.knn import knn_classify
from simclr.chunked import nt_xent_in_chunks, unchanged_buffers
from simclr.config import SimCLRConfig, load_config
from simclr.data.readers import read_fashion_mnist
from simclr.data.splits import subset_indices
from simclr.module import SimCLR
from simclr.optim import build_optimizer, scaled_learning_rate
from simclr.run.launch import resolved_precision
from simclr.schedule import build_scheduler, warmup_cosine

CHOICES = ("last_chunk", "every_chunk")
Statistics = dict[str, tuple[torch.Tensor, torch.Tensor]]  # layer -> (mean, variance)


def batchnorm_layers(module: SimCLR) -> dict[str, nn.modules.batchnorm._BatchNorm]:
    """Every BatchNorm layer of f and g, by name."""
    parts = nn.ModuleDict({"encoder": module.encoder, "head": module.head})
    found = parts.named_modules()
    return {n: m for n, m in found if isinstance(m, nn.modules.batchnorm._BatchNorm)}


def statistics_of(layers: dict[str, nn.Module]) -> Statistics:
    return {n: (m.running_mean.clone(), m.running_var.clone()) for n, m in layers.items()}


def running_statistics(module: SimCLR) -> Statistics:
    return statistics_of(batchnorm_layers(module))


class EveryChunkShadow:
    """The running statistics ``running_stats="every_chunk"`` would hold: a copy of each
    BatchNorm layer is given the layer's input on every pass in training mode with autograd
    (every chunk's second pass; the first runs without)."""

    def __init__(self, module: SimCLR) -> None:
        layers = batchnorm_layers(module)
        self.copies = {name: copy.deepcopy(layer).train() for name, layer in layers.items()}
        self.handles = [
            layer.register_forward_pre_hook(self._feed(self.copies[name]))
            for name, layer in layers.items()
        ]

    @staticmethod
    def _feed(shadow: nn.Module) -> Callable:
        def hook(layer: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            if layer.training and torch.is_grad_enabled():
                with torch.no_grad():
                    shadow(inputs[0].detach())  # the same update, on the copy's buffers

        return hook

    def statistics(self) -> Statistics:
        return statistics_of(self.copies)

    def updates(self) -> int:
        return int(next(iter(self.copies.values())).num_batches_tracked)


def warmup_steps(config: SimCLRConfig, steps: int) -> int:
    """The default run's warm-up share: ``optimizer.warmup_epochs / trainer.max_epochs``."""
    return round(steps * config.optimizer.warmup_epochs / config.trainer.max_epochs)


def build(config: SimCLRConfig) -> SimCLR:
    """f and g (and the views) of ``config``, seeded, in training mode."""
    torch.manual_seed(config.run.seed)
    return SimCLR.from_config(config).train()


def pretrain(
    module: SimCLR,
    config: SimCLRConfig,
    images: torch.Tensor,
    steps: int,
    running_stats: str = "last_chunk",
    after_step: Callable[[int, float], None] | None = None,
) -> list[float]:
    """``steps`` optimizer steps of SimCLR in chunks, as the module takes them (views made
    outside autocast, LARS at the scaled learning rate, :func:`warmup_steps` then cosine); the
    loss of each. Batches are seeded by ``run.seed``, the last partial one of an epoch dropped;
    ``after_step(step, lr)`` after each."""
    batch, chunk = config.data.batch_size, config.trainer.chunk_size
    precision = resolved_precision(config.trainer)
    lr = scaled_learning_rate(config.optimizer.base_lr, batch, config.optimizer.lr_scaling)
    optimizer = build_optimizer(nn.ModuleList([module.encoder, module.head]), config.optimizer, lr)
    scheduler = build_scheduler(optimizer, warmup_cosine(warmup_steps(config, steps), steps))
    order = torch.Generator().manual_seed(config.run.seed)
    torch.manual_seed(config.run.seed)  # the views' draws
    permutation, position, losses = torch.randperm(len(images), generator=order), 0, []
    options = {"buffers_of": module, "running_stats": running_stats}

    def forward(views: torch.Tensor) -> torch.Tensor:
        return module.head(module.encoder(views))

    for step in range(1, steps + 1):
        if position + batch > len(images):
            permutation, position = torch.randperm(len(images), generator=order), 0
        chosen = images[permutation[position : position + batch]]
        position += batch
        optimizer.zero_grad(set_to_none=True)
        views = [module._layout(view) for view in module.views(chosen, chunk_size=chunk)]
        with autocast(torch.device("cpu"), precision):
            result = nt_xent_in_chunks(forward, *views, chunk, config.loss.temperature, **options)
        lr_now = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
        losses.append(float(result.loss))
        if after_step is not None:
            after_step(step, lr_now)
    return losses


def population_statistics(module: SimCLR, images: torch.Tensor) -> Statistics:
    """Each BatchNorm layer's input mean and (biased) variance over ``images``, every layer
    normalised by its own: one forward of the whole sample in training mode, float32, no
    autograd; the running statistics are left as they were."""
    found: Statistics = {}

    def record(name: str) -> Callable:
        def hook(layer: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            x = inputs[0].float()
            var, mean = torch.var_mean(x, dim=[0, *range(2, x.dim())], correction=0)
            found[name] = (mean.double(), var.double())

        return hook

    layers = batchnorm_layers(module)
    handles = [layer.register_forward_pre_hook(record(name)) for name, layer in layers.items()]
    was_training = module.training
    try:
        with torch.no_grad(), unchanged_buffers(module):
            module.train()
            module.head(module.encoder(module._layout(module.views.normalize(images))))
    finally:
        module.train(was_training)
        for handle in handles:
            handle.remove()
    return found


@contextmanager
def statistics_put_in(module: SimCLR, values: Statistics) -> Iterator[None]:
    """``module`` with ``values`` as its BatchNorm layers' running statistics, then as it was."""
    layers = batchnorm_layers(module)
    with unchanged_buffers(module):
        with torch.no_grad():
            for name, (mean, var) in values.items():
                layers[name].running_mean.copy_(mean)
                layers[name].running_var.copy_(var)
        yield


def representations(module: SimCLR, images: torch.Tensor, batch: int = 500) -> np.ndarray:
    """h of ``images`` from the eval-mode encoder, float32 (as the evaluation extracts it)."""
    was_training = module.training
    module.eval()
    try:
        found = []
        with torch.no_grad():
            for start in range(0, len(images), batch):
                views = module.views.normalize(images[start : start + batch])
                found.append(module.encoder(module._layout(views)))
    finally:
        module.train(was_training)
    return torch.cat(found).float().numpy()


def relative_errors(running: Statistics, population: Statistics) -> dict[str, dict[str, float]]:
    """Per layer: ||running - population|| / ||population|| of the mean and of the variance."""
    errors = {}
    for name, (mean, var) in population.items():
        run_mean, run_var = running[name]
        errors[name] = {
            "mean": float((run_mean.double() - mean).norm() / mean.norm()),
            "var": float((run_var.double() - var).norm() / var.norm()),
        }
    return errors


def summary(errors: dict[str, dict[str, float]]) -> dict[str, float | str]:
    """Median and maximum over the layers of the mean's and the variance's relative errors."""
    found: dict[str, float | str] = {}
    for key in ("mean", "var"):
        values = {name: error[key] for name, error in errors.items()}
        worst = max(values, key=values.get)
        found[f"{key}_median"] = statistics.median(values.values())
        found[f"{key}_max"] = values[worst]
        found[f"{key}_max_layer"] = worst
    return found


def horizon(momentum: float, updates_per_step: int, chunk: int, batch: int) -> dict[str, float]:
    """What a moving average of momentum m updated u times a step follows: the weight of the
    last step's statistics 1 - (1 - m)^u, the horizon 1 / that in steps and in images trained
    on, and the images its ~1/m updates were computed from."""
    weight = 1 - (1 - momentum) ** updates_per_step
    return {
        "updates_per_step": updates_per_step,
        "weight_of_last_step": round(weight, 4),
        "horizon_steps": round(1 / weight, 3),
        "horizon_images_trained": round(batch / weight),
        "images_averaged": round(chunk / momentum),
    }


def run(args: argparse.Namespace) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = [f"data.root={args.data_root}", "data.download=false"]
    overrides += [f"data.batch_size={args.batch}", f"trainer.chunk_size={args.chunk}"]
    overrides += ["trainer.accelerator=cpu", f"run.seed={args.seed}"]
    config = load_config(None, overrides)  # the default recipe, configs/default.yaml
    train = read_fashion_mnist("train", root=args.data_root, download=False)
    test = read_fashion_mnist("test", root=args.data_root, download=False)
    sample = torch.tensor(subset_indices(len(train), args.population, args.seed))
    queries = torch.tensor(subset_indices(len(test), args.queries, args.seed))
    module = build(config)
    shadow, points = EveryChunkShadow(module), []

    def measure(step: int, lr: float) -> None:
        if step not in {warmup_steps(config, args.steps), args.steps}:
            return
        population = population_statistics(module, train.images[sample])
        point = {"step": step, "lr": lr, "population": population, "choices": {}}
        for choice, values in zip(CHOICES, [running_statistics(module), shadow.statistics()]):
            errors = relative_errors(values, population)
            point["choices"][choice] = {"summary": summary(errors), "layers": errors}
        tracked = next(iter(batchnorm_layers(module).values())).num_batches_tracked
        point["updates"] = {"last_chunk": int(tracked), "every_chunk": shadow.updates()}
        points.append(point)
        print(f"step {step}: lr {lr:.3f}, statistics measured", flush=True)

    start = time.perf_counter()
    losses = pretrain(module, config, train.images, args.steps, after_step=measure)
    train_seconds = time.perf_counter() - start
    knn = {}
    candidates = [running_statistics(module), shadow.statistics(), points[-1]["population"]]
    for name, values in zip([*CHOICES, "population"], candidates):
        with statistics_put_in(module, values):
            gallery = representations(module, train.images[sample])
            query = representations(module, test.images[queries])
        labels = train.labels[sample].numpy(), test.labels[queries].numpy()
        found = knn_classify(gallery, labels[0], query, labels[1], args.k, 0.1)
        knn[name] = {str(k): found[k]["top1"] for k in args.k}
    momentum = next(iter(batchnorm_layers(module).values())).momentum
    chunks = -(-args.batch // args.chunk)
    horizons = {
        choice: horizon(momentum, updates, args.chunk, args.batch)
        for choice, updates in zip(CHOICES, [1, chunks])
    }
    report_tables(args, points, knn, horizons)
    return {
        "benchmark": "chunked_batchnorm",
        "machine": machine(),
        "arguments": vars(args),
        "config_overrides": overrides,
        "precision": resolved_precision(config.trainer),
        "chunks_per_step": chunks,
        "warmup_steps": warmup_steps(config, args.steps),
        "train_seconds": round(train_seconds, 1),
        "seconds": round(time.perf_counter() - start, 1),
        "losses": losses,
        "horizon": horizons,
        "points": [{k: v for k, v in point.items() if k != "population"} for point in points],
        "knn_top1": knn,
    }


def report_tables(args: argparse.Namespace, points: list[dict], knn: dict, horizons: dict) -> None:
    """The two tables and the horizons, printed."""
    keys, rows = ("mean_median", "mean_max", "var_median", "var_max"), []
    layers = len(points[-1]["choices"][CHOICES[0]]["layers"])
    for point in points:
        for choice in CHOICES:
            found = point["choices"][choice]["summary"]
            head = [choice, point["step"], point["lr"], point["updates"][choice]]
            rows.append(head + [found[key] for key in keys])
    print_table(
        ["choice", "step", "lr", "updates", "mean: median", "max", "variance: median", "max"],
        rows,
        title=f"relative error of the running statistics against the population's "
        f"({args.population} training images), over the {layers} BatchNorm layers of f and g; "
        f"batch {args.batch} in chunks of {args.chunk}, {args.steps} steps",
    )
    ks, best = [str(k) for k in args.k], knn["population"]
    print_table(
        ["statistics", *(f"k={k}" for k in ks), *(f"k={k} - population" for k in ks)],
        [
            [name, *(100 * values[k] for k in ks), *(100 * (values[k] - best[k]) for k in ks)]
            for name, values in knn.items()
        ],
        title=f"kNN top-1 % of h in eval mode ({args.population} training images the gallery, "
        f"{args.queries} test images the queries)",
    )
    for choice, found in horizons.items():
        line = "{updates_per_step} update(s) a step, the last step weighs {weight_of_last_step}: "
        line += "{horizon_steps} steps ({horizon_images_trained} images), from {images_averaged}"
        print(f"{choice}: " + line.format(**found) + " images")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=512, help="global batch N")
    parser.add_argument("--chunk", type=int, default=64, help="images per chunk")
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps")
    parser.add_argument("--population", type=int, default=5000, help="training images")
    parser.add_argument("--queries", type=int, default=2000, help="test images for the kNN")
    parser.add_argument("--k", type=int, nargs="+", default=[200, 10])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--data-root", default=str(DATA_ROOT))
    parser.add_argument("--out", default=None, help="JSON path (results/chunked_batchnorm_cpu)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    write_json(run(args), args.out or RESULTS_DIR / "chunked_batchnorm_cpu.json")


if __name__ == "__main__":
    main()

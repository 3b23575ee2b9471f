"""kNN top-1 on each layer's output, from h through the projection head g to z, of one run.

The protocol everyone reports is h (the representation before g, SimCLR section 4.2); SimCLR v2
fine-tunes from the head's first layer instead. This measures, for a pretraining run, the
weighted kNN (``simclr eval``'s settings) on h and on the output of every module of g in eval
mode (Linear, BatchNorm, ReLU, ..., z), on the same frozen h of the train and test splits (the
run's feature cache, extracted when absent). It reports; it changes no protocol.

    python benchmarks/layers.py --run runs/my-run          # results/layers.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, machine, print_table, write_json

from linear_eval.config import load_eval_config
from linear_eval.features.encoders import load_encoder
from linear_eval.features.extract import extract_features
from linear_eval.protocols.knn import knn_classify
from simclr.head import ProjectionHead
from simclr.run.torch_files import read_torch_file


def head_of(run: Path, config, feature_dim: int) -> ProjectionHead:
    """g as the run's last checkpoint holds it, in eval mode (BatchNorm's running statistics)."""
    state = read_torch_file(run / "checkpoints" / "last.ckpt")["state_dict"]
    head = ProjectionHead(
        feature_dim,
        config.head.type,
        config.head.hidden_dim,
        config.head.projection_dim,
        config.head.layers,
        config.head.batch_norm,
    )
    head.load_state_dict(
        {k.removeprefix("head."): v for k, v in state.items() if k.startswith("head.")}
    )
    return head.eval()


def layer_outputs(head: ProjectionHead, h: np.ndarray) -> dict[str, np.ndarray]:
    """h, then the output of each module of g in order, named by its type and position."""
    outputs = {"h": np.asarray(h, dtype=np.float32)}
    x = torch.from_numpy(outputs["h"].copy())
    modules = list(head.net) if isinstance(head.net, torch.nn.Sequential) else [head.net]
    with torch.no_grad():
        for position, module in enumerate(modules, start=1):
            x = module(x)
            last = position == len(modules)
            name = f"g[{position}] {type(module).__name__}" + (" = z" if last else "")
            outputs[name] = x.numpy().copy()
    return outputs


def evaluate_layers(run: Path, ks: tuple[int, ...], temperature: float) -> dict[str, dict]:
    """kNN top-1 at each k for every layer's output."""
    loaded = load_encoder(run)
    config = load_eval_config(loaded.pretrain_config, None, ["features.progress_bar=false"])
    cache = run / "features"
    train = extract_features(loaded.extractor, config, "train", None, cache)
    test = extract_features(loaded.extractor, config, "test", None, cache)
    head = head_of(run, loaded.pretrain_config, np.asarray(train.representation).shape[1])
    train_layers = layer_outputs(head, train.representation)
    test_layers = layer_outputs(head, test.representation)
    results = {}
    for name in train_layers:
        knn = knn_classify(
            train_layers[name], train.labels, test_layers[name], test.labels, ks, temperature
        )
        results[name] = {
            "dim": int(train_layers[name].shape[1]),
            "knn_top1": {str(k): float(knn[k]["top1"]) for k in ks},
        }
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, type=Path, help="a pretraining run directory")
    parser.add_argument("--k", type=int, nargs="+", default=[10, 200])
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--out", default=None, help="JSON path (results/layers.json)")
    args = parser.parse_args(argv)
    results = evaluate_layers(args.run, tuple(args.k), args.temperature)
    print_table(
        ["layer", "dim", *(f"kNN k={k}" for k in args.k)],
        [
            [name, row["dim"], *(f"{100 * row['knn_top1'][str(k)]:.2f}" for k in args.k)]
            for name, row in results.items()
        ],
        title=f"kNN top-1 % on each layer's output (T = {args.temperature}): {args.run}",
    )
    report = {
        "benchmark": "layers",
        "machine": machine(),
        "run": str(args.run),
        "knn": {"k": args.k, "temperature": args.temperature},
        "results": results,
    }
    write_json(report, Path(args.out or RESULTS_DIR / "layers.json"))


if __name__ == "__main__":
    main()

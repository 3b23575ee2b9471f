"""Weighted kNN of the evaluation stage (faiss) against a chunked torch matmul + topk and
against lightly's ``knn_predict``: time, peak memory, and agreement of the predictions.

All three compute the same classifier (Wu et al. 2018, section 3.4): cosine similarity, the k
most similar training features vote with weight exp(sim / T). The features are synthetic by
default (``--classes`` Gaussian clusters in ``--dim`` dimensions, 60,000 train rows and 10,000
queries), so the benchmark needs no trained encoder; ``--features file.npz`` (arrays
``train``, ``train_labels``, ``test``, ``test_labels``) runs it on real representations.

Predictions must be identical up to ties: a query whose prediction differs is counted as a tie
when its two candidate classes' scores differ by less than ``--tie-tolerance`` (relative), or
when its k-th and (k+1)-th neighbours are equally similar, so that the neighbour set itself is
ambiguous. Any other difference is a disagreement and fails the benchmark.

lightly's ``knn_predict`` runs in lightly's own environment (``--lightly-python``, made by
``make_lightly_env.sh``), started from here on the same features (``lightly_variants.py``).

Usage:
    python benchmarks/knn.py                   # 60,000 x 512, 10,000 queries, k = 200
    python benchmarks/knn.py --device cuda     # the torch and lightly variants on the GPU
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from common import (
    RESULTS_DIR,
    add_lightly_python_argument,
    lightly_python,
    machine,
    median,
    print_table,
    resolve_device,
    run_lightly,
    timed,
    write_json,
)

from linear_eval.features.vectors import exact_index, search
from linear_eval.protocols.knn import knn_classify, weighted_votes


def synthetic_features(
    train: int, test: int, dim: int, classes: int, noise: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Class centres on the unit sphere plus isotropic noise of norm about ``noise``: classes
    overlap, so the kNN is right for about 85 % of the queries (like real features), not all."""
    generator = np.random.default_rng(seed)
    centres = generator.standard_normal((classes, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = generator.integers(0, classes, count)
        scatter = generator.standard_normal((count, dim)).astype(np.float32) / np.sqrt(dim)
        return centres[labels] + noise * scatter, labels.astype(np.int64)

    train_x, train_y = draw(train)
    test_x, test_y = draw(test)
    return train_x, train_y, test_x, test_y


# ----------------------------------------------------------------------------- the three kNNs
def project_scores(train, train_labels, test, k, temperature, num_classes, chunk):
    """linear_eval.protocols.knn: exact faiss inner-product index, one search, weighted votes."""
    similarities, neighbours = search(exact_index(train), test, k, chunk)
    neighbour_labels = torch.from_numpy(train_labels[neighbours])
    return weighted_votes(
        torch.from_numpy(similarities), neighbour_labels, num_classes, temperature
    )


def torch_scores(train, train_labels, test, k, temperature, num_classes, chunk, device):
    """Chunked torch matmul + topk on ``device``: the usual hand-written kNN."""
    bank = torch.nn.functional.normalize(torch.from_numpy(train).to(device), dim=1)
    bank_labels = torch.from_numpy(train_labels).to(device)
    queries = torch.nn.functional.normalize(torch.from_numpy(test).to(device), dim=1)
    scores = torch.zeros(len(test), num_classes, dtype=torch.float64, device=device)
    for begin in range(0, len(test), chunk):
        similarity = queries[begin : begin + chunk] @ bank.T
        top, index = similarity.topk(k, dim=1)
        weights = (top.double() / temperature).exp()
        scores[begin : begin + chunk].scatter_add_(1, bank_labels[index], weights)
    return scores.cpu()


def lightly_predictions(
    python: Path, train, train_labels, test, args: argparse.Namespace, num_classes: int
) -> tuple[torch.Tensor, dict]:
    """lightly.utils.benchmarking.knn_predict, called per chunk of queries as lightly's
    KNNClassifier calls it per validation batch, in lightly's environment on the same features.
    It returns classes ranked, not scores: the top-ranked class of every query, and the timing."""
    with tempfile.TemporaryDirectory(prefix="knn-") as folder:
        features, predictions = Path(folder) / "features.npz", Path(folder) / "predictions.npy"
        np.savez(features, train=train, train_labels=train_labels, test=test)
        spec = {
            "device": args.device,
            "features": str(features),
            "predictions": str(predictions),
            "k": args.k,
            "temperature": args.temperature,
            "chunk": args.chunk,
            "classes": num_classes,
            "repeats": args.repeats,
        }
        result = run_lightly(python, "knn", spec)
        return torch.from_numpy(np.load(predictions)), result


# ----------------------------------------------------------------------------- agreement
def agreement(
    reference: torch.Tensor,
    predictions: torch.Tensor,
    scores: torch.Tensor,
    kth_ties: torch.Tensor,
    tolerance: float,
) -> dict:
    """Compare ``predictions`` with the ``reference`` argmax of ``scores`` (float64)."""
    differ = (predictions != reference).nonzero().flatten()
    rows = scores[differ]
    gap = rows.gather(1, reference[differ, None]) - rows.gather(1, predictions[differ, None])
    gap = gap.abs().flatten() / rows.max(dim=1).values.clamp_min(1e-300)
    ties = (gap < tolerance) | kth_ties[differ]
    return {
        "identical": int(len(reference) - len(differ)),
        "differ": int(len(differ)),
        "differ_at_ties": int(ties.sum()),
        "disagreements": int((~ties).sum()),
        "agreement": float((predictions == reference).double().mean()),
    }


def run(args: argparse.Namespace) -> dict:
    device = resolve_device(args.device)
    if args.features:
        arrays = np.load(args.features)
        train, train_labels = arrays["train"].astype(np.float32), arrays["train_labels"]
        test, test_labels = arrays["test"].astype(np.float32), arrays["test_labels"]
        source = str(args.features)
    else:
        train, train_labels, test, test_labels = synthetic_features(
            args.train, args.queries, args.dim, args.classes, args.noise, args.seed
        )
        source = f"synthetic: {args.classes} Gaussian clusters, noise {args.noise}"
    train_labels, test_labels = train_labels.astype(np.int64), test_labels.astype(np.int64)
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    k, temperature, chunk = args.k, args.temperature, args.chunk
    print(f"kNN: {len(train):,} x {train.shape[1]} train, {len(test):,} queries, k = {k}, {source}")

    methods: dict[str, Callable[[], torch.Tensor]] = {
        "project (faiss)": lambda: project_scores(
            train, train_labels, test, k, temperature, num_classes, chunk
        ),
        f"torch matmul+topk ({device.type})": lambda: torch_scores(
            train, train_labels, test, k, temperature, num_classes, chunk, device
        ),
    }

    measured = {}
    outputs = {}
    for name, function in methods.items():
        print(f"{name} ...", flush=True)
        on = torch.device("cpu") if "faiss" in name else device  # faiss-cpu searches on the host
        output, times, peak = timed(function, on, args.repeats)
        outputs[name] = output
        measured[name] = {"seconds": times, "median_seconds": median(times), "peak_mib": peak}
    python = lightly_python(args.lightly_python)
    lightly_environment = None
    if python is not None:
        name = f"lightly knn_predict ({device.type})"
        print(f"{name} ...", flush=True)
        outputs[name], result = lightly_predictions(
            python, train, train_labels, test, args, num_classes
        )
        lightly_environment = result["environment"]
        measured[name] = {
            "seconds": result["seconds"],
            "median_seconds": median(result["seconds"]),
            "peak_mib": result["peak_mib"],
        }

    # the reference: float64 scores of the project's search; kth ties make the set ambiguous
    reference_name = next(iter(methods))
    scores = outputs[reference_name]
    reference = scores.argmax(dim=1)
    similarities, _ = search(exact_index(train), test, k + 1, chunk)
    kth_ties = torch.from_numpy(np.isclose(similarities[:, k - 1], similarities[:, k], atol=1e-6))
    for name, output in outputs.items():
        predictions = output.argmax(dim=1) if output.dim() == 2 else output
        measured[name].update(
            agreement(reference, predictions, scores, kth_ties, args.tie_tolerance)
        )
    accuracy = knn_classify(train, train_labels, test, test_labels, (k,), temperature, chunk)[k]
    base = measured[reference_name]["median_seconds"]
    rows = []
    for name, result in measured.items():
        result["speedup_of_project"] = result["median_seconds"] / base
        rows.append(
            [
                name,
                result["median_seconds"],
                result["speedup_of_project"],
                result["peak_mib"],
                result["agreement"],
                result["differ_at_ties"],
                result["disagreements"],
            ]
        )
    headers = ["method", "seconds", "time / project", "peak MiB", "agreement", "ties", "disagree"]
    title = (
        f"weighted kNN, k = {k}, T = {temperature}: {len(train):,} x {train.shape[1]} train, "
        f"{len(test):,} queries (median of {args.repeats}; peak = extra memory above the "
        f"features; top-1 of the project's kNN {accuracy['top1']:.4f})"
    )
    print_table(headers, rows, title)
    failed = sum(result["disagreements"] for result in measured.values())
    if failed:
        print(f"\nFAILED: {failed} predictions differ beyond ties", file=sys.stderr)
    return {
        "benchmark": "knn",
        "machine": machine(),
        "device": str(device),
        "train": list(train.shape),
        "queries": len(test),
        "k": k,
        "temperature": temperature,
        "chunk": chunk,
        "features": source,
        "project_top1": accuracy["top1"],
        "lightly_environment": lightly_environment,
        "results": measured,
        "passed": failed == 0,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--train", type=int, default=60_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--noise", type=float, default=8.0, help="synthetic cluster spread")
    parser.add_argument("--k", type=int, default=200)
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--chunk", type=int, default=1024, help="queries per search call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tie-tolerance", type=float, default=1e-5)
    parser.add_argument("--features", type=Path, default=None, help=".npz of real features")
    parser.add_argument("--seed", type=int, default=0)
    add_lightly_python_argument(parser)
    parser.add_argument("--out", default=None, help="JSON path (results/knn_<device>.json)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    report = run(args)
    write_json(report, Path(args.out or RESULTS_DIR / f"knn_{report['device']}.json"))
    if not report["passed"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

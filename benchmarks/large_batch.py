"""Figure 9 of SimCLR on this machine: the sweep ``ablations/large_batch`` summarised over seeds.

For every finished run of the sweep (global batch N of 256, 1024 and 2048 at one epoch, the
larger two in chunks; linear or square-root learning-rate scaling; seeds 0-2): the weighted kNN
top-1 at k = 10 and k = 200 and the linear probe's top-1 on the full Fashion-MNIST splits, read
through the evaluation the sweep ran (its cached features and results: nothing is recomputed
when they are there), then the mean and the sample standard deviation over seeds, and the
paired differences over the seeds both settings finished (a seed gives both runs the same
initial weights and data order): each larger batch against N = 256, and the square-root rule
against the linear rule at each N.

    simclr ablate --config ablations/large_batch "base_overrides=[data.root=data]"
    python benchmarks/large_batch.py --sweep runs/ablations/large_batch
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, machine, print_table, write_json

SEED = re.compile(r"-s(\d+)$")
RULE = re.compile(r"^n(\d+)-(linear|sqrt)$")
REFERENCE = "n256"  # the default batch: one rule, base_lr


def run_metrics(run_dir: Path) -> dict[str, float]:
    """kNN k=10, k=200 and linear top-1 of a finished run, as the sweep evaluated it."""
    from linear_eval.config import load_eval_config
    from linear_eval.features.encoders import load_encoder
    from linear_eval.protocols.evaluate import evaluate_extractor

    loaded = load_encoder(run_dir / "encoder.pt")
    config = load_eval_config(loaded.pretrain_config, overrides=["features.progress_bar=false"])
    result = evaluate_extractor(loaded.extractor, config, "all", run_dir / "features")
    return {
        "knn10": result["knn"]["10"]["top1"],
        "knn200": result["knn"]["200"]["top1"],
        "linear": result["linear"]["top1"],
    }


def summarise(per_run: dict[str, dict[str, float]]) -> dict[str, dict]:
    """Runs named ``SETTING-sSEED`` grouped by setting: mean, sample std and count of each."""
    groups: dict[str, list[dict[str, float]]] = {}
    for name, metrics in sorted(per_run.items()):
        groups.setdefault(SEED.sub("", name), []).append(metrics)
    summary = {}
    for setting, runs in groups.items():
        summary[setting] = {"seeds": len(runs)}
        for key in runs[0]:
            values = [run[key] for run in runs]
            spread = statistics.stdev(values) if len(values) > 1 else None
            summary[setting][key] = {"mean": statistics.mean(values), "std": spread}
    return summary


def comparisons(settings: list[str]) -> list[tuple[str, str]]:
    """(minuend, subtrahend) settings: every ``nN-RULE`` against N = 256, then ``nN-sqrt``
    against ``nN-linear`` where both are there."""
    pairs = [(s, REFERENCE) for s in settings if RULE.match(s) and REFERENCE in settings]
    for setting in settings:
        found = RULE.match(setting)
        if found and found.group(2) == "linear" and f"n{found.group(1)}-sqrt" in settings:
            pairs.append((f"n{found.group(1)}-sqrt", setting))
    return pairs


def by_seed(per_run: dict[str, dict[str, float]], setting: str) -> dict[int, dict[str, float]]:
    """The metrics of ``setting``'s runs, by seed."""
    return {
        int(found.group(1)): metrics
        for name, metrics in per_run.items()
        if (found := SEED.search(name)) and SEED.sub("", name) == setting
    }


def differences(
    per_run: dict[str, dict[str, float]], pairs: list[tuple[str, str]]
) -> dict[str, dict]:
    """``A - B`` of every metric, seed by seed over the seeds both settings finished: the mean,
    the sample std of the differences, and each difference."""
    found = {}
    for minuend, subtrahend in pairs:
        a, b = by_seed(per_run, minuend), by_seed(per_run, subtrahend)
        seeds = sorted(a.keys() & b.keys())
        if not seeds:
            continue
        entry: dict = {"seeds": seeds}
        for key in a[seeds[0]]:
            values = [a[seed][key] - b[seed][key] for seed in seeds]
            spread = statistics.stdev(values) if len(values) > 1 else None
            entry[key] = {"mean": statistics.mean(values), "std": spread, "each": values}
        found[f"{minuend} - {subtrahend}"] = entry
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweep", type=Path, default=Path("runs/ablations/large_batch"))
    parser.add_argument("--out", default=None, help="JSON path (results/large_batch_cpu.json)")
    args = parser.parse_args(argv)
    finished = sorted(p.parent for p in (args.sweep / "runs").glob("*/summary.json"))
    per_run = {run.name: run_metrics(run) for run in finished if (run / "encoder.pt").is_file()}
    summary = summarise(per_run)

    def cell(value: dict) -> str:
        std = f" ± {value['std']:.3f}" if value["std"] is not None else ""
        return f"{value['mean']:.3f}{std}"

    rows = [
        [s, v["seeds"], cell(v["knn10"]), cell(v["knn200"]), cell(v["linear"])]
        for s, v in summary.items()
    ]
    print_table(["setting", "seeds", "kNN k=10", "kNN k=200", "linear"], rows, str(args.sweep))
    paired = differences(per_run, comparisons(list(summary)))
    rows = [
        [name, len(v["seeds"]), cell(v["knn10"]), cell(v["knn200"]), cell(v["linear"])]
        for name, v in paired.items()
    ]
    print_table(["paired difference", "seeds", "kNN k=10", "kNN k=200", "linear"], rows)
    write_json(
        {
            "benchmark": "large_batch",
            "machine": machine(),
            "sweep": str(args.sweep),
            "runs": per_run,
            "summary": summary,
            "differences": paired,
        },
        args.out or RESULTS_DIR / "large_batch_cpu.json",
    )


if __name__ == "__main__":
    main()

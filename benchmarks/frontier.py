"""Accuracy per CPU-minute of pretraining (issue 35): candidates screened at one budget.

For each candidate (a set of ``key=value`` overrides of the default run) the number of optimizer
steps that fits the budget is fixed first, from the candidate's own step time measured alone
(``--throughput``: two short runs, 4 and 16 steps, and the difference of their training times,
so start-up does not count); then each seed pretrains that many steps (``simclr pretrain``) and
is evaluated by ``simclr eval all measure_on=val``: kNN at k = 10 and 200, the linear probe, and
both with 1 % and 10 % of the labels, beside random init and raw pixels, on the validation split
held out of the training split (the test split is not read: this chooses). Fixing the steps
keeps the accuracy independent of whatever else the machine was doing.

Runs are resumable: a finished pretraining or evaluation is read back, not repeated.

    python benchmarks/frontier.py --throughput --out-dir /tmp/frontier        # steps/s, alone
    python benchmarks/frontier.py --throughput --candidates default+compile   # torch.compile
    python benchmarks/frontier.py --budget 360 --seeds 0 --out-dir /tmp/frontier
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA_ROOT, RESULTS_DIR, machine, print_table, write_json
from large_batch import summarise

CANDIDATES: dict[str, list[str]] = {
    "default": [],  # ResNet-18, pooled stem at 28 px
    "r20w2": ["encoder.name=cifar_resnet20", "encoder.width=2"],
    "r20w4": ["encoder.name=cifar_resnet20", "encoder.width=4"],
    "r56w1": ["encoder.name=cifar_resnet56"],
    "r56w2": ["encoder.name=cifar_resnet56", "encoder.width=2"],
    "view20": ["augment.view_size=20"],  # views at 20 px of the 28 px images
    "views4": ["augment.views=4"],  # four views of every image, all contrasted
    "multicrop4": ["augment.small_views.count=4"],  # SwAV's multi-crop: 4 more views at 12 px
    "warmup0.1": ["optimizer.warmup_epochs=0.1"],  # a short budget's warm-up (default 0.5)
}
# candidates whose step is another's (only the schedule differs): its step time, not a noisy copy
SAME_STEP = {"warmup0.1": "default"}
# torch.compile re-measured with the networks (it gave nothing for ResNet-18): step time only
COMPILED = {f"{name}+compile": [*CANDIDATES[name], "trainer.compile=true"] for name in CANDIDATES}
QUIET = ["trainer.progress_bar=false", "trainer.loggers=[csv]"]
EXTRACTORS = ("pretrained", "random init", "raw pixels")


def simclr(*arguments: str) -> None:
    """``simclr ARGUMENTS`` in a child process (each run starts as a user's does)."""
    command = [sys.executable, "-c", "import sys; from simclr.cli import main; sys.exit(main())"]
    subprocess.run([*command, *arguments], check=True, stdout=subprocess.DEVNULL)


def training_seconds(run_dir: Path) -> tuple[float, int]:
    summary = json.loads((run_dir / "summary.json").read_text())
    return float(summary["seconds"]), int(summary["global_step"])


def step_seconds(
    name: str, overrides: list[str], out_dir: Path, data_root: str, lengths: tuple = (4, 16)
) -> float:
    """Seconds per optimizer step of a candidate: (t(long) - t(short)) / (long - short), probe
    and checks off. A compiled candidate first runs once to fill the compiler's cache, so that
    both timed runs compile from it alike."""
    short, long = lengths
    if "trainer.compile=true" in overrides:
        lengths = (short, short, long)
    seconds = {}
    for index, steps in enumerate(lengths):
        run = f"throughput-{name}-{steps}" + ("-cache" if index == 0 and len(lengths) == 3 else "")
        if not (out_dir / run / "summary.json").is_file():
            simclr(
                "pretrain",
                *overrides,
                *QUIET,
                f"data.root={data_root}",
                f"run.out_dir={out_dir}",
                f"run.name={run}",
                f"trainer.max_steps={steps}",
                "trainer.limit_val_batches=0",
            )
        seconds[steps] = training_seconds(out_dir / run)[0]
    return (seconds[long] - seconds[short]) / (long - short)


def pretrain_and_evaluate(
    name: str, overrides: list[str], steps: int, seed: int, out_dir: Path, data_root: str
) -> Path:
    run_dir = out_dir / f"{name}-s{seed}"
    if not (run_dir / "encoder.pt").is_file():
        simclr(
            "pretrain",
            *overrides,
            *QUIET,
            f"data.root={data_root}",
            f"run.out_dir={out_dir}",
            f"run.name={run_dir.name}",
            f"run.seed={seed}",
            f"trainer.max_steps={steps}",
            "trainer.max_epochs=1000",  # the steps decide
        )
    if not (run_dir / "eval.json").is_file():
        simclr(
            "eval",
            "all",
            "--checkpoint",
            str(run_dir),
            "measure_on=val",
            f"data.root={data_root}",
            "features.progress_bar=false",
        )
    return run_dir


def run_metrics(run_dir: Path) -> dict[str, float]:
    """Every protocol's top-1 of every extractor in a run's eval.json, and its training time."""
    report = json.loads((run_dir / "eval.json").read_text())
    seconds, steps = training_seconds(run_dir)
    metrics = {"pretrain_minutes": seconds / 60, "steps": steps}
    for extractor in EXTRACTORS:
        result = report["results"].get(extractor)
        if result is None:
            continue
        prefix = extractor.replace(" ", "_")
        metrics[f"{prefix}/knn10"] = result["knn"]["10"]["top1"]
        metrics[f"{prefix}/knn200"] = result["knn"]["200"]["top1"]
        metrics[f"{prefix}/linear"] = result["linear"]["top1"]
        for setting, few in result.get("few_labels", {}).items():
            metrics[f"{prefix}/linear_{setting}"] = few["linear"]["top1"]
            metrics[f"{prefix}/knn200_{setting}"] = few["knn"]["200"]["top1"]
    return metrics


PLOTTED = (("knn200", "kNN k=200"), ("linear", "linear probe"), ("linear_1%", "linear, 1 % labels"))


def plot(summary: dict[str, dict], path: Path) -> Path:
    """Top-1 on val against minutes of pretraining, a point per candidate and a panel per
    protocol, raw pixels as a line: the frontier of issue 35."""
    from linear_eval.figure import new_figure, save_figure

    figure, axes = new_figure(1, len(PLOTTED), figsize=(4 * len(PLOTTED), 3.5))
    for axis, (metric, title) in zip(axes, PLOTTED):
        for name, entry in summary.items():
            minutes, top1 = entry["minutes_alone"]["mean"], entry[f"pretrained/{metric}"]["mean"]
            axis.scatter([minutes], [100 * top1])
            axis.annotate(name, (minutes, 100 * top1), textcoords="offset points", xytext=(4, 4))
        raw = [entry[f"raw_pixels/{metric}"]["mean"] for entry in summary.values()]
        if raw:
            axis.axhline(100 * raw[0], color="grey", linestyle="--", label="raw pixels")
            axis.legend(loc="lower left")
        longest = max(entry["minutes_alone"]["mean"] for entry in summary.values())
        axis.set_xlim(0, 1.2 * longest)  # one budget or several: minutes from zero
        axis.set(title=title, xlabel="minutes of pretraining", ylabel="top-1 on val (%)")
    return save_figure(figure, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=Path("runs/frontier"))
    parser.add_argument(
        "--candidates", nargs="+", default=list(CANDIDATES), choices=[*CANDIDATES, *COMPILED]
    )
    parser.add_argument("--throughput", action="store_true", help="measure steps/s, then stop")
    parser.add_argument(
        "--throughput-steps", type=int, nargs=2, default=[4, 16], help="the two run lengths"
    )
    parser.add_argument(
        "--relative-to",
        default=None,
        help="with --throughput: measure this candidate again beside the others and record "
        "each at its step-time ratio to it times its recorded step time (a ratio measured in "
        "one run, in the units of the runs already screened)",
    )
    parser.add_argument("--budget", type=float, default=360, help="seconds of pretraining")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--data-root", default=str(DATA_ROOT))
    parser.add_argument("--out", default=None, help="JSON path (results/frontier_cpu.json)")
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    rates_file = args.out_dir / "step_seconds.json"
    rates = json.loads(rates_file.read_text()) if rates_file.is_file() else {}
    if args.throughput:
        reference = args.relative_to
        timed = [
            n for n in dict.fromkeys([*args.candidates, reference]) if n and n not in SAME_STEP
        ]
        measured_file = args.out_dir / "step_seconds_measured.json"
        measured = json.loads(measured_file.read_text()) if measured_file.is_file() else {}
        lengths = tuple(args.throughput_steps)
        for name in timed:
            overrides = {**CANDIDATES, **COMPILED}[name]
            seconds = step_seconds(name, overrides, args.out_dir, args.data_root, lengths)
            measured[f"{name}@{lengths[0]}-{lengths[1]}"] = seconds
            measured_file.write_text(json.dumps(measured, indent=1))
        for name in args.candidates:
            now = measured.get(f"{name}@{lengths[0]}-{lengths[1]}")
            if name in SAME_STEP:
                rates[name] = rates[SAME_STEP[name]]
            elif reference is None:
                rates[name] = now
            elif name != reference or reference not in rates:
                ratio = now / measured[f"{reference}@{lengths[0]}-{lengths[1]}"]
                rates[name] = ratio * rates.get(reference, now)
        rates_file.write_text(json.dumps(rates, indent=1))
        print_table(["candidate", "s/step"], [[n, f"{rates[n]:.3f}"] for n in args.candidates])
        return
    compiled = [name for name in args.candidates if name in COMPILED]
    if compiled:
        parser.error(
            f"{', '.join(compiled)}: compiled candidates are measured with --throughput only"
        )
    per_run = {}
    for name in args.candidates:
        steps = round(args.budget / rates[name])
        for seed in args.seeds:
            run_dir = pretrain_and_evaluate(
                name, CANDIDATES[name], steps, seed, args.out_dir, args.data_root
            )
            per_run[run_dir.name] = run_metrics(run_dir)
            # the budget's minutes: the steps at the step time measured alone (the wall time
            # of a run that shared the machine is not its cost)
            per_run[run_dir.name]["minutes_alone"] = steps * rates[name] / 60
    summary = summarise(per_run)
    columns = ["pretrained/knn10", "pretrained/knn200", "pretrained/linear", "pretrained/linear_1%"]
    rows = [
        [s, v["seeds"], f"{v['minutes_alone']['mean']:.1f}"]
        + [f"{100 * v[c]['mean']:.2f}" for c in columns]
        for s, v in summary.items()
    ]
    print_table(["candidate", "seeds", "minutes", *columns], rows, "on val")
    plot(summary, Path(args.out or RESULTS_DIR / "frontier_cpu.json").with_suffix(".png"))
    write_json(
        {
            "benchmark": "frontier",
            "machine": machine(),
            "budget_seconds": args.budget,
            "step_seconds": rates,
            "candidates": {name: CANDIDATES[name] for name in args.candidates},
            "measured_on": "val",
            "runs": per_run,
            "summary": summary,
        },
        args.out or RESULTS_DIR / "frontier_cpu.json",
    )


if __name__ == "__main__":
    main()

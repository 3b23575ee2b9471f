"""``simclr ablate``: run every planned run of an ablation, evaluate it, record it.

Each run pretrains in ``<out_dir>/<name>/runs/<run>`` and is then evaluated (weighted kNN and
linear probe on frozen features). A row goes to ``results.csv`` as soon as a run ends, so the
file is a log of the sweep: re-running the same command skips the runs with an ``ok`` row,
resumes a run whose pretraining was interrupted (from its ``last.ckpt``) and retries failed
ones. A failure is recorded with its error and the sweep goes on.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ablation.config import AblationConfig, PlannedRun, check_all_runs, plan_runs, run_config
from ablation.results import append_result, latest_rows, read_results
from simclr.config import SimCLRConfig
from simclr.errors import ConfigError, SimCLRError
from simclr.run.launch import is_global_rank_zero
from simclr.run.torch_files import read_torch_file

Evaluator = Callable[[Path, SimCLRConfig, AblationConfig], dict[str, float]]
Pretrainer = Callable[..., object]


@dataclass
class SweepResult:
    out_dir: Path
    rows: list[dict[str, str]]
    ran: list[str]
    skipped: list[str]
    failed: list[str]


def default_evaluate(
    run_dir: Path, config: SimCLRConfig, sweep: AblationConfig
) -> dict[str, float]:
    """Weighted kNN (largest configured k) and linear probe of the run's exported encoder, on
    its dataset's labelled train split and the split ``eval.measure_on`` names (val: the
    held-out validation split), with the evaluation stage's defaults; logged
    to the run's loggers as ``simclr eval`` logs them."""
    from linear_eval.config import load_eval_config
    from linear_eval.features.encoders import load_encoder
    from linear_eval.protocols.evaluate import evaluate_extractor, log_to_run

    loaded = load_encoder(run_dir / "encoder.pt")
    overrides = ["features.progress_bar=false", f"measure_on={sweep.eval.measure_on}"]
    if sweep.eval.train_subset is not None:
        overrides.append(f"data.subset={sweep.eval.train_subset}")
    if sweep.eval.test_subset is not None:
        overrides.append(f"data.val_subset={sweep.eval.test_subset}")
    eval_config = load_eval_config(loaded.pretrain_config, overrides=overrides)
    mode = "all" if sweep.eval.knn and sweep.eval.linear else "knn" if sweep.eval.knn else "linear"
    result = evaluate_extractor(loaded.extractor, eval_config, mode, run_dir / "features")
    log_to_run(loaded, result)
    metrics: dict[str, float] = {}
    if "knn" in result:
        knn = result["knn"][str(max(eval_config.knn.k))]
        metrics.update(knn_top1=knn["top1"], knn_top5=knn["top5"])
    if "linear" in result:
        metrics.update(linear_top1=result["linear"]["top1"], linear_top5=result["linear"]["top5"])
    return metrics


def _pretrain_or_resume(
    config: SimCLRConfig, run_dir: Path, pretrain_fn: Pretrainer, writer: bool = True
):
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    if (run_dir / "summary.json").is_file() and (run_dir / "encoder.pt").is_file():
        return None  # pretraining finished earlier; only the evaluation is missing
    if checkpoint.is_file():
        # unsafe or damaged: the run is refused in one line, not Lightning's traceback
        try:
            read_torch_file(checkpoint, f"run {run_dir.name}: resuming from")
        except ConfigError as error:
            raise ConfigError(
                f"{error}; remove it and run the sweep again to train this run afresh"
            ) from None
        return pretrain_fn(config, resume_dir=run_dir, quiet=True)
    if writer and run_dir.exists():  # started but never checkpointed: keep it aside, afresh
        run_dir.rename(run_dir.with_name(f"{run_dir.name}.abandoned-{time.time_ns()}"))
    return pretrain_fn(config, quiet=True)


def _silent(line: str) -> None:
    """The log of a process other than global rank 0."""


def _progress(index: int, total: int, run: PlannedRun, durations: list[float]) -> str:
    left = total - index + 1
    if durations:
        eta = sum(durations) / len(durations) * left
        estimate = f"about {eta / 60:.1f} min left"
    else:
        estimate = "time left unknown until a run finishes"
    label = " ".join(run.overrides) or "(base config)"
    return f"[ablate] run {index}/{total}: {run.name}  {label}  ({estimate})"


def run_sweep(
    config: AblationConfig,
    evaluate: Evaluator = default_evaluate,
    pretrain_fn: Pretrainer | None = None,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> SweepResult:
    """Run the ablation; returns what ran, what was skipped and what failed.

    Under several processes (``trainer.devices`` > 1 in the base overrides) every process runs
    this loop and trains each run together with the others; global rank 0 alone evaluates, logs
    and records the results.
    """
    from simclr.run.loggers import check_logger_packages

    if pretrain_fn is None:
        from simclr.run.train import pretrain as pretrain_fn
    writer = is_global_rank_zero()
    log = log if writer else _silent  # rank 0 reports for every process
    out_dir = Path(config.out_dir) / config.name
    runs_dir = out_dir / "runs"
    for run_cfg in check_all_runs(config, runs_dir):  # every override is valid, before any run
        check_logger_packages(run_cfg)  # and every logger's package is here
    planned = plan_runs(config)
    results_path = out_dir / "results.csv"
    out_dir.mkdir(parents=True, exist_ok=True)
    done = {
        n for n, row in latest_rows(read_results(results_path)).items() if row["status"] == "ok"
    }

    ran, skipped, failed, durations = [], [], [], []
    for index, run in enumerate(planned, start=1):
        if run.name in done:
            skipped.append(run.name)
            log(f"[ablate] run {index}/{len(planned)}: {run.name} finished earlier, skipped")
            continue
        log(_progress(index, len(planned), run, durations))
        start = time.perf_counter()
        row: dict[str, object] = {"run": run.name, "overrides": " ".join(run.overrides)}
        try:
            run_cfg = run_config(config, run, runs_dir)
            run_dir = runs_dir / run.name
            summary = _pretrain_or_resume(run_cfg, run_dir, pretrain_fn, writer)
            if not writer:
                continue
            metrics = evaluate(run_dir, run_cfg, config)
            row.update(metrics)
            row["status"] = "ok"
            if summary is not None:
                row["final_loss"] = getattr(summary, "final_loss", "")
                row["images_seen"] = getattr(summary, "images_seen", "")
            ran.append(run.name)
        except Exception as error:  # noqa: BLE001 - a failed run must not stop the sweep
            row["status"] = "failed"
            row["error"] = f"{type(error).__name__}: {error}".replace("\n", " ")[:500]
            failed.append(run.name)
            if not writer:
                continue
            log(f"[ablate] run {run.name} failed: {row['error']}")
            if not isinstance(error, SimCLRError):  # a bug: its traceback; a refusal is one line
                log("".join(traceback.format_exception(error)).rstrip())
        seconds = time.perf_counter() - start
        durations.append(seconds)
        row["seconds"] = f"{seconds:.1f}"
        row["finished_at"] = datetime.now().isoformat(timespec="seconds")
        append_result(results_path, row)

    rows = read_results(results_path)
    return SweepResult(out_dir, rows, ran, skipped, failed)
